"""Base64 bodies: every form clients send decodes to the same bytes; anything else is a 4xx."""

from __future__ import annotations

import base64
import json

import pytest

from alphamatte.server.body import decode_base64
from alphamatte.server.dialects.withoutbg import image_from_json
from alphamatte.server.errors import ApiError

RAW = bytes(range(256)) * 3 + b"\xfb\xff\xfe"  # hits '+', '/' and the URL-safe '-', '_'
STANDARD = base64.b64encode(RAW)


@pytest.mark.parametrize(
    "text",
    [
        STANDARD,
        STANDARD.rstrip(b"="),  # padding left off
        base64.urlsafe_b64encode(RAW),
        b"data:image/png;base64," + STANDARD,
        b"DATA:image/jpeg;charset=x;base64," + STANDARD,
        b"  " + b"\r\n".join(STANDARD[i : i + 76] for i in range(0, len(STANDARD), 76)) + b"\n",
    ],
)
def test_every_form_of_base64_decodes_to_the_same_bytes(text: bytes) -> None:
    assert decode_base64(text, 10_000) == RAW


@pytest.mark.parametrize(
    "text",
    [b"", b"   ", b"A", b"QUJD$", b"QU=JD", "Ã©".encode(), b"data:image/png;base64,"],
)
def test_anything_else_is_422(text: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        decode_base64(text, 10_000)
    assert refused.value.status == 422


def test_too_large_is_413_before_decoding() -> None:
    with pytest.raises(ApiError) as refused:
        decode_base64(STANDARD, len(RAW) - 10)
    assert refused.value.status == 413


def test_json_body_with_a_non_ascii_value_is_422_not_a_crash() -> None:
    with pytest.raises(ApiError) as refused:
        image_from_json(json.dumps({"image_base64": "ü" * 8}).encode(), 10_000)
    assert refused.value.status == 422


def test_json_responses_are_the_bytes_json_dumps_gives() -> None:
    from alphamatte.server.routes.withoutbg import _as_json

    png = RAW * 50
    for field in ("alpha_base64", "img_without_background_base64"):
        body, media_type = _as_json(field)(png)
        assert media_type == "application/json"
        assert body == json.dumps({field: base64.b64encode(png).decode()}).encode()
        assert base64.b64decode(json.loads(body)[field]) == png
