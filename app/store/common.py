"""Pieces of store logic that do not depend on the backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import shapely

from app.domain.models import LayerData, LayerVersion


def data_summary(data: LayerData) -> tuple[tuple[float, float, float, float] | None, int]:
    """Bounding box (lon/lat) and vertex count of a layer about to be published."""
    if len(data.geometries) == 0:
        return None, 0
    bbox = tuple(float(v) for v in shapely.total_bounds(data.geometries))
    return bbox, int(shapely.get_num_coordinates(data.geometries).sum())  # type: ignore[return-value]


def resolve_versions(
    current: dict[str, tuple[str, str]],
    layers: Sequence[str] | None,
    pinned: dict[str, str] | None,
    get_version: Callable[[str], LayerVersion],
) -> dict[str, tuple[str, str]]:
    """``{layer: (kind, version_id)}`` to probe: current versions, with pinned ones (re-runs) taking over."""
    wanted = set(layers) if layers is not None else None
    out = {k: v for k, v in current.items() if wanted is None or k in wanted}
    for layer, vid in (pinned or {}).items():
        if wanted is not None and layer not in wanted:
            continue
        version = get_version(vid)
        out[layer] = (version.kind, version.id)
    return out
