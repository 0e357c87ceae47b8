"""Boundary uploads: parse and echo a footprint before anything is screened."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from app.api.deps import run_cpu
from app.api.responses import json_bytes
from app.domain.errors import InputRefused
from app.domain.footprint import Footprint
from app.domain.jsontext import refuse_unkeepable, text_problem
from app.ingest.boundary import BoundaryOptions, limits, read_boundary, read_flag, read_geojson_object
from app.settings import Settings

router = APIRouter(prefix="/api/footprints", tags=["footprints"])



@dataclass
class BoundaryUpload:
    footprint: Footprint
    project: dict[str, Any] | None
    data: bytes  # the bytes the footprint was read from (file, or the JSON geometry)
    filename: str | None
    options: BoundaryOptions
    fields: dict[str, Any]  # the other form fields or JSON members (options, and what a route adds)


def _bad(code: str, zh: str, en: str, status: int = 422) -> InputRefused:
    return InputRefused(code, zh, en, status=status)


def _options(fields: dict[str, Any], project: dict[str, Any] | None, settings: Settings) -> BoundaryOptions:
    attrs = (project or {}).get("attributes") or {}
    if not isinstance(attrs, dict):
        raise _bad("E_PROJECT_INVALID", "project.attributes 须为对象", "project.attributes must be an object")

    def agreed(name: str, read: Callable[[Any], Any]) -> Any:
        """A request option, or the project fact of the same name, as ``read`` reads it; both only if they
        read alike (the record keeps the fact, so it must be what the footprint was read by; a form field
        is text, the fact JSON)."""
        option, fact = fields.get(name), attrs.get(name)
        if option in (None, ""):
            return read(fact)
        if fact in (None, "") or read(option) == read(fact):
            return read(option)
        raise _bad("E_REQUEST_INVALID", f"参数 {name} 与 project.attributes.{name} 不一致",
                   f"Parameter {name} and project.attributes.{name} disagree")

    def flag(name: str) -> bool:
        return agreed(name, read_flag)

    def number(name: str, cast=float):
        def read(v: Any) -> Any:
            if v in (None, ""):
                return None
            try:
                return cast(v)
            except (TypeError, ValueError, OverflowError):
                raise _bad("E_REQUEST_INVALID", f"参数 {name} 须为数字", f"Parameter {name} must be a number") from None
        return agreed(name, read)

    def text(name: str) -> str | None:
        v = fields.get(name)
        if v in (None, ""):
            return None
        if name == "crs" and type(v) is int:  # an EPSG code as a number
            return f"EPSG:{v}"
        if not isinstance(v, str):  # (a CRS that is neither text nor a code: E_CRS_INVALID, as any unreadable one)
            raise _bad("E_CRS_INVALID" if name == "crs" else "E_REQUEST_INVALID", f"参数 {name} 须为文本",
                       f"Parameter {name} must be text")
        return v

    return BoundaryOptions(  # read_boundary refuses a bad zone or right-of-way width
        crs=text("crs"), zone=number("zone", int), gcj02=flag("gcj02"),
        layer=text("layer"), encoding=text("encoding"),
        linear=flag("linear"), row_width_m=number("row_width_m"),
        accept_datum_approximation=flag("accept_datum_approximation"), **limits(settings),
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: a record must stay valid JSON


def load_json(text: str | bytes, unchecked: tuple[str, ...] = ()) -> Any:
    """A JSON document as a record can keep it (``text_problem``): UTF-8 (RFC 8259; a UTF-16 body hid
    escapes from a check on its bytes), no NaN or Infinity, not nested without end. ValueError if not.

    ``unchecked``: top-level members not walked, as nothing of them is kept as given (a posted geometry is
    read into a footprint, which refuses what it cannot hold; walking 200,000 vertices took 0.28 s)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None
    kept = {k: v for k, v in doc.items() if k not in unchecked} if unchecked and isinstance(doc, dict) else doc
    problem = text_problem(kept)
    if problem:
        raise ValueError(problem[1])
    return doc


PROJECT_PART_MAX = 1 << 20


def _project(value: Any) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = load_json(value)
        except ValueError as exc:  # (JSONDecodeError is one)
            raise InputRefused("E_PROJECT_INVALID", "project 须为可保存的 JSON 对象", "project must be a JSON object "
                               "a record can keep", detail={"reason": str(exc)[:200]}) from None
    if not isinstance(value, dict):
        raise _bad("E_PROJECT_INVALID", "project 须为 JSON 对象", "project must be a JSON object")
    return value


