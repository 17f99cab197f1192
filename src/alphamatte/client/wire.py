"""The HTTP side shared by the sync and async clients: requests out, results or errors back."""

from __future__ import annotations

import base64
import binascii
import io
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    import numpy as np

from alphamatte.client.errors import AlphamatteError, ServerError, TransportError, error_for
from alphamatte.client.retry import retry_after_seconds

API_KEY_ENV = "ALPHAMATTE_API_KEY"
API_URL_ENV = "ALPHAMATTE_API_URL"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 120.0
MATTE_PATH = "/v1.0/alpha-channel-base64"
CREDIT_PATH = "/available-credit"


@dataclass(frozen=True)
class Credit:
    credit: int
    expiration_date: datetime | None


def resolve(api_key: str | None, base_url: str | None) -> tuple[str | None, str]:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    url = base_url if base_url is not None else os.environ.get(API_URL_ENV, DEFAULT_URL)
    return key, url.rstrip("/")


def make_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        if None in (timeout.connect, timeout.read, timeout.write, timeout.pool):
            raise ValueError("every timeout must be set; an API call must never hang forever")
        return timeout
    if timeout is None or timeout <= 0:
        raise ValueError("timeout must be a positive number of seconds")
    return httpx.Timeout(timeout, connect=min(10.0, timeout))


def headers(api_key: str | None) -> dict[str, str]:
    out = {"Accept": "application/json", "User-Agent": "alphamatte-python"}
    if api_key:
        out["X-API-Key"] = api_key
    return out


def matte_request_kwargs(proxy: bytes, model: str | None = None) -> dict[str, object]:
    """One logical request: its Idempotency-Key stays the same through transport retries.
    ``model`` goes in the ``model`` query parameter (our extension of withoutbg's API)."""
    kwargs: dict[str, object] = {
        "json": {"image_base64": base64.b64encode(proxy).decode("ascii")},
        "headers": {"Idempotency-Key": uuid.uuid4().hex},
    }
    if model:
        kwargs["params"] = {"model": model}
    return kwargs


def raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    detail = response.reason_phrase or "request failed"
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            detail = body["detail"]
    except ValueError:
        if response.text:
            detail = response.text[:300]
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    raise error_for(response.status_code, detail, retry_after=retry_after)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ServerError(
            "the server answered with something that is not JSON", status=response.status_code
        ) from exc
    if not isinstance(body, dict):
        raise ServerError(
            "the server answered with an unexpected JSON shape", status=response.status_code
        )
    return body


def matte_png(response: httpx.Response) -> bytes:
    raise_for_status(response)
    value = _json_object(response).get("alpha_base64")
    if not isinstance(value, str):
        raise ServerError("the response carries no alpha_base64", status=response.status_code)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ServerError("alpha_base64 is not valid base64", status=response.status_code) from exc


def decode_matte(png: bytes, width: int, height: int) -> np.ndarray:
    """The returned matte as float32 0..1, checked to be the proxy's size."""
    import numpy as np

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            if image.size != (width, height):
                raise ServerError(
                    f"the matte is {image.size[0]}x{image.size[1]}, expected {width}x{height}"
                )
            gray = np.asarray(image.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ServerError("the returned matte is not a readable PNG") from exc
    return gray / 255.0


def credit(response: httpx.Response) -> Credit:
    raise_for_status(response)
    body = _json_object(response)
    amount = body.get("credit")
    if not isinstance(amount, int):
        raise ServerError("the response carries no credit", status=response.status_code)
    expiry = body.get("expiration_date")
    when = None
    if isinstance(expiry, str):
        try:
            when = datetime.fromisoformat(expiry)
        except ValueError as exc:
            raise ServerError(f"unreadable expiration_date {expiry!r}") from exc
    return Credit(amount, when)


def transport_error(exc: httpx.HTTPError) -> AlphamatteError:
    return TransportError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
