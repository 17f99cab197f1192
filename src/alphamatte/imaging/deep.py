"""16-bit photos: the cutout of a 16-bit PNG keeps 16 bits per channel.

Pillow reads a 16-bit RGB(A) PNG at 8 bits; the matte needs no more (the model reads an 8-bit
proxy), but people who retouch keep 16-bit masters, and an 8-bit cutout of one loses the
gradations they kept it for. So such a photo's colours are also read at 16 bits (OpenCV, part of
the engine install), and its plain cutout is written from them: the photo's own 16-bit values
wherever the cutout kept the photo's colour, the estimated edge colours (decontamination, 8-bit)
scaled up where it changed them, and a 16-bit alpha.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

# Per pixel on top of an 8-bit photo's cost: the 16-bit RGB (6 bytes), its upright copy (6) and
# the 16-bit RGBA cutout (8), OpenCV's encode buffer (~8).
DEEP_BYTES_PER_PIXEL = 28
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_deep_png(data: bytes) -> bool:
    """Whether ``data`` is a PNG of 16-bit RGB or RGBA (read from its IHDR header)."""
    return (
        len(data) > 26
        and data[:8] == _PNG_SIGNATURE
        and data[12:16] == b"IHDR"
        and data[24] == 16
        and data[25] in (2, 6)
    )


def deep_pixels(data: bytes) -> np.ndarray | None:
    """H x W x 3 uint16 RGB of a 16-bit PNG, in its stored grid; None for any other file, or
    where OpenCV is not installed (the SDK alone: its cutouts are 8-bit)."""
    if not is_deep_png(data):
        return None
    try:
        import cv2
    except ImportError:
        return None
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3:
        return None
    return np.ascontiguousarray(pixels[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped


def deep_cutout(
    deep: np.ndarray, photo: np.ndarray, cutout: np.ndarray, alpha: np.ndarray
) -> np.ndarray:
    """H x W x 4 uint16: ``deep`` (the photo at 16 bits, upright) where the 8-bit ``cutout``
    kept the 8-bit ``photo``'s colour, the cutout's colour scaled up where it did not, and
    ``alpha`` (float 0..1) at 16 bits."""
    kept = np.all(cutout[..., :3] == photo, axis=2, keepdims=True)
    colours = np.where(kept, deep, cutout[..., :3].astype(np.uint16) * 257)
    alpha16 = np.clip(alpha * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    out: np.ndarray = np.dstack([colours, alpha16])
    return out


def encode_png16(rgba: np.ndarray, *, icc_profile: bytes | None = None) -> bytes:
    """A 16-bit RGBA PNG (OpenCV's writer), with ``icc_profile`` as its iCCP chunk."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]]))
    if not ok:
        raise ValueError("the 16-bit PNG could not be written")
    data = encoded.tobytes()
    if icc_profile is None:
        return data
    # iCCP goes before the image data: right after IHDR (8 + 25 bytes).
    body = b"icc\0\0" + zlib.compress(icc_profile)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body
    chunk += struct.pack(">I", zlib.crc32(b"iCCP" + body) & 0xFFFFFFFF)
    return data[:33] + chunk + data[33:]
