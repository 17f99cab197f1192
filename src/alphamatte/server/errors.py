"""Domain errors and their one mapping to HTTP ``{"detail": ...}`` responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from alphamatte.engine.executor import QueueFullError
from alphamatte.imaging.errors import (
    CorruptImageError,
    ImageError,
    InputTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
)
from alphamatte.server.admission import OverBudgetError

log = logging.getLogger("alphamatte.errors")
INSUFFICIENT_CREDIT = "Insufficient credit. Please top up API credits."
CREDITS_EXPIRED = "Credits expired. Top up API credits to reactivate them."
INVALID_KEY = "Invalid or missing API key (send it in the X-API-Key header)."


class ApiError(Exception):
    """An error response with a status, a detail and optional headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


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


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return _json(
            exc.status, exc.detail, {**getattr(request.state, "extra_headers", {}), **exc.headers}
        )

    @app.exception_handler(ImageError)
    async def _image(request: Request, exc: ImageError) -> JSONResponse:
        return _json(image_error_status(exc), str(exc), getattr(request.state, "extra_headers", {}))

    @app.exception_handler(OverBudgetError)
    async def _over_budget(request: Request, exc: OverBudgetError) -> JSONResponse:
        return _json(413, str(exc), getattr(request.state, "extra_headers", {}))

    @app.exception_handler(QueueFullError)
    async def _busy(request: Request, exc: QueueFullError) -> JSONResponse:
        return _json(
            503, str(exc), {**getattr(request.state, "extra_headers", {}), "Retry-After": "2"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(400, "Invalid request.")

    @app.exception_handler(SQLAlchemyError)
    async def _storage(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database is down or restarting: a retryable 503, never a 500 with a traceback.
        log.warning("storage unavailable: %s", type(exc).__name__)
        return _json(
            503,
            "Storage is temporarily unavailable; retry shortly.",
            {**getattr(request.state, "extra_headers", {}), "Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _json(500, "Internal server error.")
