"""``/tiles/{layer}/{z}/{x}/{y}.mvt`` and ``/tiles/{layer}/tilejson.json``.

Tile URLs carry the layer version (``?v=eco_redline.v3``): such a tile never changes, so it is cached
for a year; without ``v`` the current version is served with a short cache life. The ETag names the
version, so a re-published layer never shows stale tiles.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.deps import run_cpu
from app.domain.errors import InputRefused
from app.domain.mvt import check_tile
from app.tiles.cache import cache_key
from app.tiles.service import render_tile
from app.tiles.tilejson import tilejson

router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"


def _version(request: Request, layer: str, v: str | None):
    store = request.app.state.store
    if v is None:
        return store.get_layer(layer).current, False
    version = store.get_version(v)
    if version.layer_id != layer:
        raise InputRefused("E_VERSION_NOT_FOUND", f"图层“{layer}”没有版本“{v}”", f"Layer '{layer}' has no version '{v}'",
                           status=404)
    return version, True


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt")
async def tile(layer: str, z: int, x: int, y: int, request: Request, v: str | None = None) -> Response:
    check_tile(z, x, y)
    version, pinned = _version(request, layer, v)
    etag = f'"{cache_key(version)}/{z}/{x}/{y}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable" if pinned
               else "public, max-age=60", "Access-Control-Allow-Origin": "*"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    data, state = await run_cpu(request, render_tile, request.app.state.store, request.app.state.tile_cache,
                                version, z, x, y, layer)
    headers["X-Tile-Cache"] = state
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


@router.get("/tiles/{layer}/tilejson.json")
def layer_tilejson(layer: str, request: Request) -> dict[str, Any]:
    version, _ = _version(request, layer, None)
    kind = request.app.state.catalog.kinds.get(version.kind)
    return tilejson(str(request.base_url), layer, version, kind)
