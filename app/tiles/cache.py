"""An on-disk tile cache keyed by layer version: ``{root}/{version}.{stamp}/{z}/{x}/{y}.mvt``.

A version never changes, so a cached tile is never stale and nothing is invalidated; a re-published
layer is a new version and fills its own directory. The stamp hashes the version's import time and
file (a rebuilt database that reuses ``eco_redline.v1`` does not read another database's tiles) and
``TILE_FORMAT`` (bumped whenever the generalisation or the encoder changes what a tile holds).
An empty tile is kept as an empty file (served as 204). Writes go to a temporary name renamed into
place, so a reader never sees half a tile and concurrent workers may fill the same tile harmlessly.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from app.domain.models import LayerVersion

TILE_FORMAT = 2
"""1: full-resolution ST_AsMVT; 2: zoom bands at a quarter pixel, long texts left out of tiles."""


def cache_key(version: LayerVersion) -> str:
    raw = f"{TILE_FORMAT}|{version.imported_at.isoformat()}|{version.file_sha256}"
    return f"{version.id}.{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


class TileCache:
    def __init__(self, root: Path, max_zoom: int = 16) -> None:
        self.root = Path(root)
        self.max_zoom = max_zoom  # deeper tiles are cheap to render and would only fill the disk

    def path(self, key: str, z: int, x: int, y: int) -> Path:
        return self.root / key / str(z) / str(x) / f"{y}.mvt"

    def get(self, key: str, z: int, x: int, y: int) -> bytes | None:
        if z > self.max_zoom:
            return None
        try:
            return self.path(key, z, x, y).read_bytes()
        except OSError:
            return None

    def put(self, key: str, z: int, x: int, y: int, data: bytes) -> None:
        if z > self.max_zoom:
            return
        target = self.path(key, z, x, y)
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tile-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except OSError:  # a full or read-only disk costs the cache, never the tile
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
