"""A screening record turned into what a person reads: one view model for the page, the HTML, PDF and XLSX.

Every rendering of a record goes through :func:`build_report`, so the result page, the printable
report and the spreadsheet say the same thing in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.catalog import Catalog
from app.reports.i18n import ACTION, LEVEL, LEVEL_ORDER, STATUS, pick, t, verdict_label
from app.screening.attributes import attribute_label

CRS_SOURCE = {
    "header": ("文件声明", "declared in the file"),
    "prefix": ("坐标带号前缀", "zone prefix of the coordinates"),
    "prj": (".prj 文件", ".prj file"),
    "user": ("用户指定", "given by the user"),
    "guess": ("按坐标范围推断", "inferred from the coordinate range"),
}


@dataclass
class FindingRow:
    rule_id: str
    verdict: str
    verdict_label: str
    status: str
    status_label: str
    message: str
    layer: str | None
    layer_name: str | None
    feature_ids: list[str]
    citation: dict[str, Any]
    quote_note: str | None  # what the quote is when it is not the source's own words
    evidence: str | None
    missing: list[str]


@dataclass
class FindingGroup:
    level: str
    label: str
    rows: list[FindingRow]


@dataclass
class OverlapRow:
    layer: str
    layer_name: str
    feature_id: str
    name: str
    area_m2: float
    area_m2_ellipsoidal: float | None
    share_of_footprint: float
    distance_m: float
    colour: str


@dataclass
class Report:
    lang: str
    record: dict[str, Any]
    id: str
    verdict: str
    verdict_label: str
    verdict_other: str  # the label in the other language, shown small under the banner
    project_rows: list[tuple[str, str]]
    footprint_rows: list[tuple[str, str]]
    warnings: list[str]
    repairs: list[str]
    groups: list[FindingGroup]
    overlaps: list[OverlapRow]
    provenance_rows: list[tuple[str, str]]
    layer_versions: list[tuple[str, str, str]]  # layer, name, version id
    illustrative: bool
    legend: list[tuple[str, str]] = field(default_factory=list)  # (name, colour) of the layers shown on the map
    parcels: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # code, name, GK, declared, diff


def _fmt_area(v: float | None) -> str:
    return "—" if v is None else f"{v:,.2f}"


def _fmt_attr(v: Any) -> str:
    if isinstance(v, bool):
        return "是 / yes" if v else "否 / no"
    return str(v)


def _layer_name(catalog: Catalog, kind: str | None, lang: str) -> str | None:
    if kind is None:
        return None
    spec = catalog.kinds.get(kind)
    if spec is None:
        return kind
    return spec.name_en if lang == "en" else spec.name_zh


def layer_colour(catalog: Catalog, kind: str, attributes: dict[str, Any] | None = None) -> str:
    """The fill of a feature: the kind's, or by an attribute where the style says so (unit categories)."""
    spec = catalog.kinds.get(kind)
    if spec is None:
        return "#888888"
    by, colours = spec.style.get("by"), spec.style.get("colors") or {}
    if by and attributes and str(attributes.get(by)) in colours:
        return str(colours[str(attributes.get(by))])
    return str(spec.style.get("fill", "#888888"))


@dataclass
class MapPiece:
    feature_id: str
    overlap: dict[str, Any]  # the record's overlap row ({} if the record has none for this piece)
    kind: str
    geometry: dict[str, Any]  # GeoJSON, lon/lat
    style: dict[str, Any]  # the kind's map style, with the fill of this feature (by its category …)
    spec: Any  # the catalog's LayerKind, or None


def map_pieces(record: dict[str, Any], catalog: Catalog) -> list[MapPiece]:
    """The record's clipped overlap pieces with their style, in drawing order (the redline last, on top)."""
    by_fid = {o["feature_id"]: o for o in record.get("overlaps", [])}
    out = []
    for fid, geom in (record.get("overlap_geometries") or {}).items():
        o = by_fid.get(fid, {})
        kind = o.get("kind") or o.get("layer", "")
        spec = catalog.kinds.get(kind)
        style = {**(spec.style if spec else {}), "fill": layer_colour(catalog, kind, o.get("attributes"))}
        out.append(MapPiece(fid, o, kind, geom, style, spec))
    return sorted(out, key=lambda p: -int(p.style.get("order", 999)))


def _message(item: dict[str, Any], lang: str, key: str = "message") -> str | None:
    zh, en = item.get(f"{key}_zh"), item.get(f"{key}_en")
    return (en or zh) if lang == "en" else (zh or en)


def _quote_note(citation: dict[str, Any], lang: str) -> str | None:
    """A quote that is not the source's own words says so, in every report."""
    kind = citation.get("quote_kind", "verbatim")
    return None if kind == "verbatim" else t(f"quote_{kind}", lang)


