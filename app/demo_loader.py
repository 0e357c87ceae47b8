"""Load the illustrative demo layers (示意数据) into a store when they are absent."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from app.demo import DEMO_AUTHORITY, DEMO_SOURCE, write_demo_layers
from app.domain.catalog import load_catalog
from app.domain.models import Provenance
from app.publishing import import_layer
from app.settings import Settings
from app.store.base import LayerStore


def ensure_demo(store: LayerStore, settings: Settings, progress: Callable[[str], None] | None = None) -> int:
    """Import every demo layer the store lacks; return how many were imported."""
    catalog = load_catalog(settings.layers_dir)
    present = {layer.id for layer in store.list_layers()}
    created = 0
    with tempfile.TemporaryDirectory(prefix="ecoredline-demo-") as tmp:
        for demo in write_demo_layers(Path(tmp)):
            if demo.layer_id in present:
                continue
            prov = Provenance(label="示意数据 v1", source_document=DEMO_SOURCE, authority=DEMO_AUTHORITY,
                              imported_by="ecoredline demo", notes="示意数据（非官方边界） — illustrative, not official")
            v = import_layer(store, catalog, demo.path, layer_id=demo.layer_id, kind=demo.kind, provenance=prov)
            created += 1
            if progress:
                progress(f"  {v.id:<28} {demo.name_zh} ({v.feature_count} features)")
    return created
