"""Test geometry built in a Gauss–Krüger plane, so distances and areas are known exactly."""

from __future__ import annotations

import numpy as np
import shapely

from app.domain.geometry import from_crs

GK = 4544  # CGCS2000 3° GK CM 105°E (covers 乐山, ~103.7°E)
ORIGIN = (380_000.0, 3_270_000.0)  # ≈ 103.76°E, 29.55°N


def gk_box(x: float, y: float, w: float, h: float | None = None) -> shapely.Polygon:
    """A rectangle ``w`` × ``h`` metres whose lower-left corner is ``(x, y)`` metres from ORIGIN."""
    x0, y0 = ORIGIN[0] + x, ORIGIN[1] + y
    return shapely.box(x0, y0, x0 + w, y0 + (h if h is not None else w))


def to_lonlat(geoms):
    return from_crs(np.asarray(geoms, dtype=object) if isinstance(geoms, list) else geoms, GK)