def build_report(record: dict[str, Any], catalog: Catalog, lang: str = "zh",
                 illustrative_versions: set[str] | None = None) -> Report:
    """The view model of one record; ``illustrative_versions`` are the layer versions that are 示意数据."""
    project = record.get("project", {})
    fp = record.get("footprint", {})
    industry = project.get("industry", "")
    industry_name = project.get("industry_name") or ""
    attrs = project.get("attributes") or {}
    project_rows = [
        (t("project_name", lang), project.get("name") or "—"),
        (t("industry", lang), f"{industry} {industry_name}".strip()),
        (t("action", lang), pick(ACTION.get(project.get("action", ""), ("—", "—")), lang)),
    ]
    if attrs:
        project_rows.append((t("attributes", lang), "；".join(f"{k} = {_fmt_attr(v)}" for k, v in attrs.items())))

    source = fp.get("crs_source")
    footprint_rows = [
        (t("crs", lang), str(fp.get("crs_detected", "—"))),
        (t("crs_source", lang), pick(CRS_SOURCE.get(source, (str(source), str(source))), lang)),
        (t("parts", lang), str(fp.get("parts", "—"))),
        (t("area_gk", lang), _fmt_area(fp.get("area_m2_gk"))),
        (t("area_ell", lang), _fmt_area(fp.get("area_m2_ellipsoidal"))),
    ]
    if fp.get("declared_area_m2") is not None:
        footprint_rows.append((t("area_declared", lang), _fmt_area(fp.get("declared_area_m2"))))
    if fp.get("gk_epsg"):
        footprint_rows.append((t("gk_zone", lang), f"EPSG:{fp['gk_epsg']}"))
    warnings = [_message(w, lang) or w.get("code", "") for w in fp.get("warnings", [])]
    repairs = [r if isinstance(r, str) else (_message(r, lang) or str(r)) for r in fp.get("repairs", [])]

    by_level: dict[str, list[FindingRow]] = {}
    for f in record.get("findings", []):
        row = FindingRow(
            rule_id=f["rule_id"], verdict=f["verdict"], verdict_label=verdict_label(f["verdict"], lang),
            status=f.get("status", "fired"),
            status_label=pick(STATUS.get(f.get("status", "fired"), ("", "")), lang),
            message=_message(f, lang) or "", layer=f.get("layer"),
            layer_name=_layer_name(catalog, f.get("layer"), lang), feature_ids=list(f.get("feature_ids") or []),
            citation=f.get("citation") or {}, quote_note=_quote_note(f.get("citation") or {}, lang),
            evidence=_message(f, lang, "evidence"),
            missing=[attribute_label(m, lang) for m in f.get("missing") or []],
        )
        by_level.setdefault(f.get("level", "national"), []).append(row)
    groups = [FindingGroup(level, pick(LEVEL[level], lang), by_level.pop(level))
              for level in LEVEL_ORDER if level in by_level]
    groups += [FindingGroup(level, level, rows) for level, rows in by_level.items()]

    overlaps = [
        OverlapRow(layer=o["layer"], layer_name=_layer_name(catalog, o.get("kind"), lang) or o["layer"],
                   feature_id=o["feature_id"], name=str(o.get("name") or ""), area_m2=o.get("area_m2", 0.0),
                   area_m2_ellipsoidal=o.get("area_m2_ellipsoidal"),
                   share_of_footprint=o.get("share_of_footprint", 0.0), distance_m=o.get("distance_m", 0.0),
                   colour=layer_colour(catalog, o.get("kind", ""), o.get("attributes")))
        for o in record.get("overlaps", [])
    ]
    versions = record.get("layer_versions", {})
    kinds = {o["layer"]: o.get("kind") for o in record.get("layer_overlaps", []) + record.get("overlaps", [])}
    layer_versions = [(layer, _layer_name(catalog, kinds.get(layer) or layer, lang) or layer, vid)
                      for layer, vid in versions.items()]
    illustrative = bool(illustrative_versions and set(versions.values()) & illustrative_versions) or any(
        (o.get("attributes") or {}).get("demo") is True for o in record.get("overlaps", []))
    provenance_rows = [
        (t("record_id", lang), record.get("id", "")),
        (t("created_at", lang), record.get("created_at", "")),
        (t("input_sha256", lang), record.get("input_sha256") or "—"),
        (t("ruleset_version", lang), record.get("ruleset_version", "")),
        (t("software_version", lang), record.get("software_version", "")),
        (t("store", lang), record.get("store", "")),
        (t("area_method", lang), record.get("area_method", "")),
    ]
    seen: dict[str, str] = {}
    for o in overlaps:
        seen.setdefault(o.layer_name, o.colour)
    parcel_rows = []
    for p in fp.get("parcels", []):
        gk, declared = p.get("area_m2_gk"), p.get("declared_area_m2")
        diff = f"{(gk - declared) / declared:+.2%}" if gk is not None and declared else "—"
        parcel_rows.append((str(p.get("code") or p.get("index", "")), str(p.get("name") or ""), _fmt_area(gk),
                            _fmt_area(declared), diff))
    verdict = record.get("verdict", "incomplete")
    return Report(
        lang=lang, record=record, id=record.get("id", ""), verdict=verdict,
        verdict_label=verdict_label(verdict, lang), verdict_other=verdict_label(verdict, "zh" if lang == "en" else "en"),
        project_rows=project_rows, footprint_rows=footprint_rows, warnings=warnings, repairs=repairs,
        groups=groups, overlaps=overlaps, provenance_rows=provenance_rows, layer_versions=layer_versions,
        illustrative=illustrative, legend=list(seen.items()),
        parcels=parcel_rows if len(parcel_rows) > 1 or any(r[3] != "—" for r in parcel_rows) else [],
    )
