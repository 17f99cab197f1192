"""The alphamatte Python SDK. Importing it never loads the model runtime."""

from alphamatte.client.api import AsyncClient, Client, Matted
from alphamatte.client.cache import MatteCache
from alphamatte.client.errors import (
    AlphamatteError,
    AuthenticationError,
    CreditsExpiredError,
    InsufficientCreditError,
    InvalidImageError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    TransportError,
    UnsupportedMediaTypeError,
)
from alphamatte.client.retry import RetryPolicy
from alphamatte.client.wire import Credit

__all__ = [
    "AlphamatteError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "Credit",
    "CreditsExpiredError",
    "InsufficientCreditError",
    "InvalidImageError",
    "MatteCache",
    "Matted",
    "PayloadTooLargeError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "UnsupportedMediaTypeError",
]
