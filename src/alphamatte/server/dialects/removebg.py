"""remove.bg's request, read as its clients send it: fields, sizes, prices, formats.

Clients send every field as a string, in a multipart form, a JSON object or a urlencoded body,
and many send unset fields as ``""``: an empty field means absent. What a field may hold, and
which remove.bg codes a bad value gets, is decided here before any pixel is decoded; what
depends on the photo (``roi`` against its size) is checked once its header is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from PIL import Image

from alphamatte.imaging.colour import COLOUR_PROFILES
from alphamatte.imaging.decode import DecodedImage, decode, open_checked
from alphamatte.imaging.errors import ImageError
from alphamatte.imaging.layout import LayoutError
from alphamatte.imaging.product_shot import ProductOptions
from alphamatte.product.make import FORMATS, ProductSpec
from alphamatte.server.accounting.amounts import MILLI
from alphamatte.server.body import decode_base64
from alphamatte.server.errors import ApiError

# Output size caps in pixels (remove.bg's names; ``auto`` gives the largest it serves).
SIZES: dict[str, int] = {
    "preview": 250_000,
    "small": 250_000,
    "regular": 250_000,
    "medium": 1_500_000,
    "hd": 4_000_000,
    "full": 25_000_000,
    "4k": 25_000_000,
    "auto": 25_000_000,
    "50mp": 50_000_000,
}
PREVIEW_SIZES = frozenset({"preview", "small", "regular"})
PRICES_MILLI = {"preview": MILLI // 4, "other": MILLI}  # 0.25 credits, 1 credit
# Every value remove.bg's clients send ("graphic" is an older spelling); the model finds the
# subject itself, so each is accepted and none changes the result.
TYPES = frozenset(
    {
        "auto",
        "person",
        "product",
        "animal",
        "car",
        "car_interior",
        "car_part",
        "transportation",
        "graphics",
        "graphic",
        "other",
    }
)
TYPE_LEVELS = frozenset({"none", "latest", "1", "2"})
SOURCES = ("image_file", "image_file_b64", "image_url")
SHADOWS = ("none", "drop", "car", "3d")
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})


def bad(code: str, detail: str) -> ApiError:
    return ApiError(400, detail, code=code)


@dataclass(frozen=True)
class RemoveBgRequest:
    image: bytes  # empty until ``url`` is fetched
    url: str | None
    background: bytes | None  # an uploaded (or fetched) background image, not decoded yet
    background_url: str | None
    size: str  # lower-case key of SIZES
    format: str  # auto | png | jpg | webp | zip
    roi: str | None
    options: ProductOptions  # format "png" when ``format`` is auto: decided once laid out
    model: str | None = None  # our extension: the model to run (unset: the key's or server's)

    @property
    def max_pixels(self) -> int:
        return SIZES[self.size]

    @property
    def spec(self) -> ProductSpec:
        return ProductSpec(self.max_pixels, self.format, replace(self.options, roi=self.roi))

    def open_background(self, max_pixels: int) -> Image.Image:
        """The background's header, checked like the photo's; a bad one is a 400."""
        assert self.background is not None
        try:
            return open_checked(
                self.background, max_bytes=len(self.background), max_pixels=max_pixels
            )
        except ImageError as exc:
            raise bad("invalid_bg_image", f"bg_image_file: {exc}") from exc

    def decoded_background(self, max_pixels: int) -> DecodedImage | None:
        """The background image, decoded with its colour profile; None without one."""
        if self.background is None:
            return None
        try:
            return decode(self.background, max_bytes=len(self.background), max_pixels=max_pixels)
        except ImageError as exc:
            raise bad("invalid_bg_image", f"bg_image_file: {exc}") from exc

    @property
    def price_milli(self) -> int:
        return PRICES_MILLI["preview" if self.size in PREVIEW_SIZES else "other"]


def fields_of(content_type: str, body: bytes) -> tuple[dict[str, str], bytes | None]:
    """The text fields of a JSON or urlencoded body (a multipart one is read by the route):
    empty values dropped. The second value is an uploaded file, never in these bodies."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise bad("invalid_request", "The body is not valid JSON.") from exc
        if not isinstance(parsed, dict):
            raise bad("invalid_request", "The JSON body must be an object of fields.")
        return _present({str(k): v for k, v in parsed.items()}), None
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad("invalid_request", "The form body cannot be read.") from exc
        return _present(dict(pairs)), None
    raise bad(
        "invalid_request",
        "Send multipart/form-data, application/json or application/x-www-form-urlencoded.",
    )


