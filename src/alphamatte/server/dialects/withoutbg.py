"""withoutbg's requests: ``image_base64`` in a JSON body, or the ``file`` of a multipart one."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from alphamatte.server.body import decode_base64
from alphamatte.server.errors import ApiError


def image_from_json(body: bytes, max_image_bytes: int) -> bytes:
    """Decoded bytes of ``image_base64`` (or the legacy ``image``) from a JSON body."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "Request body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "Request body must be a JSON object with an image_base64 field.")
    value = payload.get("image_base64", payload.get("image"))
    if value is None:
        raise ApiError(400, "Field image_base64 is required.")
    if not isinstance(value, str):
        raise ApiError(400, "Field image_base64 must be a string.")
    return decode_base64(value.encode("ascii", "replace"), max_image_bytes)


async def image_from_multipart(request: Request, body: bytes, max_image_bytes: int) -> bytes:
    """The ``file`` field of a multipart body that has already been read within limits."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(400, "Send the image as multipart/form-data with a 'file' field.")

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=4, max_fields=16, max_part_size=1024 * 1024
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, f"Malformed multipart body: {exc.message}") from exc
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "Multipart field 'file' is required.")
        data = await upload.read()
    finally:
        await form.close()
    if len(data) > max_image_bytes:
        raise ApiError(413, f"Image is larger than {max_image_bytes:,} bytes.")
    return data
