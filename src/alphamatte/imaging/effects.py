"""One matte, many outputs: compositing and effects, all in linear light where light adds up.

Mattes are float32 in 0..1 (or uint8), photos H x W x 3 uint8 sRGB. Mixing sRGB-encoded values
directly darkens every soft edge (50 % white over black would give 128 instead of ~188), so
blends decode to linear light first and encode back at the end.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from alphamatte.imaging import filters
from alphamatte.imaging.compose import apply_alpha
from alphamatte.imaging.decontaminate import foreground_colours
from alphamatte.imaging.resize import to_uint8, to_unit_float

Colour = tuple[int, int, int]


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB (uint8, or float 0..1) to linear light, float32 0..1 (IEC 61966-2-1)."""
    v = values.astype(np.float32) / 255.0 if values.dtype == np.uint8 else values.astype(np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear light float 0..1 to sRGB uint8."""
    v = np.clip(values, 0.0, 1.0)
    encoded = np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    return to_uint8(encoded)


def parse_colour(text: str) -> Colour:
    """'#rrggbb', 'rrggbb', '#rgb' or a CSS colour name Pillow knows."""
    from PIL import ImageColor

    value = text if text.startswith("#") or not _is_hex(text) else f"#{text}"
    try:
        rgb = ImageColor.getrgb(value)
    except ValueError as exc:
        raise ValueError(f"not a colour: {text!r}") from exc
    return (rgb[0], rgb[1], rgb[2])


def _is_hex(text: str) -> bool:
    return len(text) in (3, 6) and all(c in "0123456789abcdefABCDEF" for c in text)


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop ``image`` to fill the frame (CSS ``background-size: cover``)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.LANCZOS))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top : top + height, left : left + width]


COMPOSITE_ROWS = 256  # rows blended at a time: float temporaries stay small on 50 MP frames


def composite(rgb: np.ndarray, alpha: np.ndarray, background: Colour | np.ndarray) -> np.ndarray:
    """The photo's subject over a colour or an image (covering the frame), as opaque sRGB.

    Blended a band of rows at a time: the same pixels as in one go (each is blended on its
    own), without three full-frame float32 copies (12 bytes a pixel each: 1.8 GB at 49 MP)."""
    height, width = alpha.shape[:2]
    if isinstance(background, np.ndarray):
        under = cover(background[:, :, :3], width, height)
    else:
        under = np.broadcast_to(np.array(background, np.uint8), (height, width, 3))
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, COMPOSITE_ROWS):
        rows = slice(top, top + COMPOSITE_ROWS)
        a = to_unit_float(alpha[rows])[:, :, None]
        back = srgb_to_linear(under[rows])
        out[rows] = linear_to_srgb(srgb_to_linear(rgb[rows]) * a + back * (1.0 - a))
    return out


def erode(alpha: np.ndarray, px: int) -> np.ndarray:
    """Shrink the subject by ``px`` pixels (grey-level erosion keeps soft edges soft)."""
    a = to_unit_float(alpha)
    return a if px <= 0 else filters.erode(a, px)


def dilate(alpha: np.ndarray, px: int) -> np.ndarray:
    """Grow the subject by ``px`` pixels."""
    a = to_unit_float(alpha)
    return a if px <= 0 else filters.dilate(a, px)


def feather(alpha: np.ndarray, px: float) -> np.ndarray:
    """Soften the edge so that the transition is about ``px`` pixels wider."""
    a = to_unit_float(alpha)
    if px <= 0:
        return a
    return np.asarray(np.clip(filters.gaussian_blur(a, px / 2.0), 0.0, 1.0))


def _masked_blur(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``values`` counting only pixels where ``weight`` is high.

    Normalised convolution: blur(values * weight) / blur(weight), so the subject does not smear
    into a blurred background, and the estimate reaches into the subject's area from outside.
    """
    w = weight[:, :, None] if values.ndim == 3 else weight
    num = filters.gaussian_blur(values * w, sigma)
    den = filters.gaussian_blur(weight, sigma)
    den = den[:, :, None] if values.ndim == 3 else den
    fallback = filters.gaussian_blur(values, sigma)
    return np.where(den > 1e-4, num / np.maximum(den, 1e-4), fallback).astype(np.float32)


def despill(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Pull edge colours away from the old background (see :mod:`.decontaminate`)."""
    return foreground_colours(rgb, to_unit_float(alpha))


def blurred_plate(rgb: np.ndarray, alpha: np.ndarray, radius: float) -> np.ndarray:
    """The photo's own background blurred by ``radius`` px, with the subject left out of it."""
    a = to_unit_float(alpha)
    back = _masked_blur(srgb_to_linear(rgb), (1.0 - a) ** 2, max(radius, 0.5))
    return linear_to_srgb(back)


def blur_background(rgb: np.ndarray, alpha: np.ndarray, radius: float) -> np.ndarray:
    """Portrait-style: the background blurred by ``radius`` px, the subject kept sharp.

    Public API of the effects library (the CLI's ``composite --blur`` builds the same plate
    with :func:`blurred_plate`, to put other layers on it first)."""
    return composite(rgb, alpha, blurred_plate(rgb, alpha, radius))


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff "over" of straight-alpha RGBA uint8 images, mixed in linear light.

    ``bottom`` may be RGB (opaque); the result is then RGB too.
    """
    ta = top[:, :, 3:4].astype(np.float32) / 255.0
    top_light = srgb_to_linear(top[:, :, :3])
    if bottom.shape[2] == 3:
        return linear_to_srgb(top_light * ta + srgb_to_linear(bottom) * (1.0 - ta))
    ba = bottom[:, :, 3:4].astype(np.float32) / 255.0
    out_a = ta + ba * (1.0 - ta)
    mixed = top_light * ta + srgb_to_linear(bottom[:, :, :3]) * ba * (1.0 - ta)
    colour = mixed / np.maximum(out_a, 1e-6)
    return np.dstack([linear_to_srgb(colour), to_uint8(out_a[:, :, 0])])


def _solid_layer(alpha: np.ndarray, colour: Colour) -> np.ndarray:
    height, width = alpha.shape
    solid = np.broadcast_to(np.array(colour, np.uint8), (height, width, 3))
    return np.dstack([solid, to_uint8(alpha)])


def drop_shadow(
    layer: np.ndarray,
    *,
    offset: tuple[int, int] = (12, 12),
    blur: float = 12.0,
    opacity: float = 0.5,
    colour: Colour = (0, 0, 0),
) -> np.ndarray:
    """An RGBA layer over a soft shadow of itself cast ``offset`` (dx, dy) px away."""
    a = layer[:, :, 3].astype(np.float32) / 255.0
    dx, dy = offset
    moved = filters.shift(a, int(dx), int(dy))
    shade = feather(moved, blur) * float(np.clip(opacity, 0.0, 1.0))
    return over(layer, _solid_layer(shade, colour))


def outer_glow(
    layer: np.ndarray,
    *,
    radius: float = 16.0,
    colour: Colour = (255, 255, 255),
    strength: float = 0.8,
) -> np.ndarray:
    """An RGBA layer with a halo of ``colour`` spreading about ``radius`` px outside it."""
    a = layer[:, :, 3].astype(np.float32) / 255.0
    spread = dilate(a, max(1, round(radius / 3)))
    glow = feather(spread, radius) * float(np.clip(strength, 0.0, 1.0))
    return over(layer, _solid_layer(glow, colour))


def layer(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA uint8 from a photo and a matte (uint8 or float)."""
    return apply_alpha(rgb, to_unit_float(alpha))


def css_mask_png(alpha: np.ndarray) -> bytes:
    """A PNG for CSS ``mask-image``: white pixels whose alpha channel is the matte.

    Browsers use the mask image's alpha channel by default (``mask-mode: match-source``), so a
    grayscale PNG would mask nothing; this one works as-is, and also with ``mask-mode: luminance``.
    """
    a8 = to_uint8(to_unit_float(alpha))
    white = np.full((*a8.shape, 3), 255, np.uint8)
    rgba = np.dstack([white, a8])
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
