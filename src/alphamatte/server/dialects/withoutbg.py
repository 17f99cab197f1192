"""withoutbg's requests: ``image_base64`` in a JSON body, or the ``file`` of a multipart one."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from alphamatte.server.body import decode_base64
from alphamatte.server.errors import ApiError


def image_from_json(body: bytes, max_image_bytes: int) -> tuple[bytes, str | None]:
    """Decoded bytes of ``image_base64`` (or the legacy ``image``) from a JSON body, and its
    ``model`` field if it has one."""
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
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise ApiError(400, "Field model must be a string.")
    return decode_base64(value.encode("ascii", "replace"), max_image_bytes), model


def model_asked(request: Request, field: str | None) -> str | None:
    """The body's ``model`` field, refused (400) when the ``model`` query parameter names
    another (``choose_model`` falls back to the query parameter when there is no field)."""
    query = request.query_params.get("model")
    if field is not None and query is not None and field.strip() != query.strip():
        raise ApiError(400, "The model field and the model query parameter differ.")
    return field


async def image_from_multipart(
    request: Request, body: bytes, max_image_bytes: int
) -> tuple[bytes, str | None]:
    """The ``file`` field of a multipart body that has already been read within limits (one:
    two are refused rather than the last winning), and its ``model`` field if it has one."""
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
    try:
        files = form.getlist("file")
        models = form.getlist("model")
        names = [model for model in models if isinstance(model, str)]
        if len(files) > 1:
            raise ApiError(400, "Send one 'file' field, not several.")
        if len(models) > 1 or len(names) != len(models):
            raise ApiError(400, "Send the model field once, as text.")
        upload = files[0] if files else None
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "Multipart field 'file' is required.")
        data = await upload.read()
    finally:
        await form.close()
    if len(data) > max_image_bytes:
        raise ApiError(413, f"Image is larger than {max_image_bytes:,} bytes.")
    return data, names[0] if names else None
