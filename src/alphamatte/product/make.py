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

from alphamatte.engine.inference.matting import Matter
from alphamatte.imaging.colour import convert, to_srgb
from alphamatte.imaging.compose import apply_alpha, cutout, within_opacity
from alphamatte.imaging.decode import DecodedImage
from alphamatte.imaging.deep import deep_cutout, encode_png16
from alphamatte.imaging.encode import MAX_SIDE, encode_zip, fits
from alphamatte.imaging.layout import Box, LayoutError, apply_roi, parse_roi, subject_box
from alphamatte.imaging.product_shot import ProductOptions, encode_laid_out, lay_out
from alphamatte.imaging.resize import resize_image, to_uint8

FORMATS = ("auto", "png", "jpg", "webp", "zip")


@dataclass(frozen=True)
class ProductSpec:
    """What to make of a photo."""

    max_pixels: int  # the photo is scaled down to at most this many pixels first
    format: str  # one of FORMATS; "auto": JPEG when the result is opaque, else PNG
    options: ProductOptions  # its ``format`` is ignored: ``format`` above decides


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
    matter: Matter,
    photo: DecodedImage,
    spec: ProductSpec,
    background: DecodedImage | None = None,
) -> Product:
    """``photo`` upright at the size asked, matted (nothing outside ``roi``), cut out, laid out and
    encoded, on ``background`` when given. The model sees the photo in sRGB; the product keeps
    its pixels and profile (or is rendered to sRGB when ``spec.options.color_profile`` says so),
    and a background is rendered into the product's colour space."""
    options = spec.options
    rgb, icc, opacity = photo.upright(), photo.icc_profile, photo.upright_opacity()
    deep = photo.upright_deep() if options.color_profile == "keep" else None
    if options.color_profile == "srgb":
        rgb, icc = to_srgb(rgb, icc), None
    seen = to_srgb(rgb, icc)
    height, width = rgb.shape[:2]
    roi = parse_roi(options.roi, width, height) if options.roi else None
    new_w, new_h = capped_size(width, height, spec.max_pixels)
    if (new_w, new_h) != (width, height):
        same = seen is rgb
        rgb = resize_image(rgb, new_w, new_h)
        seen = rgb if same else resize_image(seen, new_w, new_h)
        if opacity is not None:
            opacity = resize_image(opacity, new_w, new_h)
        deep = None  # a resized product is 8-bit
        if roi is not None:
            roi = _scaled(roi, new_w / width, new_h / height)
        width, height = new_w, new_h
    alpha = within_opacity(matter.predict_float(seen), opacity)
    if roi is not None:
        # The model sees the whole photo and nothing outside the region is kept. Running it on
        # the region alone was worse on the eval photos (benchmarks/roi.py: median SAD 1.07x,
        # 6 wins in 21 large photos for a tight region, up to 23x worse for a loose one).
        alpha = apply_roi(alpha, roi)
    if spec.format == "zip" and not (
        options.crop or options.scale or options.position or options.shadow
    ):
        # Nothing to lay out: the photo and its matte go into the archive as they are.
        _check("zip", width, height)
        matte = to_uint8(alpha)
        data = encode_zip(rgb, matte, icc_profile=icc)
        return Product(data, "zip", width, height, subject_box(matte))
    # Edge colours are estimated (decontaminated) only where we composite them: a zip's
    # color.jpg is the photo's own colours, for clients that composite themselves, and an alpha
    # channel has no colours. On a 12 MP photo of fur the estimate took 2.4 s, the matte 0.7 s.
    plain = spec.format == "zip" or options.channels == "alpha"
    rgba = apply_alpha(rgb, alpha) if plain else cutout(rgb, alpha)
    if deep is not None and _as_it_is(spec, background is not None, rgba):
        # A 16-bit photo's cutout, nothing laid out on it: 16 bits a channel (imaging/deep.py).
        data = encode_png16(deep_cutout(deep, rgb, rgba, alpha), icc_profile=icc)
        return Product(data, "png", width, height, subject_box(rgba[..., 3]))
    laid_out = lay_out(rgba, replace(options, format="png", roi=None))
    out_h, out_w = laid_out.shape[:2]
    under = None
    if background is not None:
        under = convert(background.upright(), background.icc_profile, icc)
    fmt = _written(spec, laid_out, opaque_under=under is not None)
    _check(fmt, out_w, out_h)
    written = replace(options, format=fmt)
    data = encode_laid_out(laid_out, written, background=under, icc_profile=icc)
    return Product(data, fmt, out_w, out_h, subject_box(laid_out[..., 3]))


def _as_it_is(spec: ProductSpec, background: bool, rgba: np.ndarray) -> bool:
    """Whether the product is the cutout itself, written as PNG: no layout, no background."""
    options = spec.options
    laid = options.crop or options.scale or options.position or options.shadow
    if laid or background or options.bg_color is not None or options.channels != "rgba":
        return False
    return _written(spec, rgba, opaque_under=False) == "png"


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
