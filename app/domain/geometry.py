"""Geometry operations shared by ingest, both stores and the overlay."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.domain.crs import STORAGE_EPSG, gk3_epsg, transformer

POLYGONAL = {"Polygon", "MultiPolygon"}
LINEAL = {"LineString", "MultiLineString", "LinearRing"}
PUNTAL = {"Point", "MultiPoint"}


def subdivide(geoms: np.ndarray, max_vertices: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Split geometries into pieces of at most ``max_vertices`` vertices, like ``ST_Subdivide``.

    Returns ``(owner_index, pieces)``. Each split halves the bounding box along its longer side
    and clips (GEOS rectangle clipping) to both halves, level by level for all geometries at once, so the cost is a
    few vectorised GEOS calls per level rather than a Python call per piece.
    """
    work = np.asarray(geoms, dtype=object)
    owners = np.arange(len(work))
    dims = shapely.get_dimensions(work)
    done_owner: list[np.ndarray] = []
    done_geom: list[np.ndarray] = []
    for _ in range(40):
        if len(work) == 0:
            break
        work, idx = shapely.get_parts(work, return_index=True)
        owners = owners[idx]
        # box intersections of polygons can leave touching lines or points: keep the owner's dimension
        keep = ~shapely.is_empty(work) & (shapely.get_dimensions(work) == dims[owners])
        work, owners = work[keep], owners[keep]
        small = shapely.get_num_coordinates(work) <= max_vertices
        done_owner.append(owners[small])
        done_geom.append(work[small])
        work, owners = work[~small], owners[~small]
        if len(work) == 0:
            break
        b = shapely.bounds(work)
        wide = (b[:, 2] - b[:, 0]) >= (b[:, 3] - b[:, 1])
        midx = (b[:, 0] + b[:, 2]) / 2
        midy = (b[:, 1] + b[:, 3]) / 2
        x1 = np.where(wide, midx, b[:, 2])
        y1 = np.where(wide, b[:, 3], midy)
        x0 = np.where(wide, midx, b[:, 0])
        y0 = np.where(wide, b[:, 1], midy)
        clip = shapely.clip_by_rect  # scalar bounds only
        a = np.array([clip(g, *r) for g, r in zip(work, np.column_stack([b[:, :2], x1, y1]))], dtype=object)
        c = np.array([clip(g, *r) for g, r in zip(work, np.column_stack([x0, y0, b[:, 2:]]))], dtype=object)
        work = np.concatenate([a, c])
        owners = np.concatenate([owners, owners])
    if len(work):  # pathological input: stop splitting, keep what is left
        done_owner.append(owners)
        done_geom.append(work)
    owner = np.concatenate(done_owner) if done_owner else np.zeros(0, dtype=int)
    pieces = np.concatenate(done_geom) if done_geom else np.zeros(0, dtype=object)
    # rectangle clipping is fast but may leave a piece invalid at a touching vertex: mend those few
    bad = ~shapely.is_valid(pieces)
    if bad.any():
        pieces[bad] = shapely.make_valid(pieces[bad])
    return owner, pieces


def to_gk(geom: BaseGeometry | np.ndarray, epsg: int) -> BaseGeometry | np.ndarray:
    """Project from storage (EPSG:4490 lon/lat) into a GK plane."""
    tr = transformer(STORAGE_EPSG, epsg)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def from_crs(geom: BaseGeometry | np.ndarray, src: int | str, dst: int | str = STORAGE_EPSG):
    tr = transformer(src, dst)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def probe_gk_epsg(geom: BaseGeometry) -> int:
    """The 3° GK zone of a probe geometry: where its areas and distances are measured."""
    c = geom.centroid if not geom.is_empty else None
    lon = c.x if c is not None else 105.0
    return gk3_epsg(lon)


def degree_margin(distance_m: float, max_abs_lat: float) -> tuple[float, float]:
    """A conservative lon/lat margin covering ``distance_m`` metres at latitudes up to ``max_abs_lat``."""
    if distance_m <= 0:
        return 0.0, 0.0
    dlat = distance_m / 110_500.0 * 1.01
    coslat = max(np.cos(np.radians(min(abs(max_abs_lat) + dlat, 89.0))), 0.01)
    dlon = distance_m / (111_320.0 * coslat) * 1.01
    return dlon, dlat
