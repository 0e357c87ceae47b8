"""An on-disk tile cache keyed by layer version: ``{root}/{version}.{stamp}/{z}/{x}/{y}.mvt``.

Versions never change, so a cached tile is never stale and nothing is ever invalidated; a
re-published layer is a new version and fills its own directory. An empty tile is kept as an empty
file (served as 204). Writes go to a temporary name and are renamed into place, so a reader never
sees half a tile and concurrent workers may fill the same tile harmlessly. The stamp (a hash of
the version's import time and file) keeps a rebuilt database that reuses ``eco_redline.v1`` from
reading another database's tiles.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from app.domain.models import LayerVersion


def cache_key(version: LayerVersion) -> str:
    stamp = hashlib.sha256(f"{version.imported_at.isoformat()}|{version.file_sha256}".encode()).hexdigest()[:10]
    return f"{version.id}.{stamp}"


class TileCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str, z: int, x: int, y: int) -> Path:
        return self.root / key / str(z) / str(x) / f"{y}.mvt"

    def get(self, key: str, z: int, x: int, y: int) -> bytes | None:
        try:
            return self.path(key, z, x, y).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: str, z: int, x: int, y: int, data: bytes) -> None:
        target = self.path(key, z, x, y)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tile-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except OSError:
            pass  # a full or read-only disk costs the cache, never the tile
