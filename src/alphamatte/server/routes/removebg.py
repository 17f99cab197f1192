"""remove.bg's API on our engine, keys, credits and limits: `POST /v1.0/removebg`,
`GET /v1.0/account` and `POST /v1.0/improve`. Errors answer in remove.bg's dialect
(server/errors.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from alphamatte.engine.inference.matting import Matter
from alphamatte.imaging.decode import DecodedImage, open_checked
from alphamatte.imaging.encode import MEDIA_TYPES
from alphamatte.imaging.layout import Box
from alphamatte.product.make import Product, capped_size, check_writable, make_product
from alphamatte.server.accounting import improvements
from alphamatte.server.accounting.amounts import MILLI, from_milli
from alphamatte.server.accounting.keys import ApiKey
from alphamatte.server.admission import background_cost
from alphamatte.server.billing import Paid
from alphamatte.server.body import MARGIN, base64_body_limit, read_limited
from alphamatte.server.deps import (
    INLINE_BYTES,
    Key,
    State,
    authenticated_key,
    get_state,
    megapixels_left,
    off_loop_if,
    spend_megapixels,
)
from alphamatte.server.dialects.removebg import (
    RemoveBgRequest,
    bad,
    fields_of,
    read_improvement,
    read_request,
)
from alphamatte.server.errors import INVALID_KEY, ApiError
from alphamatte.server.openapi import BINARY, errors, obj, request_body
from alphamatte.server.production import choose_model, produce
from alphamatte.server.state import ServerState
from alphamatte.server.url_fetch import allowed_hosts, fetch_image

router = APIRouter(prefix="/v1.0", tags=["remove.bg"])

_FIELDS = {
    name: {"type": "string", "description": text}
    for name, text in (
        ("image_file_b64", "Base64 of the image (or upload image_file)"),
        ("image_url", "Fetched only from ALPHAMATTE_REMOVEBG_URL_HOSTS (off by default)"),
        ("size", "preview|small|regular (0.25 MP, 0.25 credits), medium, hd, full, 4k, 50MP, auto"),
        ("type", "Accepted; the model finds the subject itself"),
        ("type_level", "Accepted; the model finds the subject itself"),
        ("format", "auto (PNG if transparent, else JPG), png, jpg, webp, zip"),
        ("roi", "x1 y1 x2 y2 in px or %: only that region can be foreground"),
        ("crop", "true: crop to the subject"),
        ("crop_margin", "1, 2 or 4 values in px or % of the subject"),
        ("scale", "10%-100% or original"),
        ("position", "original, center, N% or H% V%"),
        ("channels", "rgba or alpha"),
        ("bg_color", "hex (3, 4, 6 or 8 digits) or a colour name"),
        ("semitransparency", "Accepted; soft edges are always kept"),
        ("color_profile", "keep (default: the photo's colours and ICC profile) or srgb"),
    )
}
_BODY = request_body(
    multipart=obj({"image_file": BINARY, **_FIELDS}), json=obj(_FIELDS), form=obj(_FIELDS)
)
_ERRORS = errors(
    {
        400: "Invalid parameters or input image ({'errors': [{title, code, detail}]})",
        402: "Insufficient credits",
        403: "Authentication failed",
        429: "Rate limit exceeded (Retry-After)",
        503: "Busy",
    }
)


async def _multipart(
    request: Request, body: bytes, limit: int
) -> tuple[dict[str, str], bytes | None, bytes | None]:
    """Text fields (empty ones dropped), the image_file upload and the bg_image_file upload."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=2, max_fields=32, max_part_size=limit + MARGIN
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise bad("invalid_request", f"Malformed multipart body: {exc.message}") from exc
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            if name in files or (name in fields and value != ""):
                # Two values for one field: refuse rather than let the last one win.
                code = "multiple_sources" if name == "image_file" else "invalid_request"
                raise bad(code, f"Send {name} once.")
            if isinstance(value, UploadFile):
                if name in ("image_file", "bg_image_file"):
                    files[name] = await value.read()
            elif value != "":
                fields[name] = value
    finally:
        await form.close()
    return fields, files.get("image_file"), files.get("bg_image_file")


async def _body(
    request: Request, state: ServerState
) -> tuple[dict[str, str], bytes | None, bytes | None]:
    """The body's text fields, its image_file and its bg_image_file, within the limits."""
    limit = state.settings.removebg_max_input_bytes
    body = await read_limited(
        request, base64_body_limit(limit) + MARGIN, state.settings.body_timeout_s
    )
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return await _multipart(request, body, limit)
    fields, upload = fields_of(content_type, body)
    return fields, upload, None


async def _read(request: Request, state: ServerState) -> RemoveBgRequest:
    """The request's fields, checked, with its images' bytes (fetched when given as URLs)."""
    fields, upload, background = await _body(request, state)
    limit = state.settings.removebg_max_input_bytes
    hosts = allowed_hosts(state.settings.removebg_url_hosts)
    asked = read_request(fields, upload, limit, urls=bool(hosts), background=background)
    timeout = state.settings.removebg_url_timeout_s
    if asked.url is not None:
        image = await fetch_image(asked.url, hosts=hosts, max_bytes=limit, timeout_s=timeout)
        asked = replace(asked, image=image)
    if asked.background_url is not None:
        under = await fetch_image(
            asked.background_url, hosts=hosts, max_bytes=limit, timeout_s=timeout
        )
        asked = replace(asked, background=under)
    return asked


