"""Encode mattes and cutouts for the wire."""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

# Mattes: measured on a 1024x827 real matte, level 1 → 4.9 ms / 42.8 kB, level 3 → 4.5 ms /
# 41.2 kB, level 6 → 6.2 ms / 35.0 kB, level 9 → 26 ms / 33.6 kB. Level 6 saves 18 % of the
# bytes for ~1 ms. A 16 MP matte takes 0.16 s at level 6.
PNG_COMPRESS_LEVEL = 6
# ...and with deflate's run-length strategy, which suits mattes (long runs of 0 and 255 with
# short ramps between): over the model's mattes of the 40 eval photos (0.5-18 MP), 1.46 s and
# 5.18 MB in all against 2.86 s and 5.49 MB with the default strategy, smaller on every photo
# (median 0.947x, worst 0.983x) and 0.51x the time (median). Cutouts carry photo noise and
# were not helped (same total, up to 1.47x the bytes on some photos): they keep the default.
MATTE_COMPRESS_TYPE = zlib.Z_RLE
# Cutouts carry the photo's own noise, which deflate barely compresses. Measured on real 8-18 MP
# cutouts: level 6 took 4.2-4.4 s for 14-17 MB; level 3, 1.9-2.1 s for +5-11 % bytes; level 1,
# 1.3-1.6 s for +10-18 %. The encode cost more than the model; level 1 makes it a third. With
# transparent pixels cleared (compose.clear_transparent), over the 21 large eval photos: level 1
# 7.9 s / 73.6 MB in all, level 3 9.9 s / 70.9 MB, level 6 20.2 s / 65.4 MB. Level 1 stays.
RGBA_COMPRESS_LEVEL = 1


def encode_png(
    array: np.ndarray, *, compress_level: int | None = None, icc_profile: bytes | None = None
) -> bytes:
    """PNG bytes of a uint8 array: H x W gives mode L, H x W x 4 gives RGBA. ``icc_profile``:
    the colour space of RGB(A) pixels (a matte has none)."""
    if array.dtype != np.uint8:
        raise TypeError("encode_png expects uint8 pixels")
    matte = array.ndim == 2
    if compress_level is None:
        compress_level = PNG_COMPRESS_LEVEL if matte else RGBA_COMPRESS_LEVEL
    if matte:
        image = Image.fromarray(array, mode="L")
    elif array.ndim == 3 and array.shape[2] == 4:
        image = Image.fromarray(array, mode="RGBA")
    elif array.ndim == 3 and array.shape[2] == 3:
        image = Image.fromarray(array, mode="RGB")
    else:
        raise ValueError(f"cannot encode an array of shape {array.shape}")
    buffer = io.BytesIO()
    strategy = MATTE_COMPRESS_TYPE if matte else zlib.Z_DEFAULT_STRATEGY
    extra = {"icc_profile": icc_profile} if icc_profile and not matte else {}
    image.save(buffer, format="PNG", compress_level=compress_level, compress_type=strategy, **extra)
    return buffer.getvalue()


OUTPUT_FORMATS = ("png", "jpg", "webp", "zip")
JPEG_QUALITY = 90
WEBP_QUALITY = 90
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "zip": "application/zip",
}


# The longest side each writer can store: JPEG's header holds 16-bit sizes, WebP's 14-bit ones.
# A zip holds a JPEG. PNG's 31-bit sides are far beyond any pixel limit.
MAX_SIDE = {"png": (1 << 31) - 1, "jpg": 65_535, "webp": 16_383, "zip": 65_535}


def fits(fmt: str, width: int, height: int) -> bool:
    """Whether a ``width`` x ``height`` image can be written as ``fmt``."""
    return max(width, height) <= MAX_SIDE[fmt]


def encode_jpeg(
    rgb: np.ndarray, *, quality: int = JPEG_QUALITY, icc_profile: bytes | None = None
) -> bytes:
    buffer = io.BytesIO()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    Image.fromarray(rgb, mode="RGB").save(buffer, format="JPEG", quality=quality, **extra)
    return buffer.getvalue()


def encode_output(rgba: np.ndarray, fmt: str, *, icc_profile: bytes | None = None) -> bytes:
    """A straight-alpha RGBA cutout (uint8) in an output format.

    ``png`` and ``webp`` keep the alpha (an opaque cutout, say one on a background colour, is
    written as RGB); ``jpg`` has none, so its transparent parts come out white; ``zip`` holds
    ``color.jpg`` (the cutout's colours, opaque) and ``alpha.png`` (its 8-bit matte), the same
    size, for clients that composite them themselves and want a small download.
    ``icc_profile``: the colour space of the pixels, embedded in every colour image written.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose {', '.join(OUTPUT_FORMATS)}")
    alpha = rgba[..., 3]
    opaque = bool(alpha.min() == 255)
    if fmt == "png":
        pixels = np.ascontiguousarray(rgba[..., :3]) if opaque else rgba
        return encode_png(pixels, icc_profile=icc_profile)
    if fmt == "webp":
        buffer = io.BytesIO()
        mode = "RGB" if opaque else "RGBA"
        pixels = np.ascontiguousarray(rgba[..., :3]) if opaque else rgba
        extra = {"icc_profile": icc_profile} if icc_profile else {}
        Image.fromarray(pixels, mode=mode).save(
            buffer, format="WEBP", quality=WEBP_QUALITY, **extra
        )
        return buffer.getvalue()
    if fmt == "jpg":
        return encode_jpeg(_on_white(rgba), icc_profile=icc_profile)
    rgb = np.ascontiguousarray(rgba[..., :3])
    return encode_zip(rgb, np.ascontiguousarray(alpha), icc_profile=icc_profile)


def encode_zip(rgb: np.ndarray, matte: np.ndarray, *, icc_profile: bytes | None = None) -> bytes:
    """``color.jpg`` (``rgb``, opaque) and ``alpha.png`` (``matte``, 8-bit) in one stored ZIP."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("color.jpg", encode_jpeg(rgb, icc_profile=icc_profile))
        archive.writestr("alpha.png", encode_png(matte))
    return buffer.getvalue()


def encode_gray(matte: np.ndarray, fmt: str) -> bytes:
    """A uint8 matte as a grayscale PNG, JPEG or WebP."""
    if fmt == "png":
        return encode_png(matte)
    if fmt not in ("jpg", "webp"):
        raise ValueError(f"a matte cannot be written as {fmt!r}")
    buffer = io.BytesIO()
    image = Image.fromarray(matte, mode="L")
    if fmt == "jpg":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def _on_white(rgba: np.ndarray) -> np.ndarray:
    # White is (255, 255, 255) in every RGB profile (its white point, relative colorimetric).
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    mixed = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
