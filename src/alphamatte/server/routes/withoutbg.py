"""The four image endpoints of the withoutbg Alpha Matte API."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from time import perf_counter
from typing import Literal

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection

from alphamatte.engine.inference.matting import Matter
from alphamatte.imaging.decode import FORMAT_NAMES, DecodedImage
from alphamatte.imaging.encode import encode_png
from alphamatte.product.matte import MatteResult, run_matting
from alphamatte.server.accounting import idempotency
from alphamatte.server.accounting.amounts import MILLI
from alphamatte.server.accounting.keys import ApiKey
from alphamatte.server.billing import Paid
from alphamatte.server.body import MARGIN, base64_body_limit, read_limited
from alphamatte.server.deps import INLINE_BYTES, authorised, off_loop_if
from alphamatte.server.dialects.withoutbg import (
    image_from_json,
    image_from_multipart,
    model_asked,
)
from alphamatte.server.errors import ApiError
from alphamatte.server.openapi import BINARY, errors, obj, request_body
from alphamatte.server.production import choose_model, produce
from alphamatte.server.result_cache import result_key
from alphamatte.server.state import ServerState

router = APIRouter(prefix="/v1.0", tags=["matting"])
Output = Literal["alpha", "cutout"]  # a matte, or a plain cutout
IMAGE_FIELD_HELP = f"Base64 of a {FORMAT_NAMES} (at most 10 MB decoded)"

_JSON_BODY = request_body(
    json=obj(
        {"image_base64": {"type": "string", "description": IMAGE_FIELD_HELP}}, ["image_base64"]
    )
)
_MULTIPART_BODY = request_body(multipart=obj({"file": BINARY}, ["file"]))
_ERRORS = errors(
    {
        400: "Malformed request",
        401: "Missing or invalid API key",
        402: "No credit left",
        403: "Credits expired",
        413: "Input too large",
        415: "Unsupported image format",
        422: "Invalid base64 or corrupt image",
        429: "Rate limit exceeded",
        503: "Busy",
    },
    obj({"detail": {"type": "string"}}),
)


Record = Callable[[bytes], Callable[[Connection], None]]


async def _produce(
    request: Request,
    state: ServerState,
    key_id: int,
    data: bytes,
    output: Output,
    model: str,
    record: Record | None = None,
) -> bytes:
    """A cache hit, charged; else the one procedure (server/production.py): admit by memory
    → decode → reserve a credit → infer and encode → charge.

    A cache hit skips decoding too: the same bytes decoded fine under the same settings.
    """
    settings = state.settings
    cache_key: str | None = None
    png: bytes | None = None
    if state.results.enabled:
        cache_key = result_key(settings, output, await sha256_hex(data), model)
        png = await off_loop_if(state.results.blocking, state.results.get, cache_key)
        state.metrics.cache.labels("hit" if png is not None else "miss").inc()
    request.state.extra_headers = {
        **getattr(request.state, "extra_headers", {}),
        "X-Result-Cache": "hit" if png is not None else "miss",
    }
    price = state.models.price_milli(model) if state.models is not None else MILLI
    paid: Paid[bytes] = Paid(
        state, key_id, request.state.request_id, request.url.path, record, price, model
    )
    if png is not None:
        hit = png
        return await paid.settle(request, anyio.to_thread.run_sync(paid.run, lambda: hit))

    def make(matter: Matter, image: DecodedImage) -> bytes:
        return _infer(state, matter, image, output, cache_key)

    return await produce(
        request,
        state,
        paid,
        data,
        max_bytes=settings.max_input_bytes,
        cost=output,
        make=make,
        model=model,
    )


async def sha256_hex(data: bytes) -> str:
    """Hash on the event loop when it is quick; a 10 MB upload (~10 ms) goes to a thread."""
    return await off_loop_if(len(data) > INLINE_BYTES, lambda: hashlib.sha256(data).hexdigest())


def _infer(
    state: ServerState, matter: Matter, image: DecodedImage, output: Output, cache_key: str | None
) -> bytes:
    """The model and the encode, on the job's worker thread; the PNG goes into the cache."""
    start = perf_counter()
    result: MatteResult = run_matting(image, matter)
    state.metrics.inference.observe(perf_counter() - start)
    if output == "alpha":
        png = encode_png(result.stored_matte(image.orientation))
    else:
        png = result.cutout_png()
    if cache_key is not None:
        state.results.put(cache_key, png)
    return png


def _success_headers(request: Request, charged: int | None = None) -> dict[str, str]:
    if charged is None:
        charged = getattr(request.state, "credits_charged", 1)
    return {**getattr(request.state, "extra_headers", {}), "X-Credits-Charged": str(charged)}


Render = Callable[[bytes], tuple[bytes, str]]  # png → (response body, media type)