@router.post(
    "/removebg",
    openapi_extra=_BODY,
    responses=_ERRORS,
    response_class=Response,
    summary="remove.bg-compatible cutout (an image, or JSON with Accept: application/json)",
)
@router.post("/removebg/", include_in_schema=False, response_class=Response)
async def removebg(request: Request) -> Response:
    state = get_state(request)
    key = await authenticated_key(request, state, recent=state.recent_keys)
    await megapixels_left(request, state, key)
    asked = await _read(request, state)
    model = choose_model(request, state, key, asked.model)
    made = await _produce(request, state, key, asked, model)
    return await _answer(request, asked, made)


async def _answer(request: Request, asked: RemoveBgRequest, made: Product) -> Response:
    charged = getattr(request.state, "credits_charged", 0)
    foreground = made.foreground or Box(0, 0, 0, 0)
    headers = {
        **getattr(request.state, "extra_headers", {}),
        "X-Credits-Charged": str(charged),
        "X-Width": str(made.width),
        "X-Height": str(made.height),
        "X-Foreground-Top": str(foreground.top),
        "X-Foreground-Left": str(foreground.left),
        "X-Foreground-Width": str(foreground.width),
        "X-Foreground-Height": str(foreground.height),
    }
    if "application/json" not in request.headers.get("accept", "").lower():
        return Response(made.data, media_type=MEDIA_TYPES[made.format], headers=headers)
    # Base64 is ASCII that JSON never escapes, so the body is joined as bytes.
    head = b'{"data": {"result_b64": "'
    tail = json.dumps(
        {
            "foreground_top": foreground.top,
            "foreground_left": foreground.left,
            "foreground_width": foreground.width,
            "foreground_height": foreground.height,
        }
    ).encode()

    def as_json() -> bytes:
        return b"".join((head, base64.b64encode(made.data), b'", ', tail[1:], b"}"))

    # A full-size cutout's base64 takes tens of ms: off the event loop when large.
    content = await off_loop_if(len(made.data) > INLINE_BYTES, as_json)
    return Response(content, media_type="application/json", headers=headers)


async def _produce(
    request: Request, state: ServerState, key: ApiKey, asked: RemoveBgRequest, model: str
) -> Product:
    """The one procedure (server/production.py), with remove.bg's checks on the header: the
    background's header, a format that can hold the result, the megapixels to spend."""
    settings = state.settings
    spec = asked.spec

    async def checks(opened: Image.Image, admitted: AsyncExitStack) -> int:
        check_writable(spec, *opened.size)
        out_w, out_h = capped_size(*opened.size, spec.max_pixels)
        await spend_megapixels(request, state, key, out_w * out_h)
        if asked.background is None:
            return 0
        under = await state.executor.run(lambda: asked.open_background(settings.max_pixels))
        admitted.callback(under.close)
        return background_cost(under.size, (out_w, out_h)) + 2 * len(asked.background)

    def make(matter: Matter, image: DecodedImage) -> Product:
        backdrop = asked.decoded_background(settings.max_pixels)
        return make_product(matter, image, spec, backdrop)

    # remove.bg's price for the size (a preview costs a quarter), times the model's.
    price = asked.price_milli * (state.models.price_milli(model) if state.models else MILLI)
    paid: Paid[Product] = Paid(
        state, key.id, request.state.request_id, request.url.path, None, price // MILLI, model
    )
    return await produce(
        request,
        state,
        paid,
        asked.image,
        max_bytes=len(asked.image),
        cost="cutout",
        make=make,
        model=model,
        checks=checks,
    )


@router.get("/account", summary="remove.bg's account view of this key's credits")
async def account(state: State, key: Key) -> dict[str, Any]:
    total = from_milli(key.milli)
    return {
        "data": {
            "attributes": {
                "credits": {"total": total, "subscription": 0, "payg": total, "enterprise": 0},
                "api": {"free_calls": 0, "sizes": "all"},
            }
        }
    }


@router.post(
    "/improve",
    responses=_ERRORS,
    summary="remove.bg's 'help us improve': keep an image (and a tag) for the operator",
)
@router.post("/improve/", include_in_schema=False)
async def improve(request: Request) -> dict[str, str]:
    state = get_state(request)
    # Looked up every time (no key cache): storing images is not for a key revoked a moment ago.
    key = await authenticated_key(request, state, recent=None)
    cap = state.settings.improve_daily_cap
    if cap == 0:
        raise bad("improve_disabled", "This server does not keep improvement submissions.")
    fields, upload, _ = await _body(request, state)
    limit = state.settings.removebg_max_input_bytes
    hosts = allowed_hosts(state.settings.removebg_url_hosts)
    asked = read_improvement(fields, upload, limit, urls=bool(hosts))
    image = asked.image
    if asked.url is not None:
        timeout = state.settings.removebg_url_timeout_s
        image = await fetch_image(asked.url, hosts=hosts, max_bytes=limit, timeout_s=timeout)

    def keep() -> str:
        # Only images are kept: the header is read (and the pixel count checked) first.
        open_checked(image, max_bytes=limit, max_pixels=state.settings.max_pixels).close()
        try:
            return improvements.submit(
                state.db,
                key.id,
                image,
                filename=asked.filename,
                tag=asked.tag,
                daily_cap=cap,
                daily_bytes=state.settings.improve_daily_mb * 1024 * 1024,
            )
        except improvements.DailyCapError as exc:
            raise ApiError(
                429, f"Improvement submissions: {exc}.", {"Retry-After": "3600"}
            ) from exc
        except improvements.NotInGoodStandingError as exc:
            raise ApiError(402, f"Improvement submissions: {exc}.") from exc
        except improvements.RevokedError as exc:
            raise ApiError(401, INVALID_KEY) from exc

    return {"id": await state.executor.run(keep)}
