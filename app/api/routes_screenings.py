"""Screenings: run one (file or JSON geometry + project), read a record, re-run it; the industry picker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import run_cpu
from app.api.responses import RecordResponse
from app.api.routes_footprints import read_upload
from app.domain.screening import ProjectSpec
from app.screening.attributes import load_project_attributes
from app.screening.industries import LEVEL_ZH
from app.screening.service import Screener

router = APIRouter(tags=["screenings"])


def screener(request: Request) -> Screener:
    return request.app.state.screener


@router.post("/api/screenings", status_code=201)
async def create_screening(request: Request) -> RecordResponse:
    up = await read_upload(request)
    project = ProjectSpec.parse(up.project)
    opts = up.options
    record = await run_cpu(
        request, screener(request).screen_and_keep, up.footprint, project, input_bytes=up.data,
        input_kind="file" if up.filename is not None else "geometry", options=opts,
    )
    return RecordResponse(record, status_code=201)


@router.get("/api/screenings/{screening_id}")
def get_screening(screening_id: str, request: Request) -> RecordResponse:
    return RecordResponse(screener(request).store.get_screening(screening_id))


@router.post("/api/screenings/{screening_id}/rerun")
async def rerun_screening(screening_id: str, request: Request, as_of: str = "recorded") -> RecordResponse:
    return RecordResponse(await run_cpu(request, screener(request).rerun, screening_id, as_of))


@router.get("/api/industries")
def industries(request: Request, q: str = "", limit: int = 20) -> dict[str, Any]:
    table = screener(request).industries
    rows = table.search(q, max(1, min(limit, 200)))
    return {"q": q, "industries": [
        {"code": i.code, "name": i.name, "level": i.level, "level_zh": LEVEL_ZH[i.level],
         "flags": list(table.flags_for(i.code)),
         "flag_names": {f: {"zh": table.flags.get(f, {}).get("zh", f), "en": table.flags.get(f, {}).get("en", f)}
                        for f in table.flags_for(i.code)}} for i in rows]}


@router.get("/api/project-attributes")
def project_attributes(request: Request) -> dict[str, Any]:
    attrs = load_project_attributes(request.app.state.settings.layers_dir)
    return {"attributes": [a.to_dict() for a in attrs]}
