"""Configuration from ``ECOREDLINE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECOREDLINE_", env_file=".env", extra="ignore")

    database_url: str | None = None
    """postgresql://… selects the PostGIS store; unset selects the embedded GeoPackage store."""
    data_dir: Path = Path.home() / ".local" / "share" / "ecoredline"
    layers_dir: Path = PROJECT_ROOT / "layers"
    rules_dir: Path | None = None
    """Rule files (default: ``layers_dir/rules``)."""
    api_keys_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    pool_min_size: int = 1
    pool_max_size: int = 8
    statement_timeout_ms: int = 60_000
    subdivide_max_vertices: int = 256
    max_upload_mb: int = 512
    boundary_max_parts: int = 1_000
    """Boundary uploads with more parts than this once dissolved are refused (413 ``E_TOO_MANY_PARTS``).
    A cadastral export of scattered parcels can have tens of thousands: raise it to screen one whole."""
    boundary_max_vertices: int = 1_000_000
    """Boundary uploads with more vertices than this are refused before any work (413
    ``E_TOO_MANY_VERTICES``); a 50 MB shapefile holds ~2.6 million."""
    boundary_sliver_m2: float = 1.0
    """Boundary parts smaller than this (m², GK plane) are dropped, with a note in the echo."""
    piece_cache_vertices: int = 20_000_000
    """PostGIS store: layer versions' overlay pieces kept in each worker's memory up to this many vertices
    in all (~25 bytes each; a version's pieces projected into a GK zone count again); versions no
    longer current give way to current ones, and what still does not fit is probed with SQL. 0 turns
    the cache off."""
    cpu_threads: int = 4
    """Threads per worker for ingest and screening (CPU-bound: about the number of cores)."""
    tile_cache: bool = True
    """Keep rendered vector tiles on disk, keyed by layer version (never stale: versions never change)."""
    tile_cache_dir: Path | None = None
    """Where (default: ``data_dir/tiles``)."""
    tile_cache_max_zoom: int = 16
    """Deeper tiles are cheap to render and are not kept (they would only fill the disk)."""
    basemap_url: str | None = None
    """An XYZ raster basemap for the pages, e.g. 天地图 with a key; unset: no request leaves the server."""
    basemap_attribution: str = ""
    sliver_m2: float = 1.0
    """Overlaps smaller than this (m², GK plane) count as touching, not overlapping."""

    @property
    def tile_cache_root(self) -> Path | None:
        return (self.tile_cache_dir or self.data_dir / "tiles") if self.tile_cache else None

    @property
    def store_kind(self) -> str:
        return "postgis" if self.database_url else "embedded"


@lru_cache
def get_settings() -> Settings:
    return Settings()