def _present(fields: Mapping[str, object]) -> dict[str, str]:
    """Fields as strings, without the empty ones; booleans and numbers as their text."""
    found: dict[str, str] = {}
    for name, value in fields.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            found[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            found[name] = str(value)
        else:
            raise bad("invalid_request", f"Field {name!r} must be a string.")
    return found


def read_request(
    fields: Mapping[str, str],
    upload: bytes | None,
    max_image_bytes: int,
    *,
    urls: bool = False,
    background: bytes | None = None,
) -> RemoveBgRequest:
    """Check every field; the source image's bytes (not decoded yet), or its URL when this
    server fetches URLs (``urls``), with the options."""
    image, url = _source(fields, upload, max_image_bytes, urls=urls)
    if "bg_image_url" in fields and not urls:
        raise bad(
            "url_fetch_disabled", "This server does not fetch bg_image_url: upload bg_image_file."
        )
    if "bg_image_url" in fields and background is not None:
        raise bad("multiple_backgrounds", "Send bg_image_url or bg_image_file, not both.")
    size = fields.get("size", "auto").strip().lower()
    if size not in SIZES:
        raise bad("invalid_size", f"size must be one of {', '.join(sorted(SIZES))}.")
    _choice(fields, "type", TYPES, "invalid_type")
    _choice(fields, "type_level", TYPE_LEVELS, "invalid_type_level")
    fmt = _choice(fields, "format", frozenset(FORMATS), "invalid_format") or "auto"
    channels = _choice(fields, "channels", frozenset({"rgba", "alpha"}), "invalid_channels")
    shadow = fields.get("shadow_type", "none").strip().lower()
    if shadow not in SHADOWS:
        raise bad("invalid_shadow_type", f"shadow_type must be one of {', '.join(SHADOWS)}.")
    if shadow in ("car", "3d"):  # accepted as remove.bg does; not rendered (docs/api.md)
        shadow = "none"
    if _flag(fields, "add_shadow"):  # the deprecated switch: a drop shadow
        shadow = "drop"
    opacity = _percent(fields.get("shadow_opacity", "50"))
    # Our extension: "keep" (the photo's colours and ICC profile) or "srgb" (rendered to sRGB).
    colour = _choice(fields, "color_profile", frozenset(COLOUR_PROFILES), "invalid_color_profile")
    _flag(fields, "semitransparency")  # checked; soft edges are always kept
    options = ProductOptions(
        crop=_flag(fields, "crop"),
        crop_margin=fields.get("crop_margin"),
        scale=fields.get("scale"),
        position=fields.get("position"),
        bg_color=_colour(fields.get("bg_color")),
        channels=channels or "rgba",
        format="png" if fmt == "auto" else fmt,
        shadow=None if shadow == "none" else shadow,
        shadow_opacity=opacity,
        color_profile=colour or "keep",
    )
    try:
        options.check()
    except LayoutError as exc:
        raise bad(exc.code, str(exc)) from exc
    if background is not None and options.bg_color is not None:
        raise bad("multiple_backgrounds", "Send bg_color or bg_image_file, not both.")
    background_url = fields.get("bg_image_url")
    if background_url is not None and options.bg_color is not None:
        raise bad("multiple_backgrounds", "Send bg_color or bg_image_url, not both.")
    model = fields.get("model")
    if model is not None and (len(model) > 100 or not model.isprintable()):
        raise bad("invalid_model", "model must be a model name this server serves.")
    return RemoveBgRequest(
        image, url, background, background_url, size, fmt, fields.get("roi"), options, model
    )


@dataclass(frozen=True)
class Improvement:
    """A ``POST /v1.0/improve`` submission: the image (or its URL), its name and tag."""

    image: bytes  # empty until ``url`` is fetched
    url: str | None
    filename: str
    tag: str


def read_improvement(
    fields: Mapping[str, str], upload: bytes | None, max_image_bytes: int, *, urls: bool = False
) -> Improvement:
    """Check a submission's fields: one image source, an optional file name and tag."""
    image, url = _source(fields, upload, max_image_bytes, urls=urls)
    return Improvement(image, url, _text(fields, "image_filename"), _text(fields, "tag"))


def _text(fields: Mapping[str, str], name: str) -> str:
    """A free-text field kept for the operator: valid Unicode (a lone surrogate, which JSON
    allows and no database stores, is refused), at most 255 characters."""
    value = fields.get(name, "")[:255]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("invalid_request", f"{name} is not valid Unicode text.") from None
    if "\x00" in value:
        raise bad("invalid_request", f"{name} may not contain NUL characters.")
    return value


def _source(
    fields: Mapping[str, str], upload: bytes | None, max_image_bytes: int, *, urls: bool
) -> tuple[bytes, str | None]:
    """The image's bytes (empty when it is to be fetched) and its URL, from exactly one of
    image_file, image_file_b64 and image_url."""
    sources = [name for name in SOURCES if name in fields or (name == "image_file" and upload)]
    if not sources:
        raise bad("missing_source", "Send one of image_file, image_file_b64 or image_url.")
    if len(sources) > 1:
        raise bad("multiple_sources", f"Send one image source, not {' and '.join(sources)}.")
    if sources[0] == "image_url" and not urls:
        raise bad("url_fetch_disabled", "This server does not fetch image_url: upload the image.")
    url = fields.get("image_url")
    if url is not None:
        return b"", url
    if sources[0] == "image_file":
        if upload is None:
            raise bad("invalid_request", "image_file must be an uploaded file.")
        image = upload
    else:
        text = fields["image_file_b64"].encode("ascii", "replace")
        image = decode_base64(text, max_image_bytes, field="image_file_b64")
    if len(image) > max_image_bytes:
        raise bad("file_too_large", f"The image is larger than {max_image_bytes:,} bytes.")
    return image, None


def _choice(fields: Mapping[str, str], name: str, allowed: frozenset[str], code: str) -> str:
    value = fields.get(name, "").strip().lower()
    if value and value not in allowed:
        raise bad(code, f"{name} must be one of {', '.join(sorted(allowed))}.")
    return value


def _percent(value: str) -> float:
    try:
        number = float(value.strip().rstrip("%"))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise bad("invalid_shadow_opacity", "shadow_opacity must be 0 to 100.")
    return number / 100


def _flag(fields: Mapping[str, str], name: str) -> bool:
    value = fields.get(name, "false").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise bad("invalid_request", f"{name} must be true or false.")


def _colour(value: str | None) -> str | None:
    """remove.bg's colours: hex of 3, 4, 6 or 8 digits (the alpha digits are not used: the
    background is opaque) or a colour name."""
    if value is None:
        return None
    text = value.strip().lstrip("#")
    if len(text) in (4, 8) and all(c in "0123456789abcdefABCDEF" for c in text):
        text = text[: len(text) * 3 // 4]
    return text