async def _respond(
    request: Request,
    state: ServerState,
    key_id: int,
    body: bytes,
    data: bytes,
    output: Output,
    render: Render,
    model: str,
) -> Response:
    """Run the request, once per Idempotency-Key when the client sends one."""
    idem_key = request.headers.get("idempotency-key")
    if idem_key is None:
        png = await _produce(request, state, key_id, data, output, model)
        content, media_type = await off_loop_if(len(png) > INLINE_BYTES, render, png)
        return Response(content, media_type=media_type, headers=_success_headers(request))
    if not 1 <= len(idem_key) <= 200 or not idem_key.isascii() or not idem_key.isprintable():
        raise ApiError(400, "Idempotency-Key must be 1 to 200 printable ASCII characters.")
    digest = await sha256_hex(f"{request.url.path}\0{model}\0".encode() + body)
    ttl = timedelta(seconds=state.settings.idempotency_ttl_s)
    outcome, stored = await anyio.to_thread.run_sync(
        idempotency.claim, state.db, key_id, idem_key, digest, ttl
    )
    if outcome is idempotency.Claim.CONFLICT:
        raise ApiError(422, "This Idempotency-Key was already used with a different request.")
    if outcome is idempotency.Claim.IN_PROGRESS:
        raise ApiError(
            409,
            "A request with this Idempotency-Key is still running; retry shortly.",
            {"Retry-After": "1"},
        )
    if outcome is idempotency.Claim.REPLAY and stored is not None:
        headers = {**_success_headers(request, charged=0), "Idempotent-Replayed": "true"}
        return Response(
            stored.body, status_code=stored.status, media_type=stored.media_type, headers=headers
        )

    def record(png: bytes) -> Callable[[Connection], None]:
        content, media_type = render(png)
        stored = idempotency.Stored(200, media_type, content)
        return lambda conn: idempotency.complete(conn, key_id, idem_key, stored)

    try:
        png = await _produce(request, state, key_id, data, output, model, record)
    except BaseException:
        await anyio.to_thread.run_sync(idempotency.release, state.db, key_id, idem_key)
        raise
    content, media_type = await off_loop_if(len(png) > INLINE_BYTES, render, png)
    return Response(content, media_type=media_type, headers=_success_headers(request))


def _as_json(field: str) -> Render:
    # Base64 is ASCII that JSON never escapes, so the body is joined as bytes (the same bytes
    # json.dumps gives): json.dumps of an 18 MB cutout's base64 took 0.15 s, this 0.05 s.
    head, tail = f'{{{json.dumps(field)}: "'.encode(), b'"}'

    def render(png: bytes) -> tuple[bytes, str]:
        return b"".join((head, base64.b64encode(png), tail)), "application/json"

    return render


def _as_png(png: bytes) -> tuple[bytes, str]:
    return png, "image/png"


async def _json_route(
    request: Request, state: ServerState, key: ApiKey, output: Output, field: str
) -> Response:
    choose_model(request, state, key)  # a bad ?model is refused before the body is read
    limit = state.settings.max_input_bytes
    body = await read_limited(request, base64_body_limit(limit), state.settings.body_timeout_s)
    # 10 MB of base64 takes ~50 ms to parse and decode: large bodies go to a thread.
    data, named = await off_loop_if(len(body) > INLINE_BYTES, image_from_json, body, limit)
    model = choose_model(request, state, key, model_asked(request, named))
    return await _respond(request, state, key.id, body, data, output, _as_json(field), model)


async def _file_route(
    request: Request, state: ServerState, key: ApiKey, output: Output
) -> Response:
    choose_model(request, state, key)  # a bad ?model is refused before the body is read
    limit = state.settings.max_input_bytes
    body = await read_limited(request, limit + MARGIN, state.settings.body_timeout_s)
    data, named = await image_from_multipart(request, body, limit)
    model = choose_model(request, state, key, model_asked(request, named))
    return await _respond(request, state, key.id, body, data, output, _as_png, model)


@router.post(
    "/alpha-channel-base64",
    openapi_extra=_JSON_BODY,
    responses=_ERRORS,
    summary="Alpha matte of a base64 image, as base64 PNG (mode L)",
)
async def alpha_channel_base64(request: Request) -> Response:
    state, key = await authorised(request)
    return await _json_route(request, state, key, "alpha", "alpha_base64")


@router.post(
    "/alpha-channel",
    openapi_extra=_MULTIPART_BODY,
    responses=_ERRORS,
    response_class=Response,
    summary="Alpha matte of an uploaded image, as PNG (mode L)",
)
async def alpha_channel(request: Request) -> Response:
    state, key = await authorised(request)
    return await _file_route(request, state, key, "alpha")


@router.post(
    "/image-without-background-base64",
    openapi_extra=_JSON_BODY,
    responses=_ERRORS,
    summary="Cutout of a base64 image, as base64 RGBA PNG",
)
async def image_without_background_base64(request: Request) -> Response:
    state, key = await authorised(request)
    return await _json_route(request, state, key, "cutout", "img_without_background_base64")


@router.post(
    "/image-without-background",
    openapi_extra=_MULTIPART_BODY,
    responses=_ERRORS,
    response_class=Response,
    summary="Cutout of an uploaded image, as RGBA PNG",
)
async def image_without_background(request: Request) -> Response:
    state, key = await authorised(request)
    return await _file_route(request, state, key, "cutout")
