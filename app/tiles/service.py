"""One tile of a layer version: from the cache, or rendered by the store (and then cached)."""

from __future__ import annotations

import math

from app.domain.models import LayerVersion
from app.domain.mvt import tile_bounds_3857
from app.store.base import LayerStore
from app.tiles.cache import TileCache, cache_key

_R = 6378137.0


def _outside(version: LayerVersion, z: int, x: int, y: int) -> bool:
    """A tile beyond the version's extent is empty: answered without the store or the cache."""
    if version.bbox is None:
        return True
    x0, y0, x1, y1 = tile_bounds_3857(z, x, y)
    lon0, lon1 = math.degrees(x0 / _R), math.degrees(x1 / _R)
    lat0 = math.degrees(2 * math.atan(math.exp(y0 / _R)) - math.pi / 2)
    lat1 = math.degrees(2 * math.atan(math.exp(y1 / _R)) - math.pi / 2)
    bx0, by0, bx1, by1 = version.bbox
    pad = (lon1 - lon0) * 64 / 4096  # the tile buffer
    return lon1 + pad < bx0 or lon0 - pad > bx1 or lat1 + pad < by0 or lat0 - pad > by1


def render_tile(store: LayerStore, cache: TileCache | None, version: LayerVersion, z: int, x: int, y: int,
                layer_name: str) -> tuple[bytes, str]:
    """``(tile bytes, cache state)``: state is ``hit``, ``miss``, ``off`` or ``outside``."""
    if _outside(version, z, x, y):
        return b"", "outside"
    key = cache_key(version)
    if cache is not None:
        data = cache.get(key, z, x, y)
        if data is not None:
            return data, "hit"
    data = store.tile(version.id, z, x, y, layer_name)
    if cache is not None:
        cache.put(key, z, x, y, data)
        return data, "miss"
    return data, "off"
