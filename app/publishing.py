"""Publishing a layer file as a new version: read and repair it, then hand it to the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.domain.catalog import Catalog
from app.domain.models import LayerVersion, Provenance, check_layer_id
from app.ingest.layers import read_layer_file
from app.store.base import LayerStore

Progress = Callable[[str, int, int], None]


def import_layer(
    store: LayerStore,
    catalog: Catalog,
    path: Path,
    *,
    layer_id: str,
    kind: str,
    provenance: Provenance,
    sublayer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    max_bytes: int = 2 << 30,
    progress: Progress | None = None,
) -> LayerVersion:
    """Read ``path`` as a layer of ``kind`` and publish it; nothing is stored if any step refuses."""
    check_layer_id(layer_id)
    catalog.kind(kind)
    stage = (lambda s: progress(s, 0, 1)) if progress else None
    data = read_layer_file(path, kind, catalog, sublayer=sublayer, encoding=encoding, crs=crs,
                           max_bytes=max_bytes, progress=stage)
    return store.publish(layer_id, data, provenance, progress=progress)
