"""Layer stores: PostGIS (production) and an embedded GeoPackage (zero set-up), one protocol."""

from __future__ import annotations

from app.settings import Settings
from app.store.base import LayerStore


def open_store(settings: Settings) -> LayerStore:
    """PostGIS when a database URL is configured, else the embedded GeoPackage under the data dir."""
    from app.domain.catalog import load_catalog

    catalog = load_catalog(settings.layers_dir)
    if settings.database_url:
        from app.store.postgis import PostgisStore

        return PostgisStore(settings.database_url, catalog, settings)
    from app.store.embedded import EmbeddedStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedStore(settings.data_dir / "ecoredline.gpkg", catalog, settings)
