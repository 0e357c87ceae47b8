"""``report.xlsx``: the record as sheets a reviewer filters and files (summary, findings, overlaps, coordinates)."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from pyproj import Transformer
from shapely.geometry import shape

from app.domain.catalog import Catalog
from app.reports.context import build_report
from app.reports.i18n import t

_HEAD = Font(bold=True)
_FILL = PatternFill("solid", fgColor="EEF2F0")


def _append(ws: Worksheet, values: list[Any]) -> None:
    """A row of the record's values as values: control characters, which a worksheet cannot hold (openpyxl
    refused the whole report), are dropped; text that starts with "=" stays text, not a live formula
    (a project name or a file's attribute is the user's)."""
    ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[Any]], widths: list[int]) -> None:
    ws = wb.create_sheet(title)
    _append(ws, header)
    for cell in ws[1]:
        cell.font, cell.fill = _HEAD, _FILL
    for row in rows:
        _append(ws, row)
    for i, w in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = w
    ws.freeze_panes = "A2"


def coordinate_rows(record: dict[str, Any]) -> list[list[Any]]:
    """Every vertex of the footprint: part, ring, point, lon, lat and X (north) / Y (east) in its GK zone."""
    geom = record.get("footprint_geometry")
    if not geom:
        return []
    epsg = record.get("footprint", {}).get("gk_epsg")
    tr = Transformer.from_crs(4490, epsg, always_xy=True) if epsg else None
    rows: list[list[Any]] = []
    g = shape(geom)
    for part, poly in enumerate(getattr(g, "geoms", [g]), start=1):
        rings = [poly.exterior, *poly.interiors] if poly.geom_type == "Polygon" else [poly]
        for ring_no, ring in enumerate(rings, start=1):
            for point_no, (lon, lat) in enumerate(ring.coords, start=1):
                e, n = tr.transform(lon, lat) if tr else (None, None)
                rows.append([part, ring_no, f"J{point_no}", round(lon, 9), round(lat, 9),
                             None if n is None else round(n, 3), None if e is None else round(e, 3)])
    return rows


def report_xlsx(record: dict[str, Any], catalog: Catalog, lang: str = "zh",
                illustrative_versions: set[str] | None = None) -> bytes:
    r = build_report(record, catalog, lang, illustrative_versions)
    wb = Workbook()
    ws = wb.active
    ws.title = t("summary", lang)
    _append(ws, [t("report_title", lang)])
    ws["A1"].font = Font(bold=True, size=14)
    _append(ws, [t("verdict", lang), r.verdict_label, r.verdict])
    ws["B2"].font = Font(bold=True, color="B10026" if r.verdict == "prohibited" else "000000")
    if r.illustrative:
        _append(ws, [t("illustrative", lang), t("illustrative_note", lang)])
    for k, v in r.project_rows + r.footprint_rows + r.provenance_rows:
        _append(ws, [k, v])
    _append(ws, [])
    _append(ws, [t("layer_versions", lang)])
    for layer, name, vid in r.layer_versions:
        _append(ws, [name, vid, layer])
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 28, 70
    for row in ws.iter_rows(min_col=2, max_col=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")

    findings = [[g.label, f.rule_id, f.verdict_label, f.status_label, f.layer_name or "", f.message,
                 "、".join(f.missing), f.evidence or "", f.citation.get("document", ""), f.citation.get("number") or "",
                 f.citation.get("clause", ""), f.citation.get("quote", ""), f.quote_note or ""]
                for g in r.groups for f in g.rows]
    _sheet(wb, t("findings", lang), ["level", t("rule", lang), t("verdict", lang), t("status", lang), t("layer", lang),
                                     "message", t("missing", lang), t("evidence", lang), "document", "文号",
                                     "clause", "quote", "quote_note"], findings,
           [12, 26, 12, 14, 16, 60, 18, 30, 40, 22, 24, 60, 20])
    overlaps = [[o.layer_name, o.layer, o.feature_id, o.name, round(o.area_m2, 2),
                 None if o.area_m2_ellipsoidal is None else round(o.area_m2_ellipsoidal, 2),
                 round(o.share_of_footprint, 6), round(o.distance_m, 2)] for o in r.overlaps]
    _sheet(wb, t("overlaps", lang), [t("layer", lang), "layer_id", "feature_id", t("feature", lang),
                                     t("overlap_area", lang), t("area_ell", lang), t("share", lang), t("distance", lang)],
           overlaps, [18, 18, 24, 28, 16, 16, 12, 12])
    epsg = record.get("footprint", {}).get("gk_epsg")
    _sheet(wb, t("coords", lang), [t("part", lang), t("ring", lang), t("point", lang), t("lon", lang), t("lat", lang),
                                   f"{t('x_north', lang)} EPSG:{epsg}", f"{t('y_east', lang)} EPSG:{epsg}"],
           coordinate_rows(record), [8, 8, 8, 16, 16, 18, 18])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
