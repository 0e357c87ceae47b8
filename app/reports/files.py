"""Write a record's report to a file, the format chosen by the file's suffix (for the CLI)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from app.domain.catalog import Catalog
from app.domain.errors import InputRefused

SUFFIXES = (".html", ".pdf", ".xlsx", ".geojson")


def check_report_path(path: Path) -> None:
    """Refuse before screening: a bad report path must not leave a kept record without its report."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputRefused("E_REPORT_FORMAT", f"报告文件须以 {'、'.join(SUFFIXES)} 结尾：{path.name}",
                           f"A report file must end in {', '.join(SUFFIXES)}: {path.name}", status=400)
    parent = path.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InputRefused("E_REPORT_WRITE", f"无法写入报告文件所在目录：{parent}",
                           f"Cannot write to the report's folder: {parent}", status=400)


def write_report(path: Path, record: dict[str, Any], catalog: Catalog, lang: str,
                 illustrative: set[str]) -> None:
    from app.reports.geojson import result_geojson
    from app.reports.render import report_html, report_pdf
    from app.reports.xlsx import report_xlsx

    check_report_path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        data = report_html(record, catalog, lang, illustrative_versions=illustrative).encode("utf-8")
    elif suffix == ".pdf":
        data = report_pdf(record, catalog, lang, illustrative_versions=illustrative)
    elif suffix == ".xlsx":
        data = report_xlsx(record, catalog, lang, illustrative)
    else:
        data = json.dumps(result_geojson(record), ensure_ascii=False).encode("utf-8")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputRefused("E_REPORT_WRITE", f"报告写入失败（记录 {record.get('id')} 已保存）：{exc}",
                           f"Writing the report failed (record {record.get('id')} is kept): {exc}",
                           status=400) from None
