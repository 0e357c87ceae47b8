"""Overlay for GIS analysts: a boundary against the current layers, clipped pieces back, nothing kept."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import run_cpu
from app.api.routes_footprints import read_upload
from app.reports.overlay_geojson import overlay_feature_collection
from app.screening.overlay import overlay
from app.screening.overlay_request import parse_buffer, parse_layers

router = APIRouter(tags=["overlay"])


@router.post("/api/overlay")
async def overlay_boundary(request: Request) -> dict[str, Any]:
    """Same inputs as a screening (a file, or JSON ``geometry``), plus ``layers`` and ``buffer_m``."""
    up = await read_upload(request)
    store = request.app.state.screener.store
    layers = parse_layers(up.fields.get("layers"), set(store.current_versions()))
    distance = parse_buffer(up.fields.get("buffer_m"))
    result = await run_cpu(request, overlay, store, up.footprint, distance_m=distance, layers=layers)
    return overlay_feature_collection(result, up.footprint)
