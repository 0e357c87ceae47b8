"""Geometry generalised per zoom band, so a low-zoom tile of a big layer is neither huge nor slow.

A province's redline layer has millions of vertices; a z5 tile covers most of it, and clipping and
quantising every vertex per request took seconds (BENCHMARKS.md). Each band keeps the features in
Web Mercator simplified to a quarter of a screen pixel at the band's highest zoom (4 of the tile's
4,096 units; a displayed tile is 256–512 px wide) — below what a map can show. Zooms above the last
band read the full-resolution features. Both stores build the bands from this one function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from app.domain.crs import STORAGE_EPSG
from app.domain.geometry import from_crs
from app.domain.mvt import pixel_m

BANDS: tuple[int, ...] = (5, 6, 7, 8, 9, 11)
"""The highest zoom each band serves: band 5 serves z0–5, bands 6–9 their own zoom, band 11 z10–11.
Low zooms have a band each: a band one zoom too fine doubled the vertices a z6 tile had to quantise."""


TOLERANCE_UNITS = 4
"""Douglas–Peucker tolerance in tile units at the band's zoom (1 unit = 1/16 px of a 256-px tile)."""


def band_for(z: int) -> int | None:
    """The band a zoom reads, or None for full resolution."""
    return next((b for b in BANDS if z <= b), None)


@dataclass(frozen=True)
class Band:
    zoom: int
    fids: np.ndarray  # int64 feature ids kept in this band
    geoms: np.ndarray  # EPSG:3857, simplified


def generalise(geoms_4490: np.ndarray, fids: np.ndarray | None = None, merc: np.ndarray | None = None) -> list[Band]:
    """Every band of a layer version (features in storage CRS; ``merc`` if already in EPSG:3857).

    Douglas–Peucker without topology preservation is ~12× faster than with it; the rare invalid
    result is repaired, and points are not banded (nothing to simplify).
    """
    if fids is None:
        fids = np.arange(len(geoms_4490), dtype=np.int64)
    if len(geoms_4490) == 0 or not np.any(shapely.get_dimensions(geoms_4490) > 0):
        return []
    if merc is None:
        merc = from_crs(geoms_4490, STORAGE_EPSG, 3857)
    return [simplify_band(merc, fids, zoom) for zoom in BANDS]


def simplify_band(merc: np.ndarray, fids: np.ndarray, zoom: int) -> Band:
    """One band of features already in EPSG:3857."""
    dims = shapely.get_dimensions(merc)
    tol = pixel_m(zoom) * TOLERANCE_UNITS
    simple = shapely.simplify(merc, tol, preserve_topology=False)
    # a polygon within the tolerance collapses: a square of twice the tolerance on its centre keeps it
    # on the map (half a pixel: a minimum mapping size, as printed maps have), its attributes intact
    tiny = (dims == 2) & (shapely.area(simple) < 4 * tol * tol) & ~shapely.is_empty(merc)
    if tiny.any():
        simple[tiny] = shapely.buffer(shapely.centroid(merc[tiny]), tol, cap_style="square")
    bad = (dims == 2) & ~shapely.is_valid(simple)
    if bad.any():
        simple[bad] = shapely.make_valid(simple[bad])
    keep = ~shapely.is_empty(simple)  # small features stay: a 300 m patch still marks the map at z5
    return Band(zoom, fids[keep], simple[keep])


LONG_TEXT = 120
"""Attribute texts longer than this stay out of tiles (a control unit's access-list texts run to
thousands of characters each); the map fetches them with the feature when a person clicks."""


def tile_properties(attributes: dict) -> dict | None:
    """The attributes a tile carries, or None when they are all of them (nothing long to leave out)."""
    if not any(isinstance(v, str) and len(v) > LONG_TEXT for v in attributes.values()):
        return None
    return {k: v for k, v in attributes.items() if not (isinstance(v, str) and len(v) > LONG_TEXT)}
