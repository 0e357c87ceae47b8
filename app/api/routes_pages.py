"""The pages: the layer viewer ``/``, the planner's ``/screen``, the result ``/screenings/{id}``.

Pages are server-rendered shells (Jinja) with the page's configuration inlined; the map libraries
and scripts come from ``/static`` (the app's own files and the PyPI-installed MapLibre and Leaflet).
"""

from __future__ import annotations

from typing import Any

import shapely
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from app import __version__
from app.api.routes_reports import load_record
from app.demo import sample_boundary_txt
from app.domain.errors import NotFound
from app.reports import illustrative_versions
from app.reports.context import build_report
from app.reports.i18n import ACTION, PART, PART_ORDER, TEXT, VERDICT, lang_of, pick
from app.reports.render import TEMPLATES as REPORT_TEMPLATES
from app.reports.render import notice, page_body
from app.reports.webmap import leaflet_urls, record_map
from app.web import TEMPLATES_DIR

router = APIRouter(include_in_schema=False)
REPORT_CSS = REPORT_TEMPLATES / "report.css"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _layers_config(request: Request, lang: str) -> list[dict[str, Any]]:
    """Every layer with what the map needs: kind, geometry, style, attribute labels, provenance."""
    app = request.app
    catalog = app.state.catalog
    infos = [i for i in app.state.store.list_layers() if i.current is not None]
    demo = illustrative_versions(app.state.store, [i.current.id for i in infos], app.state.illustrative_cache)
    out = []
    for info in infos:
        kind = catalog.kinds.get(info.kind)
        if kind is None:
            continue
        v = info.current
        p = v.provenance
        out.append({
            "id": info.id, "kind": info.kind, "name": kind.name_en if lang == "en" else kind.name_zh,
            "part": kind.part, "geometry": kind.geometry, "style": kind.style,
            "labels": {n: (n if lang == "en" else (a.zh or n)) for n, a in kind.attributes.items()},
            "value_labels": {} if lang == "en" else _value_labels(kind),
            "classes": _classes(kind, lang),
            "version": v.id, "features": v.feature_count, "bbox": v.bbox,
            "illustrative": v.id in demo,
            "provenance": {"label": p.label, "source_document": p.source_document, "doc_number": p.doc_number,
                           "authority": p.authority,
                           "effective_date": p.effective_date.isoformat() if p.effective_date else None},
        })
    order = {part: i for i, part in enumerate(PART_ORDER)}
    out.sort(key=lambda d: (order.get(d["part"], 99), d["style"].get("order", 999)))
    return out


def _value_labels(kind) -> dict[str, dict[str, str]]:
    """Enum values back to the source's Chinese words (``key`` → 重点管控单元), for popups."""
    out: dict[str, dict[str, str]] = {}
    for attr, mapping in kind.values.items():
        for word, value in mapping.items():
            if not word.isdigit():
                out.setdefault(attr, {}).setdefault(str(value), word)
    return out


def _classes(kind, lang: str) -> list[list[str]]:
    """``[[value, colour, label], …]`` in the catalog's order, for a style coloured by an attribute."""
    by, colours = kind.style.get("by"), kind.style.get("colors") or {}
    if not by:
        return []
    labels = {} if lang == "en" else _value_labels(kind).get(by, {})
    return [[str(v), str(c), labels.get(str(v), str(v))] for v, c in colours.items()]


def _page(request: Request, template: str, lang: str, title_key: str, **extra: Any) -> HTMLResponse:
    s = request.app.state.settings
    strings = {k: pick(v, lang) for k, v in TEXT.items()}
    config = {
        "lang": lang, "strings": strings,
        "parts": {k: pick(v, lang) for k, v in PART.items()},
        "verdicts": {k: pick(v, lang) for k, v in VERDICT.items()},
        "actions": {k: pick(v, lang) for k, v in ACTION.items()},
        "basemap": {"url": s.basemap_url, "attribution": s.basemap_attribution} if s.basemap_url else None,
        **extra.pop("config", {}),
    }
    other = "zh" if lang == "en" else "en"
    return templates.TemplateResponse(request, template, {
        "lang": lang, "s": strings, "title": strings[title_key], "version": __version__,
        "switch_url": f"{request.url.path}?lang={other}", "config": config,
        **extra,
    })


@router.get("/", response_class=HTMLResponse)
def viewer(request: Request, lang: str = "zh") -> HTMLResponse:
    lang = lang_of(lang)
    return _page(request, "viewer.html", lang, "viewer", config={"layers": _layers_config(request, lang)})


@router.get("/screen", response_class=HTMLResponse)
def screen(request: Request, lang: str = "zh") -> HTMLResponse:
    lang = lang_of(lang)
    actions = [(k, pick(v, lang)) for k, v in ACTION.items()]
    return _page(request, "screen.html", lang, "screen", actions=actions,
                 config={"layers": _layers_config(request, lang)})


@router.get("/screenings/{screening_id}", response_class=HTMLResponse)
def result(screening_id: str, request: Request, lang: str = "zh") -> HTMLResponse:
    lang = lang_of(lang)
    record, demo = load_record(request, screening_id)
    report = build_report(record, request.app.state.catalog, lang, demo)
    body = page_body(report, map_src=f"/screenings/{screening_id}/map.html?lang={lang}")
    base = f"/api/screenings/{screening_id}"
    downloads = [("report.html", f"{base}/report.html?lang={lang}"), ("report.pdf", f"{base}/report.pdf?lang={lang}"),
                 ("report.xlsx", f"{base}/report.xlsx?lang={lang}"), ("result.geojson", f"{base}/result.geojson"),
                 ("record.json", base)]
    return _page(request, "result.html", lang, "record", body=body, downloads=downloads, record_id=screening_id,
                 report_css=REPORT_CSS.read_text(encoding="utf-8"))


@router.get("/screenings/{screening_id}/map.html", response_class=HTMLResponse)
def result_map(screening_id: str, request: Request, lang: str = "zh") -> HTMLResponse:
    record, demo = load_record(request, screening_id)
    s = request.app.state.settings
    lang = lang_of(lang)
    report = build_report(record, request.app.state.catalog, lang, demo)
    html = record_map(record, request.app.state.catalog, leaflet=leaflet_urls(), basemap_url=s.basemap_url,
                      basemap_attribution=s.basemap_attribution, footprint_label=pick(TEXT["footprint_legend"], lang),
                      notice=notice(report))
    return HTMLResponse(html)


@router.get("/samples/boundary.txt")
def sample_boundary(request: Request) -> Response:
    """A 界址点 TXT straddling the first redline feature, to try the planner page with (示意)."""
    store = request.app.state.store
    info = next((i for i in store.list_layers() if i.kind == "eco_redline" and i.current), None)
    if info is None:
        raise NotFound("E_LAYER_NOT_FOUND", "没有生态保护红线图层，无法生成示例文件",
                       "There is no redline layer to make a sample boundary from")
    feature = store.feature(info.current.id, 0)
    if shapely.get_dimensions(feature.geometry) != 2:
        raise NotFound("E_LAYER_NOT_FOUND", "红线图层的第一个要素不是面，无法生成示例文件",
                       "The redline layer's first feature is not a polygon: no sample boundary")
    return Response(sample_boundary_txt(feature.geometry).encode("utf-8"), media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="sample_jzd.txt"'})
