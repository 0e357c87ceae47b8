"""Every refusal as ``{"error": {code, message_zh, message_en, detail}}`` with a 4xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.responses import RecordResponse
from app.domain.errors import EcoError

log = logging.getLogger("ecoredline")


def error_response(status: int, code: str, zh: str, en: str, detail: dict | None = None) -> JSONResponse:
    # written like records: a refusal quoting odd input (a non-finite bound, a lone surrogate) still goes out
    return RecordResponse(
        {"error": {"code": code, "message_zh": zh, "message_en": en, "detail": detail or {}}}, status_code=status
    )


def add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(EcoError)
    async def _eco(_request: Request, exc: EcoError) -> JSONResponse:
        return RecordResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return error_response(422, "E_REQUEST_INVALID", "请求参数不正确", "The request parameters are invalid",
                              {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "E_NOT_FOUND", "找不到该地址", "Not found")
        if exc.status_code == 405:
            return error_response(405, "E_METHOD_NOT_ALLOWED", "不支持该请求方法", "Method not allowed")
        if exc.status_code == 400:  # Starlette's own refusals: a malformed multipart body, too many fields
            return error_response(400, "E_REQUEST_INVALID", f"请求格式不正确：{exc.detail}",
                                  f"Malformed request: {exc.detail}")
        return error_response(exc.status_code, "E_HTTP", f"请求未能处理（HTTP {exc.status_code}）：{exc.detail}",
                              str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "E_INTERNAL", "服务内部错误", "Internal error", {"type": type(exc).__name__})
