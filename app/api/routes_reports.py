"""Renderings of a kept record: report.html, report.pdf, report.xlsx, result.geojson (``?lang=en`` for English)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import run_cpu
from app.reports import illustrative_versions
from app.reports.geojson import result_geojson
from app.reports.i18n import lang_of
from app.reports.render import report_html, report_pdf
from app.reports.xlsx import report_xlsx

router = APIRouter(tags=["reports"])


def load_record(request: Request, screening_id: str) -> tuple[dict[str, Any], set[str]]:
    app = request.app
    record = app.state.store.get_screening(screening_id)
    demo = illustrative_versions(app.state.store, list(record.get("layer_versions", {}).values()),
                                 app.state.illustrative_cache)
    return record, demo


def _download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, max-age=3600"}


@router.get("/api/screenings/{screening_id}/report.html", response_class=HTMLResponse)
async def html_report(screening_id: str, request: Request, lang: str = "zh") -> HTMLResponse:
    record, demo = await run_in_threadpool(load_record, request, screening_id)
    html = await run_cpu(request, report_html, record, request.app.state.catalog, lang_of(lang),
                         illustrative_versions=demo)
    return HTMLResponse(html, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/api/screenings/{screening_id}/report.pdf")
async def pdf_report(screening_id: str, request: Request, lang: str = "zh") -> Response:
    record, demo = await run_in_threadpool(load_record, request, screening_id)
    pdf = await run_cpu(request, report_pdf, record, request.app.state.catalog, lang_of(lang),
                        illustrative_versions=demo)
    return Response(pdf, media_type="application/pdf", headers=_download(f"{screening_id}.pdf"))


@router.get("/api/screenings/{screening_id}/report.xlsx")
async def xlsx_report(screening_id: str, request: Request, lang: str = "zh") -> Response:
    record, demo = await run_in_threadpool(load_record, request, screening_id)
    data = await run_cpu(request, report_xlsx, record, request.app.state.catalog, lang_of(lang), demo)
    return Response(data, headers=_download(f"{screening_id}.xlsx"),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.get("/api/screenings/{screening_id}/result.geojson")
def geojson_result(screening_id: str, request: Request) -> Response:
    record, _ = load_record(request, screening_id)
    body = json.dumps(result_geojson(record), ensure_ascii=False)
    return Response(body, media_type="application/geo+json", headers=_download(f"{screening_id}.geojson"))
