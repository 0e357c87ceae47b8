"""What an overlay request may ask for (layers, a buffer), checked once for the API and the CLI."""

from __future__ import annotations

import math
from typing import Any

from app.domain.errors import InputRefused

MAX_BUFFER_M = 50_000.0


def parse_layers(value: Any, known: set[str]) -> list[str] | None:
    """A list of layer ids, or a comma-separated string; None (every layer) when empty."""
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


def parse_buffer(value: Any) -> float:
    """Metres around the boundary to report features within (0: what it touches)."""
    if value in (None, ""):
        return 0.0
    try:
        distance = float(value)
    except (TypeError, ValueError, OverflowError):
        distance = math.nan
    if not (math.isfinite(distance) and 0 <= distance <= MAX_BUFFER_M):
        raise InputRefused("E_REQUEST_INVALID", f"buffer_m 须为 0–{MAX_BUFFER_M:.0f} 米之间的数值",
                           f"buffer_m must be a number of metres in [0, {MAX_BUFFER_M:.0f}]")
    return distance
