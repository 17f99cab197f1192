"""remove.bg's API on our engine, keys, credits and limits: `POST /v1.0/removebg` and
`GET /v1.0/account`. Errors answer in remove.bg's dialect (server/errors.py)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from alphamatte.engine.matting import Matter
from alphamatte.imaging.compose import apply_alpha, cutout
from alphamatte.imaging.decode import DecodedImage, decode, decode_opened, open_checked
from alphamatte.imaging.encode import MEDIA_TYPES, encode_zip
from alphamatte.imaging.errors import ImageError
from alphamatte.imaging.layout import Box, LayoutError, parse_roi, subject_box
from alphamatte.imaging.product import encode_laid_out, lay_out
from alphamatte.imaging.resize import resize_image, to_uint8
from alphamatte.server.accounting.amounts import from_milli
from alphamatte.server.body import MARGIN, base64_body_limit, read_limited
from alphamatte.server.deps import Key, State, off_loop_if
from alphamatte.server.errors import ApiError
from alphamatte.server.removebg import RemoveBgRequest, bad, fields_of, read_request
from alphamatte.server.routes.matte import INLINE_BYTES, Paid, authorised
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
    )
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image_file": {"type": "string", "format": "binary"},
                        **_FIELDS,
                    },
                }
            },
            "application/json": {"schema": {"type": "object", "properties": _FIELDS}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": _FIELDS}
            },
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text}
    for code, text in (
        (400, "Invalid parameters or input image ({'errors': [{title, code, detail}]})"),
        (402, "Insufficient credits"),
        (403, "Authentication failed"),
        (429, "Rate limit exceeded (Retry-After)"),
        (503, "Busy"),
    )
}


@dataclass
class _Result:
    """What the worker thread made, besides the body: for the headers and the JSON answer."""

    width: int = 0
    height: int = 0
    foreground: Box | None = None
    format: str = "png"


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
    upload: bytes | None = None
    background: bytes | None = None
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name == "image_file":
                    upload = await value.read()
                elif name == "bg_image_file":
                    background = await value.read()
            elif value != "":
                fields[name] = value
    finally:
        await form.close()
    return fields, upload, background


@router.post(
    "/removebg",
    openapi_extra=_BODY,
    responses=_ERRORS,
    response_class=Response,
    summary="remove.bg-compatible cutout (an image, or JSON with Accept: application/json)",
)
async def removebg(request: Request) -> Response:
    state, key = await authorised(request)
    limit = state.settings.removebg_max_input_bytes
    body = await read_limited(
        request, base64_body_limit(limit) + MARGIN, state.settings.body_timeout_s
    )
    content_type = request.headers.get("content-type", "")
    background: bytes | None = None
    if content_type.lower().startswith("multipart/form-data"):
        fields, upload, background = await _multipart(request, body, limit)
    else:
        fields, upload = fields_of(content_type, body)
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
    result = _Result()
    data = await _produce(request, state, key.id, asked, result)
    charged = getattr(request.state, "credits_charged", 0)
    headers = {
        **getattr(request.state, "extra_headers", {}),
        "X-Credits-Charged": str(from_milli(asked.price_milli) if charged else 0),
        "X-Width": str(result.width),
        "X-Height": str(result.height),
    }
    foreground = result.foreground or Box(0, 0, 0, 0)
    headers.update(
        {
            "X-Foreground-Top": str(foreground.top),
            "X-Foreground-Left": str(foreground.left),
            "X-Foreground-Width": str(foreground.width),
            "X-Foreground-Height": str(foreground.height),
        }
    )
    if "application/json" in request.headers.get("accept", "").lower():

        def as_json() -> bytes:
            answer = {
                "data": {
                    "result_b64": base64.b64encode(data).decode("ascii"),
                    "foreground_top": foreground.top,
                    "foreground_left": foreground.left,
                    "foreground_width": foreground.width,
                    "foreground_height": foreground.height,
                }
            }
            return json.dumps(answer).encode()

        # A full-size cutout's base64 takes tens of ms: off the event loop when large.
        content = await off_loop_if(len(data) > INLINE_BYTES, as_json)
        return Response(content, media_type="application/json", headers=headers)
    return Response(data, media_type=MEDIA_TYPES[result.format], headers=headers)


async def _produce(
    request: Request, state: ServerState, key_id: int, asked: RemoveBgRequest, result: _Result
) -> bytes:
    """Admit by memory → decode → reserve the price → matte and render → charge."""
    settings = state.settings
    matter = state.matter
    if matter is None:
        raise ApiError(503, "The model is still loading; retry shortly.", {"Retry-After": "5"})
    paid = Paid(state, key_id, request.state.request_id, request.url.path, None, asked.price_milli)
    async with AsyncExitStack() as admitted:

        def open_header() -> Image.Image:
            return open_checked(
                asked.image, max_bytes=len(asked.image), max_pixels=settings.max_pixels
            )

        opened = await state.executor.run(open_header)
        admitted.callback(opened.close)
        cost = state.memory.cost(*opened.size, "cutout") + 2 * len(asked.image)
        await admitted.enter_async_context(state.memory.admit(cost))

        def work() -> tuple[bytes, bool]:
            image = decode_opened(opened, max_pixels=settings.max_pixels)
            under = _background(asked.background, settings.max_pixels)
            return paid.run(lambda: _render(matter, image, asked, result, under))

        data = await paid.settle(request, state.executor.run(work))
    return data


def _background(data: bytes | None, max_pixels: int) -> np.ndarray | None:
    """The uploaded background image, upright RGB; a bad one is the client's 400."""
    if data is None:
        return None
    try:
        return decode(data, max_bytes=len(data), max_pixels=max_pixels).upright()
    except ImageError as exc:
        raise bad("invalid_bg_image", f"bg_image_file: {exc}") from exc


