"""JSON bodies written straight out: records and previews are plain JSON already, and can be tens of MB."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import JSONResponse


def json_bytes(content: Any) -> bytes:
    """UTF-8, compact; NaN and ±Inf (which JSON lacks) written as null, as FastAPI's own encoder does.

    Not through that encoder: it walks every value in Python, three times as long as the writing for a
    record holding a large footprint's overlaps."""
    try:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite number somewhere (a project fact, say): the rare, slower way
        text = json.dumps(_finite(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")  # (a lone surrogate only ever in a refusal quoting the input)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class RecordResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json_bytes(content)
