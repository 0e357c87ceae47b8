"""Renderings of a screening record: result page body, report.html, report.pdf, report.xlsx, result.geojson."""

from __future__ import annotations

from app.domain.errors import NotFound
from app.store.base import LayerStore

ILLUSTRATIVE_MARK = "示意数据"


def illustrative_versions(store: LayerStore, version_ids: list[str], cache: dict[str, bool]) -> set[str]:
    """The versions among ``version_ids`` that are demo data (示意数据), by their provenance; versions never
    change, so the answer is cached per version id."""
    out: set[str] = set()
    for vid in version_ids:
        if vid not in cache:
            try:
                p = store.get_version(vid).provenance
            except NotFound:  # a version this store does not have: not demo as far as we can tell
                cache[vid] = False
                continue
            cache[vid] = any(ILLUSTRATIVE_MARK in (x or "") for x in (p.source_document, p.label, p.notes))
        if cache[vid]:
            out.add(vid)
    return out