async def read_upload(request: Request) -> BoundaryUpload:
    """A boundary from a multipart upload (``file`` + options + ``project``) or a JSON ``geometry``."""
    settings = request.app.state.settings
    max_bytes = settings.max_upload_mb << 20
    ctype = request.headers.get("content-type", "").lower()  # media types are case-insensitive (RFC 9110)
    if ctype.startswith("application/json"):
        body = await request.body()
        if len(body) > max_bytes:
            raise _bad("E_FILE_TOO_LARGE", "请求体过大", "The request body is too large", status=413)
        try:
            doc = load_json(body or b"null", unchecked=("geometry",))
        except ValueError as exc:
            raise InputRefused("E_REQUEST_INVALID", "请求体不是可保存的 JSON（UTF-8）", "The request body is not JSON "
                               "(UTF-8) a record can keep", detail={"reason": str(exc)[:200]}) from None
        if not isinstance(doc, dict) or "geometry" not in doc:
            raise _bad("E_REQUEST_INVALID", "JSON 请求须含 geometry", "A JSON request needs a geometry")
        project = _project(doc.get("project"))
        fields = {k: v for k, v in doc.items() if k not in ("geometry", "project")}
        options = _options(fields, project, settings)
        fp = await run_cpu(request, read_geojson_object, doc["geometry"], options)
        return BoundaryUpload(fp, project, json.dumps(doc["geometry"], sort_keys=True).encode(), None, options,
                              fields)
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise _bad("E_REQUEST_INVALID", "请以 multipart/form-data 上传文件，或以 JSON 提交 geometry",
                   "Upload a file as multipart/form-data, or post a JSON geometry", status=415)
    form = await request.form(max_part_size=max_bytes)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _bad("E_FILE_MISSING", "缺少上传文件 file", "The upload has no file part", status=422)
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _bad("E_FILE_TOO_LARGE", f"文件超过 {max_bytes >> 20} MB 的上限",
                   f"The file exceeds the {max_bytes >> 20} MB limit", status=413)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    sent = form.get("project")
    if isinstance(sent, UploadFile):  # ``curl -F project=@p.json``: the project as a file part
        raw = await sent.read(PROJECT_PART_MAX + 1)
        if len(raw) > PROJECT_PART_MAX:
            raise _bad("E_PROJECT_INVALID", "project 部分过大", "The project part is too large")
        try:
            fields["project"] = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _bad("E_PROJECT_INVALID", "project 须为 UTF-8 编码的 JSON", "project must be UTF-8 JSON") from None
    # as a record can keep them: Starlette decodes fields and names in whatever charset the request names
    # (UTF-7 makes lone surrogates out of plain bytes); the file name loses its NUL when read
    refuse_unkeepable([fields, (upload.filename or "").replace("\x00", "")], "E_REQUEST_INVALID",
                      "表单字段无法读取", "The form cannot be read")
    project = _project(fields.pop("project", None))
    options = _options(fields, project, settings)
    fp = await run_cpu(request, read_boundary, data, upload.filename or "upload", options)
    return BoundaryUpload(fp, project, data, upload.filename or "upload", options, fields)


def footprint_geojson(fp: Footprint) -> str:
    """RFC 7946 text: CGCS2000 lon/lat written as CRS84 (a null shift at mapping scale), to 1e-9° (0.1 mm).

    Coordinates are rounded, not snapped with ``set_precision`` (which keeps validity through an
    overlay: 5.4 s for a 2-million-vertex cadastral footprint, against 0.05 s): this is for display."""
    return shapely.to_geojson(shapely.transform(fp.geometry, lambda xy: np.round(xy, 9)))


def _preview_json(fp: Footprint) -> bytes:
    """The preview's body, written once: a cadastral upload's echo and footprint run to tens of MB, and
    FastAPI's generic encoding of them as Python objects took 9 s of a 10 s answer."""
    return b'{"footprint":%s,"geometry":%s}' % (json_bytes(fp.echo.to_dict()), footprint_geojson(fp).encode())


@router.post("/preview")
async def preview(request: Request) -> Response:
    """The echo and the geometry as GeoJSON (``{"footprint": …, "geometry": …}``), without screening."""
    up = await read_upload(request)
    return Response(await run_cpu(request, _preview_json, up.footprint), media_type="application/json")
