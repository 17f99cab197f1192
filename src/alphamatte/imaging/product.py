"""A finished product image from one cutout: placement, crop, background, channels, format.

The order is fixed and the same for every caller: the subject is scaled and positioned on its
canvas, then cropped to (with its margin), then put on the background, then written out. A
background colour or image makes the result opaque; ``channels="alpha"`` writes the matte of
the laid-out result instead of its colours.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from alphamatte.imaging.effects import composite, parse_colour
from alphamatte.imaging.encode import MEDIA_TYPES, OUTPUT_FORMATS, encode_gray, encode_output
from alphamatte.imaging.layout import (
    LayoutError,
    crop_to_subject,
    parse_position,
    parse_scale,
    place,
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

    def check(self) -> None:
        """Raise :class:`LayoutError` for a value no photo could satisfy (before any work)."""
        if self.format not in OUTPUT_FORMATS:
            raise LayoutError("invalid_format", f"format must be one of {OUTPUT_FORMATS}")
        if self.channels not in CHANNELS:
            raise LayoutError("invalid_channels", "channels must be 'rgba' or 'alpha'")
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


def render_product(
    rgba: np.ndarray, options: ProductOptions, *, background: np.ndarray | None = None
) -> np.ndarray:
    """The laid-out RGBA (uint8, straight alpha); opaque when a background is given
    (``background``: an RGB image, covering the frame; else ``options.bg_color``)."""
    options.check()
    scale = parse_scale(options.scale) if options.scale else None
    position = parse_position(options.position) if options.position else None
    laid_out = place(rgba, scale=scale, position=position)
    if options.crop:
        laid_out = crop_to_subject(laid_out, options.crop_margin)
    if background is None and options.bg_color is None:
        return laid_out
    under = background if background is not None else parse_colour(options.bg_color or "")
    alpha = laid_out[..., 3]
    colours = composite(laid_out[..., :3], alpha, under)
    return np.dstack([colours, np.full_like(alpha, 255)])


def encode_product(
    rgba: np.ndarray, options: ProductOptions, *, background: np.ndarray | None = None
) -> bytes:
    """:func:`render_product`, written in ``options.format``. ``channels="alpha"``: the laid-out
    matte (before any background, which would make it all white) as a grayscale image in
    that format; ``zip`` always holds both."""
    if options.channels == "alpha" and options.format != "zip":
        plain = replace(options, bg_color=None)
        matte = np.ascontiguousarray(render_product(rgba, plain)[..., 3])
        return encode_gray(matte, options.format)
    return encode_output(render_product(rgba, options, background=background), options.format)
