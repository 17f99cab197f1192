"""A finished product from a photo: the engine's matte (inside a region of interest, at a
capped size), cut out, laid out and written in the format asked.

This is what remove.bg's endpoint serves, and what any caller means by "a product shot of this
photo": the route parses and bills, this module makes. Everything a photo could make
impossible to write (a side past an encoder's limit) is checked from its size before the model
runs, with :func:`check_writable`, and again once laid out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from alphamatte.engine.matting import Matter
from alphamatte.imaging.compose import apply_alpha, cutout
from alphamatte.imaging.encode import MAX_SIDE, encode_zip, fits
from alphamatte.imaging.layout import Box, LayoutError, parse_roi, subject_box
from alphamatte.imaging.product import ProductOptions, encode_laid_out, lay_out
from alphamatte.imaging.resize import resize_image, to_uint8

FORMATS = ("auto", "png", "jpg", "webp", "zip")


@dataclass(frozen=True)
class ProductSpec:
    """What to make of a photo."""

    max_pixels: int  # the photo is scaled down to at most this many pixels first
    format: str  # one of FORMATS; "auto": JPEG when the result is opaque, else PNG
    options: ProductOptions  # its ``format`` is ignored: ``format`` above decides
    roi: str | None = None  # "x1 y1 x2 y2": the model sees only this region


@dataclass(frozen=True)
class Product:
    data: bytes
    format: str  # png | jpg | webp | zip: what ``data`` is
    width: int
    height: int
    foreground: Box | None  # the subject's box in the result; None when there is none


def capped_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (aspect kept) to at most ``max_pixels``."""
    if width * height <= max_pixels:
        return width, height
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))


def check_writable(spec: ProductSpec, width: int, height: int) -> None:
    """Refuse, before any work, a format that cannot hold the result of a ``width`` x
    ``height`` photo. A crop's size depends on the subject: it is checked once laid out."""
    if spec.format == "auto" or spec.options.crop:
        return  # auto falls back to PNG; see _written
    _check(spec.format, *capped_size(width, height, spec.max_pixels))


def _check(fmt: str, width: int, height: int) -> None:
    if not fits(fmt, width, height):
        raise LayoutError(
            "output_too_large",
            f"A {width}x{height} result cannot be written as {fmt} (at most {MAX_SIDE[fmt]:,} px "
            "a side): ask for png or a smaller size.",
        )


def make_product(
    matter: Matter, rgb: np.ndarray, spec: ProductSpec, background: np.ndarray | None = None
) -> Product:
    """``rgb`` (upright) at the size asked, matted (inside ``roi`` only), cut out, laid out
    and encoded. ``background``: an upright RGB image to put the subject on."""
    height, width = rgb.shape[:2]
    roi = parse_roi(spec.roi, width, height) if spec.roi else None
    new_w, new_h = capped_size(width, height, spec.max_pixels)
    if (new_w, new_h) != (width, height):
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
    options = spec.options
    if spec.format == "zip" and not (
        options.crop or options.scale or options.position or options.shadow
    ):
        # Nothing to lay out: the photo and its matte go into the archive as they are.
        _check("zip", width, height)
        matte = to_uint8(alpha)
        return Product(encode_zip(rgb, matte), "zip", width, height, subject_box(matte))
    # Edge colours are estimated (decontaminated) only where we composite them: a zip's
    # color.jpg is the photo's own colours, for clients that composite themselves, and an alpha
    # channel has no colours. On a 12 MP photo of fur the estimate took 2.4 s, the matte 0.7 s.
    plain = spec.format == "zip" or options.channels == "alpha"
    rgba = apply_alpha(rgb, alpha) if plain else cutout(rgb, alpha)
    laid_out = lay_out(rgba, replace(options, format="png"))
    out_h, out_w = laid_out.shape[:2]
    fmt = _written(spec, laid_out, opaque_under=background is not None)
    _check(fmt, out_w, out_h)
    data = encode_laid_out(laid_out, replace(options, format=fmt), background=background)
    return Product(data, fmt, out_w, out_h, subject_box(laid_out[..., 3]))


def _written(spec: ProductSpec, laid_out: np.ndarray, *, opaque_under: bool) -> str:
    """The format to write: ``auto`` is JPEG for an opaque colour result (a background, or a
    subject that fills the frame), PNG otherwise and whenever JPEG cannot hold it."""
    if spec.format != "auto":
        return spec.format
    options = spec.options
    opaque = opaque_under or options.bg_color is not None or bool(laid_out[..., 3].min() == 255)
    height, width = laid_out.shape[:2]
    if opaque and options.channels == "rgba" and fits("jpg", width, height):
        return "jpg"
    return "png"


def _scaled(box: Box, sx: float, sy: float) -> Box:
    left, top = math.floor(box.left * sx), math.floor(box.top * sy)
    right = max(left + 1, math.ceil(box.right * sx))
    bottom = max(top + 1, math.ceil(box.bottom * sy))
    return Box(left, top, right, bottom)
