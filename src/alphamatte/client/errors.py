"""One exception tree for everything the API can answer, keyed by HTTP status."""

from __future__ import annotations


class AlphamatteError(Exception):
    """Base of every SDK error; ``status`` is the HTTP status (None when no response came)."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail if status is None else f"{status}: {detail}")
        self.detail = detail
        self.status = status


class AuthenticationError(AlphamatteError):
    """401: the API key is missing, unknown or revoked."""


class InsufficientCreditError(AlphamatteError):
    """402: the key has no credit left."""


class CreditsExpiredError(AlphamatteError):
    """403: the key's credits have expired."""


class PayloadTooLargeError(AlphamatteError):
    """413: the upload is over the server's byte or pixel limit."""


class UnsupportedMediaTypeError(AlphamatteError):
    """415: the bytes are not a supported image format."""


class InvalidImageError(AlphamatteError):
    """422 (and 400): the request or the image in it could not be read."""


class RateLimitError(AlphamatteError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds."""

    def __init__(
        self, detail: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(detail, status=status)
        self.retry_after = retry_after


class ServerError(AlphamatteError):
    """5xx: a fault on the server side; such requests are never charged."""


class TransportError(AlphamatteError):
    """No usable response: connection refused or reset, timeout, or an unreadable body."""


_BY_STATUS: dict[int, type[AlphamatteError]] = {
    400: InvalidImageError,
    401: AuthenticationError,
    402: InsufficientCreditError,
    403: CreditsExpiredError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InvalidImageError,
}


def error_for(status: int, detail: str, *, retry_after: float | None = None) -> AlphamatteError:
    """The exception a response with this status stands for."""
    if status == 429:
        return RateLimitError(detail, retry_after=retry_after)
    if status >= 500:
        return ServerError(detail, status=status)
    return _BY_STATUS.get(status, AlphamatteError)(detail, status=status)
