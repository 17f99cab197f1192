"""`POST /v1.0/preview`: the uploaded photo as a JPEG any browser can show. Free.

Browsers do not all read HEIC (Chrome and Firefox do not), so the playground, which makes its
proxy and applies the matte in the page, asks the server for the photo it cannot open: upright,
at full size, its colour profile kept, through the same limits and memory admission as a matte.
Our own endpoint, in withoutbg's error dialect (it takes the same multipart ``file``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from alphamatte.imaging.decode import decode_opened, open_checked
from alphamatte.imaging.encode import encode_jpeg
from alphamatte.server.body import MARGIN, read_limited
from alphamatte.server.deps import authorised
from alphamatte.server.dialects.withoutbg import image_from_multipart
from alphamatte.server.openapi import BINARY, errors, obj, request_body

router = APIRouter(prefix="/v1.0", tags=["matting"])
PREVIEW_QUALITY = 92

_ERRORS = errors(
    {
        400: "Malformed request",
        401: "Missing or invalid API key",
        413: "Input too large",
        415: "Unsupported image format",
        422: "Corrupt image",
        429: "Rate limit exceeded",
        503: "Busy",
    },
    obj({"detail": {"type": "string"}}),
)


@router.post(
    "/preview",
    openapi_extra=request_body(multipart=obj({"file": BINARY}, ["file"])),
    responses=_ERRORS,
    response_class=Response,
    summary="The uploaded photo as a JPEG a browser can show (upright, its profile kept); free",
)
async def preview(request: Request) -> Response:
    state, _ = await authorised(request)
    settings = state.settings
    limit = settings.max_input_bytes
    body = await read_limited(request, limit + MARGIN, settings.body_timeout_s)
    data, _ = await image_from_multipart(request, body, limit)
    opened = await state.executor.run(
        lambda: open_checked(data, max_bytes=limit, max_pixels=settings.max_pixels)
    )
    try:
        # A decode and a JPEG of the photo: less than a matte costs, admitted as one.
        needed = state.memory.cost(*opened.size, "alpha") + 2 * len(data)
        async with state.memory.admit(needed):

            def make() -> bytes:
                image = decode_opened(opened, max_pixels=settings.max_pixels)
                upright = image.upright()
                return encode_jpeg(upright, quality=PREVIEW_QUALITY, icc_profile=image.icc_profile)

            jpeg = await state.executor.run(make)
    finally:
        opened.close()
    return Response(jpeg, media_type="image/jpeg", headers={"X-Credits-Charged": "0"})
