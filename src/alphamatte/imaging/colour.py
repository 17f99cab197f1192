"""Colour spaces: the model sees sRGB, the outputs keep the photo's own colours.

A photo's pixels mean something only through its ICC profile (a Display P3 iPhone photo, an
Adobe RGB camera JPEG). Two rules follow, applied here and nowhere else:

- the model was trained on sRGB photos, so it gets the pixels rendered to sRGB through the
  embedded profile (littleCMS, through Pillow's ImageCms);
- a cutout or a product keeps the photo's pixels untouched and carries its profile, so viewers
  show what the photo showed. Rendering a wide-gamut photo into sRGB clips its saturated
  colours; that is the ``srgb`` choice, for outputs that must be sRGB.

Colours a user names (``bg_color``) are sRGB and are rendered into the output's space; a
background image is rendered from its own profile into the output's.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from typing import Literal

import numpy as np
from PIL import Image, ImageCms

ColourProfile = Literal["keep", "srgb"]
COLOUR_PROFILES: tuple[ColourProfile, ...] = ("keep", "srgb")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Colours that tell an sRGB-equivalent profile from another: the primaries, the secondaries and
# a few greys and mid-tones. A profile that maps all of them onto themselves (±1) is sRGB for
# every purpose here, and its pixels need no conversion (most camera JPEGs embed one).
_PROBES = np.array(
    [
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]],
        [[0, 0, 0], [255, 255, 255], [128, 128, 128], [64, 64, 64], [200, 120, 60], [30, 90, 170]],
    ],
    np.uint8,
)


class ProfileError(ValueError):
    """An embedded profile that littleCMS cannot use."""


def profile_space(icc: bytes) -> str | None:
    """The colour space an ICC profile describes ("RGB", "CMYK", "GRAY"...); None if unreadable."""
    try:
        return str(_profile(icc).profile.xcolor_space).strip()
    except ProfileError:
        return None


@lru_cache(maxsize=32)
def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as exc:
        raise ProfileError("the embedded colour profile cannot be read") from exc


@lru_cache(maxsize=32)
def _transform(
    source: bytes | None, target: bytes | None, in_mode: str, out_mode: str
) -> ImageCms.ImageCmsTransform:
    """A cached littleCMS transform; ``None`` on either side means sRGB."""
    try:
        return ImageCms.buildTransform(
            _profile(source) if source else _SRGB,
            _profile(target) if target else _SRGB,
            in_mode,
            out_mode,
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        )
    except ImageCms.PyCMSError as exc:
        raise ProfileError(f"the colour profile cannot be used: {exc}") from exc


def _apply(rgb: np.ndarray, source: bytes | None, target: bytes | None) -> np.ndarray:
    transform = _transform(source, target, "RGB", "RGB")
    return np.asarray(ImageCms.applyTransform(Image.fromarray(rgb, mode="RGB"), transform))


@lru_cache(maxsize=32)
def is_srgb(icc: bytes | None) -> bool:
    """Whether pixels in ``icc`` (None: untagged, so sRGB) are sRGB pixels, within ±1 a channel.
    An unreadable profile counts as sRGB: it cannot say anything else."""
    if icc is None or profile_space(icc) != "RGB":
        return True
    try:
        seen = _apply(_PROBES, icc, None)
    except ProfileError:
        return True
    return bool(np.abs(seen.astype(np.int16) - _PROBES).max() <= 1)


def usable_rgb_profile(icc: bytes | None) -> bytes | None:
    """The profile to keep for RGB pixels: ``icc`` when it is a readable RGB profile, else None
    (the pixels are then taken as sRGB, as every viewer does with an untagged image)."""
    if icc is None or profile_space(icc) != "RGB":
        return None
    return icc


def to_srgb(rgb: np.ndarray, icc: bytes | None) -> np.ndarray:
    """``rgb`` (H x W x 3 uint8, in ``icc``'s space) rendered to sRGB; itself when it already is."""
    if is_srgb(icc):
        return rgb
    return _apply(rgb, icc, None)


def convert(rgb: np.ndarray, source: bytes | None, target: bytes | None) -> np.ndarray:
    """``rgb`` from ``source``'s space into ``target``'s (None: sRGB); itself when they agree."""
    if source == target or (is_srgb(source) and is_srgb(target)):
        return rgb
    return _apply(rgb, source if not is_srgb(source) else None, target)


def colour_in(colour: tuple[int, int, int], icc: bytes | None) -> tuple[int, int, int]:
    """An sRGB colour (what a user names, like ``#ff0000``) as pixel values in ``icc``'s space."""
    if is_srgb(icc):
        return colour
    pixel = _apply(np.array([[colour]], np.uint8), None, icc)[0, 0]
    return int(pixel[0]), int(pixel[1]), int(pixel[2])


def cmyk_to_rgb(image: Image.Image) -> np.ndarray:
    """A CMYK image (Pillow has already undone Adobe's inverted storage) as sRGB pixels: through
    its embedded CMYK profile when it has one; without one, by Pillow's plain formula
    (R = 255 - C - K...), which is what most browsers show for an untagged CMYK JPEG."""
    icc = image.info.get("icc_profile")
    if icc and profile_space(icc) == "CMYK":
        try:
            transform = _transform(icc, None, "CMYK", "RGB")
            return np.asarray(ImageCms.applyTransform(image, transform))
        except ProfileError:
            pass
    return np.asarray(image.convert("RGB"))


def srgb_profile_bytes() -> bytes:
    """littleCMS's sRGB profile, for outputs that must say they are sRGB."""
    return bytes(_SRGB.tobytes())


def profile_key(icc: bytes | None) -> str:
    """A short name for a profile, for caches keyed by what an output looks like."""
    return "srgb" if icc is None else hashlib.sha256(icc).hexdigest()[:16]
