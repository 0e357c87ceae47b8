"""Render a record: the standalone report.html, the PDF (WeasyPrint, CJK font embedded), the page body."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from app.domain.catalog import Catalog
from app.reports.context import Report, build_report
from app.reports.i18n import t as translate
from app.reports.svgmap import svg_map
from app.reports.webmap import leaflet_inline, record_map

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def _render(name: str, report: Report, **extra: Any) -> str:
    return environment().get_template(name).render(r=report, t=lambda key: translate(key, report.lang), **extra)


def page_body(report: Report, map_src: str) -> str:
    """The record's body for the result page (the map is an iframe of the app's own map view)."""
    return _render("report_body.html", report, mode="page", map_src=map_src, map_html="", svg="")


def notice(report: Report) -> str | None:
    return translate("illustrative", report.lang) if report.illustrative else None


def report_html(record: dict[str, Any], catalog: Catalog, lang: str = "zh", *,
                illustrative_versions: set[str] | None = None) -> str:
    """One self-contained file: Leaflet inlined so the map opens offline; a static map for print. No
    basemap: a file people pass around must not carry the server's basemap key, nor need the network."""
    report = build_report(record, catalog, lang, illustrative_versions)
    label = translate("footprint_legend", lang)
    interactive = record_map(record, catalog, leaflet=leaflet_inline(), footprint_label=label,
                             notice=notice(report))
    return _render("report.html", report, mode="file", map_src="", map_html=interactive,
                   svg=svg_map(record, catalog, footprint_label=label, notice=notice(report)))


def report_pdf(record: dict[str, Any], catalog: Catalog, lang: str = "zh", *,
               illustrative_versions: set[str] | None = None) -> bytes:
    from weasyprint import HTML  # heavy import: only when a PDF is asked for

    report = build_report(record, catalog, lang, illustrative_versions)
    html = _render("report.html", report, mode="pdf", map_src="", map_html="",
                   svg=svg_map(record, catalog, footprint_label=translate("footprint_legend", lang),
                               notice=notice(report)))
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
