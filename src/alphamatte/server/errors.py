"""Domain errors and their one mapping to HTTP error responses, in two dialects.

withoutbg's endpoints answer ``{"detail": "..."}``; remove.bg's (:data:`REMOVEBG_PATHS`) answer
``{"errors": [{"title", "code", "detail"}]}`` with remove.bg's statuses: every bad input is a
400 with a code, a bad key 403, no credit 402, a rate limit 429.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from alphamatte.engine.errors import EngineError
from alphamatte.imaging.errors import (
    CorruptImageError,
    ImageError,
    InputTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
)
from alphamatte.imaging.layout import LayoutError
from alphamatte.server.admission import OverBudgetError
from alphamatte.server.executor import QueueFullError

log = logging.getLogger("alphamatte.errors")
INSUFFICIENT_CREDIT = "Insufficient credit. Please top up API credits."
CREDITS_EXPIRED = "Credits expired. Top up API credits to reactivate them."
INVALID_KEY = "Invalid or missing API key (send it in the X-API-Key header)."


class ApiError(Exception):
    """An error response with a status, a detail, optional headers and, for remove.bg's
    dialect, an error code (else one follows from the status)."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.code = code


REMOVEBG_PATHS = frozenset({"/v1.0/removebg", "/v1.0/account", "/v1.0/improve"})


def removebg_dialect(path: str) -> bool:
    """Whether ``path`` is one of remove.bg's endpoints (a trailing slash included)."""
    return path.rstrip("/") in REMOVEBG_PATHS


# withoutbg status → (remove.bg status, code) when the error names no code of its own.
_REMOVEBG: dict[int, tuple[int, str]] = {
    400: (400, "invalid_request"),
    401: (403, "auth_failed"),
    402: (402, "insufficient_credits"),
    403: (402, "insufficient_credits"),
    408: (400, "timeout"),
    409: (409, "conflict"),
    413: (400, "file_too_large"),
    415: (400, "invalid_file_type"),
    422: (400, "invalid_image"),
    429: (429, "rate_limit_exceeded"),
    500: (500, "unknown_error"),
    503: (503, "service_unavailable"),
}
# Codes whose remove.bg status is not their withoutbg status's: a key refused a model is not out
# of credits (remove.bg clients read 402 as "top up").
_REMOVEBG_CODE_STATUS = {"model_not_allowed": 403}
# Titles that say more than the code's words; any other code's title is its words.
_TITLES = {
    "auth_failed": "Authentication failed",
    "url_fetch_disabled": "Image URLs are not fetched here",
    "resolution_too_high": "Image resolution too high",
    "unknown_error": "Internal server error",
}


def title_of(code: str) -> str:
    """remove.bg's title for an error ``code``: ``invalid_size`` → ``Invalid size``."""
    return _TITLES.get(code) or code.replace("_", " ").capitalize()


_IMAGE_CODE: dict[type[ImageError], str] = {
    InputTooLargeError: "file_too_large",
    TooManyPixelsError: "resolution_too_high",
    UnsupportedFormatError: "invalid_file_type",
    CorruptImageError: "invalid_image",
}


_IMAGE_STATUS: dict[type[ImageError], int] = {
    InputTooLargeError: 413,
    TooManyPixelsError: 413,
    UnsupportedFormatError: 415,
    CorruptImageError: 422,
}


def image_error_status(exc: ImageError) -> int:
    for kind, status in _IMAGE_STATUS.items():
        if isinstance(exc, kind):
            return status
    return 422


ENGINE_RETRY_AFTER_S = 30


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def body_unread(request: Request) -> bool:
    """True while the request may still have body bytes on the wire that nobody read: an
    answer sent now must close the connection (see :func:`error_response`)."""
    if getattr(request.state, "body_complete", False):
        return False
    if "transfer-encoding" in request.headers:
        return True
    length = request.headers.get("content-length", "0").strip()
    return not (length.isdigit() and int(length) == 0)


def error_response(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> JSONResponse:
    """The error in the dialect of the endpoint that was called.

    An error answered before the body was read (a bad key, a rate limit, a refused size) closes
    the connection: a client that streams its upload and stops once it sees an answer would
    otherwise wait forever for the server to drain a body it no longer sends."""
    headers = dict(headers or {})
    if body_unread(request):
        headers["Connection"] = "close"
    if removebg_dialect(request.url.path):
        mapped, default_code = _REMOVEBG.get(status, (status, "error"))
        code = code or default_code
        mapped = _REMOVEBG_CODE_STATUS.get(code, mapped)
        body = {"errors": [{"title": title_of(code), "code": code, "detail": detail}]}
        return JSONResponse(body, status_code=mapped, headers=headers)
    return _json(status, detail, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        headers = {**getattr(request.state, "extra_headers", {}), **exc.headers}
        return error_response(request, exc.status, exc.detail, headers, exc.code)

    @app.exception_handler(ImageError)
    async def _image(request: Request, exc: ImageError) -> JSONResponse:
        code = next((c for kind, c in _IMAGE_CODE.items() if isinstance(exc, kind)), None)
        headers = getattr(request.state, "extra_headers", {})
        return error_response(request, image_error_status(exc), str(exc), headers, code)

    @app.exception_handler(LayoutError)
    async def _layout(request: Request, exc: LayoutError) -> JSONResponse:
        headers = getattr(request.state, "extra_headers", {})
        return error_response(request, 400, str(exc), headers, exc.code)

    @app.exception_handler(OverBudgetError)
    async def _over_budget(request: Request, exc: OverBudgetError) -> JSONResponse:
        headers = getattr(request.state, "extra_headers", {})
        return error_response(request, 413, str(exc), headers, "resolution_too_high")

    @app.exception_handler(QueueFullError)
    async def _busy(request: Request, exc: QueueFullError) -> JSONResponse:
        headers = {**getattr(request.state, "extra_headers", {}), "Retry-After": "2"}
        return error_response(request, 503, str(exc), headers)

    @app.exception_handler(EngineError)
    async def _engine(request: Request, exc: EngineError) -> JSONResponse:
        # Whatever the engine could not do (a model that cannot load, a runtime that refuses
        # it) is this server's state, not the request's: retryable, never a bare 500. The
        # operator's log gets the engine's own words; the client a reason without paths.
        log.warning("engine error: %s: %s", type(exc).__name__, exc)
        headers = {
            **getattr(request.state, "extra_headers", {}),
            "Retry-After": str(ENGINE_RETRY_AFTER_S),
        }
        detail = "The model cannot run on this server right now; retry later."
        return error_response(request, 503, detail, headers, "model_unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        return error_response(request, exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 400, "Invalid request.")

    @app.exception_handler(SQLAlchemyError)
    async def _storage(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database is down or restarting: a retryable 503, never a 500 with a traceback.
        log.warning("storage unavailable: %s", type(exc).__name__)
        return error_response(
            request,
            503,
            "Storage is temporarily unavailable; retry shortly.",
            {**getattr(request.state, "extra_headers", {}), "Retry-After": "2"},
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # Nobody reads this answer; 499 (nginx's "client closed request") keeps it out of the
        # 5xx in the logs and /metrics.
        log.info("client went away before its request was read: %s", request.url.path)
        return JSONResponse({"detail": "Client closed the request."}, status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The server drops the connection after an unhandled error: say so, or a keep-alive
        # client's next request on it fails with "Server disconnected".
        return error_response(request, 500, "Internal server error.", {"Connection": "close"})
