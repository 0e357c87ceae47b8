"""Write a record's report to a file, the format chosen by the file's suffix (for the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.domain.catalog import Catalog
from app.domain.errors import InputRefused

SUFFIXES = (".html", ".pdf", ".xlsx", ".geojson")


def check_report_path(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise InputRefused("E_REPORT_FORMAT", f"报告文件须以 {'、'.join(SUFFIXES)} 结尾：{path.name}",
                           f"A report file must end in {', '.join(SUFFIXES)}: {path.name}", status=400)


def write_report(path: Path, record: dict[str, Any], catalog: Catalog, lang: str,
                 illustrative: set[str]) -> None:
    from app.reports.geojson import result_geojson
    from app.reports.render import report_html, report_pdf
    from app.reports.xlsx import report_xlsx

    check_report_path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        path.write_text(report_html(record, catalog, lang, illustrative_versions=illustrative), encoding="utf-8")
    elif suffix == ".pdf":
        path.write_bytes(report_pdf(record, catalog, lang, illustrative_versions=illustrative))
    elif suffix == ".xlsx":
        path.write_bytes(report_xlsx(record, catalog, lang, illustrative))
    else:
        path.write_text(json.dumps(result_geojson(record), ensure_ascii=False), encoding="utf-8")
