"""A finished product image from one cutout: placement, crop, background, channels, format.

The order is fixed and the same for every caller: the subject is scaled and positioned on its
canvas, then cropped to (with its margin), then put on the background, then written out. A
background colour or image makes the result opaque; ``channels="alpha"`` writes the matte of
the laid-out result instead of its colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphamatte.imaging.effects import composite, drop_shadow, parse_colour
from alphamatte.imaging.encode import MEDIA_TYPES, OUTPUT_FORMATS, encode_gray, encode_output
from alphamatte.imaging.layout import (
    Box,
    LayoutError,
    apply_roi,
    crop_to_subject,
    parse_margin,
    parse_position,
    parse_roi,
    parse_scale,
    place,
    subject_box,
)

CHANNELS = ("rgba", "alpha")


@dataclass(frozen=True)
class ProductOptions:
    """Options as a client writes them (strings are parsed, and refused, by :meth:`check`)."""

    crop: bool = False
    crop_margin: str | None = None
    scale: str | None = None
    position: str | None = None
    bg_color: str | None = None
    channels: str = "rgba"
    format: str = "png"
    shadow: str | None = None  # "drop": a soft shadow cast down and right of the subject
    shadow_opacity: float = 0.5  # 0..1
    roi: str | None = None  # "x1 y1 x2 y2": nothing outside it is foreground

    def check(self) -> None:
        """Raise :class:`LayoutError` for a value no photo could satisfy (before any work)."""
        if self.format not in OUTPUT_FORMATS:
            raise LayoutError("invalid_format", f"format must be one of {OUTPUT_FORMATS}")
        if self.channels not in CHANNELS:
            raise LayoutError("invalid_channels", "channels must be 'rgba' or 'alpha'")
        if self.crop_margin is not None:
            parse_margin(self.crop_margin, Box(0, 0, 100, 100))  # its form; sizes come later
        if self.shadow not in (None, "drop"):
            raise LayoutError("unsupported_shadow", "only 'drop' shadows are rendered")
        if not 0.0 <= self.shadow_opacity <= 1.0:
            raise LayoutError("invalid_shadow_opacity", "shadow opacity must be within 0-100 %")
        if self.scale is not None:
            parse_scale(self.scale)
        if self.position is not None:
            parse_position(self.position)
        if self.bg_color is not None:
            try:
                parse_colour(self.bg_color)
            except ValueError as exc:
                raise LayoutError("invalid_bg_color", str(exc)) from exc

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def lay_out(rgba: np.ndarray, options: ProductOptions) -> np.ndarray:
    """Region of interest, placement (scale, position), crop, shadow: still transparent where
    the subject is not."""
    options.check()
    if options.roi:
        region = parse_roi(options.roi, rgba.shape[1], rgba.shape[0])
        rgba = rgba.copy()
        rgba[..., 3] = apply_roi(rgba[..., 3], region)
    scale = parse_scale(options.scale) if options.scale else None
    position = parse_position(options.position) if options.position else None
    laid_out = place(rgba, scale=scale, position=position)
    if options.crop:
        laid_out = crop_to_subject(laid_out, options.crop_margin)
    if options.shadow == "drop":
        # Offset and softness follow the subject's size, so a thumbnail and a 24 MP photo
        # get the same look: 1.5 % of its longer side, at least 2 px.
        box = subject_box(laid_out[..., 3])
        if box is not None:
            reach = max(2, round(0.015 * max(box.width, box.height)))
            laid_out = drop_shadow(
                laid_out, offset=(reach, reach), blur=reach, opacity=options.shadow_opacity
            )
    return laid_out


def on_background(
    laid_out: np.ndarray, options: ProductOptions, background: np.ndarray | None = None
) -> np.ndarray:
    """``laid_out`` over ``background`` (an RGB image, covering the frame) or
    ``options.bg_color``, opaque; unchanged when there is neither."""
    if background is None and options.bg_color is None:
        return laid_out
    under = background if background is not None else parse_colour(options.bg_color or "")
    alpha = laid_out[..., 3]
    colours = composite(laid_out[..., :3], alpha, under)
    return np.dstack([colours, np.full_like(alpha, 255)])


def render_product(
    rgba: np.ndarray, options: ProductOptions, *, background: np.ndarray | None = None
) -> np.ndarray:
    """The laid-out RGBA (uint8, straight alpha); opaque when a background is given
    (``background``: an RGB image, covering the frame; else ``options.bg_color``)."""
    return on_background(lay_out(rgba, options), options, background)


def encode_product(
    rgba: np.ndarray, options: ProductOptions, *, background: np.ndarray | None = None
) -> bytes:
    """:func:`render_product`, written in ``options.format``."""
    return encode_laid_out(lay_out(rgba, options), options, background=background)


def encode_laid_out(
    laid_out: np.ndarray, options: ProductOptions, *, background: np.ndarray | None = None
) -> bytes:
    """An already laid-out cutout put on its background and written in ``options.format``.
    ``channels="alpha"``: its matte (the background would make it all white) as a grayscale
    image in that format; ``zip`` always holds both."""
    if options.channels == "alpha" and options.format != "zip":
        return encode_gray(np.ascontiguousarray(laid_out[..., 3]), options.format)
    return encode_output(on_background(laid_out, options, background), options.format)
