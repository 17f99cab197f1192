"""A finished product image from one cutout: placement, crop, background, channels, format.

The order is fixed and the same for every caller: the subject is scaled and positioned on its
canvas, then cropped to (with its margin), then put on the background, then written out. A
background colour or image makes the result opaque; ``channels="alpha"`` writes the matte of
the laid-out result instead of its colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphamatte.imaging.colour import COLOUR_PROFILES, colour_in
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
    # "keep": the photo's pixels and its ICC profile; "srgb": rendered to sRGB (clips what a
    # wide-gamut photo holds beyond sRGB), written without a profile.
    color_profile: str = "keep"

    def check(self) -> None:
        """Raise :class:`LayoutError` for a value no photo could satisfy (before any work)."""
        if self.format not in OUTPUT_FORMATS:
            raise LayoutError("invalid_format", f"format must be one of {OUTPUT_FORMATS}")
        if self.color_profile not in COLOUR_PROFILES:
            raise LayoutError("invalid_color_profile", "color_profile must be 'keep' or 'srgb'")
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
    laid_out: np.ndarray,
    options: ProductOptions,
    background: np.ndarray | None = None,
    icc_profile: bytes | None = None,
) -> np.ndarray:
    """``laid_out`` over ``background`` (an RGB image in the same colour space, covering the
    frame) or ``options.bg_color`` (sRGB, as users name colours, rendered into ``icc_profile``'s
    space), opaque; unchanged when there is neither."""
    if background is None and options.bg_color is None:
        return laid_out
    if background is not None:
        under: np.ndarray | tuple[int, int, int] = background
    else:
        under = colour_in(parse_colour(options.bg_color or ""), icc_profile)
    alpha = laid_out[..., 3]
    colours = composite(laid_out[..., :3], alpha, under)
    return np.dstack([colours, np.full_like(alpha, 255)])


def render_product(
    rgba: np.ndarray,
    options: ProductOptions,
    *,
    background: np.ndarray | None = None,
    icc_profile: bytes | None = None,
) -> np.ndarray:
    """The laid-out RGBA (uint8, straight alpha); opaque when a background is given
    (``background``: an RGB image, covering the frame; else ``options.bg_color``)."""
    return on_background(lay_out(rgba, options), options, background, icc_profile)


def encode_product(
    rgba: np.ndarray,
    options: ProductOptions,
    *,
    background: np.ndarray | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """:func:`render_product`, written in ``options.format``. ``rgba`` is in ``icc_profile``'s
    colour space (None: sRGB); the result keeps it, or is rendered to sRGB when
    ``options.color_profile`` says so."""
    if options.color_profile == "srgb" and icc_profile is not None:
        from alphamatte.imaging.colour import to_srgb

        rgba = np.dstack([to_srgb(np.ascontiguousarray(rgba[..., :3]), icc_profile), rgba[..., 3]])
        icc_profile = None
    laid_out = lay_out(rgba, options)
    return encode_laid_out(laid_out, options, background=background, icc_profile=icc_profile)


def encode_laid_out(
    laid_out: np.ndarray,
    options: ProductOptions,
    *,
    background: np.ndarray | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """An already laid-out cutout put on its background and written in ``options.format``.
    ``channels="alpha"``: its matte (the background would make it all white) as a grayscale
    image in that format; ``zip`` always holds both. ``icc_profile``: the colour space of
    ``laid_out`` and ``background``, embedded in what is written."""
    if options.channels == "alpha" and options.format != "zip":
        return encode_gray(np.ascontiguousarray(laid_out[..., 3]), options.format)
    on = on_background(laid_out, options, background, icc_profile)
    return encode_output(on, options.format, icc_profile=icc_profile)
