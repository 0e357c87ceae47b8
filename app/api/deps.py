"""Request dependencies: the store, the catalog, admin authentication."""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from app.domain.catalog import Catalog
from app.domain.errors import EcoError, InputRefused, Unauthorized
from app.settings import Settings
from app.store.base import LayerStore

T = TypeVar("T")


async def run_cpu(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run CPU-bound work (ingest, overlay) on the app's small pool rather than anyio's 40 threads.

    pyproj sets each transformation up again in every new thread (~3 ms each), and 40 threads on
    a 2-core machine only add such first-request costs; a pool sized to the cores keeps them warm.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.cpu, functools.partial(fn, *args, **kwargs))


def get_store(request: Request) -> LayerStore:
    return request.app.state.store


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def load_api_keys(path: Path | None) -> dict[str, str]:
    """``key [name]`` per line; ``#`` starts a comment. Returns ``{key: name}``."""
    if path is None or not Path(path).exists():
        return {}
    keys: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, name = line.partition(" ")
            keys[key] = name.strip() or "admin"
    return keys


def require_admin(request: Request) -> str:
    """The name behind a valid admin key (``X-API-Key`` or ``Authorization: Bearer``)."""
    keys: dict[str, str] = request.app.state.api_keys
    if not keys:
        raise EcoError("E_ADMIN_DISABLED", "未配置管理密钥（ECOREDLINE_API_KEYS_FILE），无法发布图层",
                       "No admin keys are configured (ECOREDLINE_API_KEYS_FILE): publishing is disabled",
                       status=403)
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    for key, name in keys.items():
        if given and hmac.compare_digest(given.encode(), key.encode()):
            return name
    raise Unauthorized("E_UNAUTHORIZED", "缺少或无效的管理密钥", "Missing or invalid admin key")


def no_nul(request: Request) -> None:
    """Refuse a NUL character in the path or the query, on every route: no id, name or parameter here
    has one, and PostgreSQL cannot take one as text (the PostGIS store answered 500, the embedded one
    404: both now refuse alike)."""
    if "\x00" in request.url.path or any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
        raise InputRefused("E_REQUEST_INVALID", "请求路径或参数中含有 NUL 字符",
                           "The request path or parameters contain a NUL character", status=400)
