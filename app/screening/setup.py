"""Building the screener once per process: catalog, rule book (refused at start-up if wrong), industries."""

from __future__ import annotations

from app.domain.catalog import load_catalog
from app.ingest.boundary import limits
from app.screening.industries import load_industries
from app.screening.rules import load_rulebook
from app.screening.service import Screener
from app.settings import Settings
from app.store.base import LayerStore


def build_screener(store: LayerStore, settings: Settings) -> Screener:
    catalog = load_catalog(settings.layers_dir)
    rulebook = load_rulebook(settings.rules_dir or settings.layers_dir / "rules", set(catalog.kinds))
    return Screener(store, catalog, rulebook, load_industries(settings.layers_dir), settings.sliver_m2,
                    limits(settings))
