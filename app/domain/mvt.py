"""Web Mercator tiles and Mapbox Vector Tile encoding (the embedded store's; PostGIS uses ST_AsMVT)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from app.domain.errors import InputRefused
from app.domain.mvt_encode import encode_layer

WORLD = 20037508.342789244  # half the Web Mercator world width, metres
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22


def check_tile(z: int, x: int, y: int) -> None:
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InputRefused("E_TILE_INVALID", f"瓦片 {z}/{x}/{y} 不存在（缩放级别 0–{MAX_ZOOM}）",
                           f"Tile {z}/{x}/{y} does not exist (zoom 0–{MAX_ZOOM})", status=400,
                           detail={"z": z, "x": x, "y": y})


def tile_bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    size = 2 * WORLD / 2**z
    return (-WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size)


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def pixel_m(z: int) -> float:
    return 2 * WORLD / 2**z / EXTENT


def encode(layer_name: str, fids: np.ndarray, geoms_3857: np.ndarray, properties: list[dict[str, Any]],
           z: int, x: int, y: int, simplify: bool = True) -> bytes:
    """Clip (with a buffer), generalise to half a pixel and encode features already in EPSG:3857.

    ``simplify=False`` for geometry already generalised for this zoom (a zoom band)."""
    b = tile_bounds_3857(z, x, y)
    pad = (b[2] - b[0]) * BUFFER / EXTENT
    clipped = shapely.clip_by_rect(np.asarray(geoms_3857, dtype=object), b[0] - pad, b[1] - pad, b[2] + pad,
                                   b[3] + pad)
    if len(clipped):
        if simplify:
            clipped = shapely.simplify(clipped, pixel_m(z) / 2, preserve_topology=True)
        # into tile units (y down): the encoder rounds, orients and writes commands (app/domain/mvt_encode.py)
        sx = EXTENT / (b[2] - b[0])
        clipped = shapely.transform(clipped, lambda xy: np.column_stack([(xy[:, 0] - b[0]) * sx,
                                                                         (b[3] - xy[:, 1]) * sx]))
    keep = ~(shapely.is_missing(clipped) | shapely.is_empty(clipped)) if len(clipped) else np.zeros(0, bool)
    if not keep.any():
        return b""
    idx = np.flatnonzero(keep)
    return encode_layer(layer_name, np.asarray(fids)[idx], clipped[idx], [properties[i] for i in idx], EXTENT)
