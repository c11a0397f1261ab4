"""Error answers: OpenAI's shape on ``/v1`` routes, FastAPI's ``{"detail": ...}`` elsewhere (as Kaito's /chat did).

Messages may quote client input; they are made printable first, so that no input can turn an error answer into a
failure to encode it (a 500).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import protocol

ERROR_TYPES = {
    400: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
    408: "timeout_error", 413: "invalid_request_error", 429: "rate_limit_error", 500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def error_response(path: str, status: int, message: str, code: str, headers: dict[str, str] | None = None):
    if path.startswith("/v1/"):
        body = protocol.error_body(message, ERROR_TYPES.get(status, "invalid_request_error"), code)
    else:
        body = {"detail": protocol.printable(message)}
    return JSONResponse(body, status_code=status, headers=headers)


def note_error(request_or_scope: Any, code: str) -> None:
    """Record why a request failed, for the error counter of ``RequestMetrics``."""
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    scope.setdefault("state", {})["error_code"] = code


def validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return protocol.printable("; ".join(parts))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_body)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _api_error(request: Request, error: ApiError):
    note_error(request, error.code)
    return error_response(request.url.path, error.status, error.message, error.code, error.headers)


async def _invalid_body(request: Request, error: RequestValidationError):
    note_error(request, "invalid_request")
    return error_response(request.url.path, 400, validation_message(error), "invalid_request")


async def _http_error(request: Request, error: StarletteHTTPException):
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(error.status_code, "http_error")
    note_error(request, code)
    return error_response(request.url.path, error.status_code, str(error.detail), code, error.headers)
