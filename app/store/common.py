"""Pieces of store logic that do not depend on the backend."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import shapely

from app.domain.catalog import Catalog
from app.domain.errors import Conflict
from app.domain.geometry import extent
from app.domain.models import LayerData, LayerInfo, LayerVersion, Provenance

VERSION_COLS = (
    "v.id, v.layer_id, v.seq, v.kind, v.label, v.source_document, v.doc_number, v.authority, v.effective_date,"
    " v.imported_by, v.notes, v.file_sha256, v.imported_at, v.feature_count, v.vertex_count, v.bbox, v.report"
)
"""The version columns both stores select (as ``v``), read back by ``version_from_row``."""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def version_from_row(row: dict[str, Any]) -> LayerVersion:
    """A version from either store's row (SQLite gives text where PostgreSQL gives typed values)."""
    eff, at, bbox = row["effective_date"], row["imported_at"], _json(row["bbox"])
    return LayerVersion(
        id=row["id"], layer_id=row["layer_id"], seq=row["seq"], kind=row["kind"],
        provenance=Provenance(
            label=row["label"], source_document=row["source_document"], doc_number=row["doc_number"],
            authority=row["authority"], effective_date=date.fromisoformat(eff) if isinstance(eff, str) else eff,
            imported_by=row["imported_by"], notes=row["notes"],
        ),
        file_sha256=row["file_sha256"],
        imported_at=datetime.fromisoformat(at) if isinstance(at, str) else at,
        feature_count=row["feature_count"], vertex_count=row["vertex_count"],
        bbox=tuple(bbox) if bbox else None, report=_json(row["report"]),
    )


def layer_info(catalog: Catalog, row: dict[str, Any]) -> LayerInfo:
    """A layer from a row holding ``l_id``, ``l_kind``, ``n`` (version count) and its current version."""
    spec = catalog.kinds.get(row["l_kind"])
    return LayerInfo(
        id=row["l_id"], kind=row["l_kind"],
        name_zh=spec.name_zh if spec else row["l_kind"], name_en=spec.name_en if spec else row["l_kind"],
        current=version_from_row(row), version_count=int(row["n"]),
    )


def kind_mismatch(layer_id: str, kind: str, given: str) -> Conflict:
    return Conflict(
        "E_KIND_MISMATCH",
        f"图层“{layer_id}”的类型是 {kind}，不能发布 {given} 类型的版本",
        f"Layer '{layer_id}' is of kind {kind}; a {given} version cannot be published to it",
        detail={"layer": layer_id, "kind": kind, "given": given},
    )


def data_summary(data: LayerData) -> tuple[tuple[float, float, float, float] | None, int]:
    """Bounding box (lon/lat) and vertex count of a layer about to be published."""
    if len(data.geometries) == 0:
        return None, 0
    bbox = tuple(float(v) for v in extent(data.geometries))
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
        if layer in current and current[layer][1] == vid:
            out[layer] = current[layer]  # pinned to what is current: no look-up needed
            continue
        version = get_version(vid)
        out[layer] = (version.kind, version.id)
    return out


def near_mask(pieces: Sequence[Any], geometry: Any, distance_m: float) -> Any:
    """Which pieces lie within ``distance_m`` of ``geometry`` in its 3° GK plane (both stores use this).

    Done in Python rather than with ``ST_Transform`` in SQL: transforming each candidate piece in
    PostgreSQL cost more than the whole shapely test.
    """
    import numpy as np

    from app.domain.geometry import probe_gk_epsg, to_gk

    if len(pieces) == 0:
        return np.zeros(0, dtype=bool)
    srid = probe_gk_epsg(geometry)
    probe = to_gk(geometry, srid)
    shapely.prepare(probe)
    return shapely.dwithin(to_gk(np.asarray(pieces, dtype=object), srid), probe, distance_m)