def _render(
    matter: Matter,
    image: DecodedImage,
    asked: RemoveBgRequest,
    result: _Result,
    background: np.ndarray | None = None,
) -> bytes:
    """On the worker thread: the photo at the size asked, matted (in ``roi`` only), cut out,
    laid out and encoded."""
    rgb = image.upright()
    height, width = rgb.shape[:2]
    try:
        roi = parse_roi(asked.roi, width, height) if asked.roi else None
    except LayoutError as exc:
        raise bad(exc.code, str(exc)) from exc
    if width * height > asked.max_pixels:
        factor = math.sqrt(asked.max_pixels / (width * height))
        new_w, new_h = max(1, math.floor(width * factor)), max(1, math.floor(height * factor))
        rgb = resize_image(rgb, new_w, new_h)
        if roi is not None:
            roi = _scaled(roi, new_w / width, new_h / height)
        width, height = new_w, new_h
    if roi is None:
        alpha = matter.predict_float(rgb)
    else:
        # The model sees only the region: more of its pixels go to a small subject, and
        # nothing outside can be foreground.
        alpha = np.zeros((height, width), np.float32)
        region = np.ascontiguousarray(rgb[roi.top : roi.bottom, roi.left : roi.right])
        alpha[roi.top : roi.bottom, roi.left : roi.right] = matter.predict_float(region)
    options = asked.options
    if options.format == "zip" and not (
        options.crop or options.scale or options.position or options.shadow
    ):
        # Nothing to lay out: the photo and its matte go into the archive as they are.
        matte = to_uint8(alpha)
        result.format, result.width, result.height = "zip", width, height
        result.foreground = subject_box(matte)
        return encode_zip(rgb, matte)
    # Edge colours are estimated (decontaminated) only where we composite them: a zip's
    # color.jpg is the photo's own colours, for clients that composite themselves, and an alpha
    # channel has no colours. On a 12 MP photo of fur the estimate took 2.4 s, the matte 0.7 s.
    plain = options.format == "zip" or options.channels == "alpha"
    rgba = apply_alpha(rgb, alpha) if plain else cutout(rgb, alpha)
    laid_out = lay_out(rgba, options)
    fmt = asked.format
    if fmt == "auto":
        opaque = (
            options.bg_color is not None
            or background is not None
            or bool(laid_out[..., 3].min() == 255)
        )
        fmt = "jpg" if opaque and options.channels == "rgba" else "png"
    result.format = fmt
    result.height, result.width = laid_out.shape[:2]
    result.foreground = subject_box(laid_out[..., 3])
    return encode_laid_out(laid_out, replace(options, format=fmt), background=background)


def _scaled(box: Box, sx: float, sy: float) -> Box:
    left, top = math.floor(box.left * sx), math.floor(box.top * sy)
    right = max(left + 1, math.ceil(box.right * sx))
    bottom = max(top + 1, math.ceil(box.bottom * sy))
    return Box(left, top, right, bottom)


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
