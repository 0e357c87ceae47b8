"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.api import (
    routes_footprints,
    routes_layers,
    routes_overlay,
    routes_pages,
    routes_reports,
    routes_screenings,
    routes_tiles,
)
from app.api.deps import load_api_keys, no_nul
from app.api.errors import add_exception_handlers
from app.api.middleware import ServerTimingMiddleware
from app.domain.catalog import load_catalog
from app.screening.setup import build_screener
from app.settings import Settings, get_settings
from app.store import open_store
from app.store.base import LayerStore
from app.store.pieceindex import settle
from app.tiles.cache import TileCache
from app.web import STATIC_DIR, VENDORS, vendor_dir


def create_app(settings: Settings | None = None, store: LayerStore | None = None) -> FastAPI:
    """Build the app; the store is opened at start-up (migrations applied) unless one is given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store if store is not None else open_store(settings)
        app.state.screener = build_screener(app.state.store, settings)
        app.state.cpu = ThreadPoolExecutor(max_workers=settings.cpu_threads, thread_name_prefix="ecoredline-cpu")
        settle()  # modules, catalog, rules, industries: alive for good, out of the collector's walks
        try:
            yield
        finally:
            app.state.cpu.shutdown(wait=False, cancel_futures=True)
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="EcoRedline 三线一单分区管控筛查服务",
        version=__version__,
        description="Screening of project footprints against ecological redlines and 三线一单 zoning layers.",
        lifespan=lifespan,
        openapi_url="/api",
        docs_url="/api.html",
        dependencies=[Depends(no_nul)],
    )
    app.state.settings = settings
    app.state.catalog = load_catalog(settings.layers_dir)
    app.state.api_keys = load_api_keys(settings.api_keys_file)
    app.state.illustrative_cache = {}
    root = settings.tile_cache_root
    app.state.tile_cache = TileCache(root, settings.tile_cache_max_zoom) if root else None
    add_exception_handlers(app)
    app.add_middleware(ServerTimingMiddleware)

    @app.get("/healthz", tags=["meta"])
    def healthz(request: Request) -> dict[str, Any]:
        st: LayerStore = request.app.state.store
        layers = st.list_layers()
        return {
            "status": "ok",
            "store": st.kind,
            "layers": len(layers),
            "kinds": len({layer.kind for layer in layers}),
            "version": __version__,
        }

    app.include_router(routes_layers.router)
    app.include_router(routes_footprints.router)
    app.include_router(routes_screenings.router)
    app.include_router(routes_overlay.router)
    app.include_router(routes_tiles.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_pages.router)
    for name in VENDORS:  # map libraries from their PyPI packages: no CDN
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=vendor_dir(name)), name=f"vendor-{name}")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
