"""Overlay for GIS analysts: a boundary against the current layers, clipped pieces back, nothing kept."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import run_cpu
from app.api.routes_footprints import read_upload
from app.domain.errors import InputRefused
from app.reports.overlay_geojson import overlay_feature_collection
from app.screening.overlay import overlay

router = APIRouter(tags=["overlay"])

MAX_BUFFER_M = 50_000.0


def _layers(value: Any, known: set[str]) -> list[str] | None:
    if value in (None, "", []):
        return None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise InputRefused("E_REQUEST_INVALID", "layers 须为图层名列表或以逗号分隔的字符串",
                           "layers must be a list of layer names or a comma-separated string")
    names = [n.strip() for n in names]
    unknown = sorted(set(names) - known)
    if unknown:
        raise InputRefused("E_LAYER_NOT_FOUND", f"没有图层：{'、'.join(unknown)}", f"No such layer: {', '.join(unknown)}",
                           status=404, detail={"layers": unknown, "known": sorted(known)})
    return names


def _buffer(value: Any) -> float:
    if value in (None, ""):
        return 0.0
    try:
        distance = float(value)
    except (TypeError, ValueError):
        distance = math.nan
    if not (math.isfinite(distance) and 0 <= distance <= MAX_BUFFER_M):
        raise InputRefused("E_REQUEST_INVALID", f"buffer_m 须为 0–{MAX_BUFFER_M:.0f} 米之间的数值",
                           f"buffer_m must be a number of metres in [0, {MAX_BUFFER_M:.0f}]")
    return distance


@router.post("/api/overlay")
async def overlay_boundary(request: Request) -> dict[str, Any]:
    """Same inputs as a screening (a file, or JSON ``geometry``), plus ``layers`` and ``buffer_m``."""
    up = await read_upload(request)
    store = request.app.state.screener.store
    layers = _layers(up.fields.get("layers"), set(store.current_versions()))
    distance = _buffer(up.fields.get("buffer_m"))
    result = await run_cpu(request, overlay, store, up.footprint, distance_m=distance, layers=layers)
    return overlay_feature_collection(result, up.footprint)
