"""What the caller passed, and the small proxy that is uploaded in its place."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from alphamatte.client.defaults import JPEG_QUALITY, PROXY_SIDE, ProxyFormat
from alphamatte.imaging.colour import usable_rgb_profile
from alphamatte.imaging.decode import decode_local, exif_orientation, pil_to_rgb, to_upright
from alphamatte.imaging.resize import fit_long_side, resize_image, to_uint8

if TYPE_CHECKING:
    from alphamatte.client.defaults import ImageInput

__all__ = ["JPEG_QUALITY", "PROXY_SIDE", "Proxy", "ProxyFormat", "Source", "load_source"]


@dataclass(frozen=True)
class Source:
    """The caller's pixels, untouched, in the grid they were given, with the EXIF orientation."""

    rgb: np.ndarray  # H x W x 3 uint8, in icc_profile's colour space
    orientation: int
    icc_profile: bytes | None = None  # None: sRGB
    opacity: np.ndarray | None = None  # the photo's own alpha (same grid); None: opaque

    def upright(self) -> np.ndarray:
        return to_upright(self.rgb, self.orientation)

    def upright_opacity(self) -> np.ndarray | None:
        return None if self.opacity is None else to_upright(self.opacity, self.orientation)


def load_source(image: ImageInput) -> Source:
    """Read a path, encoded bytes, a PIL image or an array (H x W, H x W x 3/4; uint8 or 0..1)."""
    if isinstance(image, (str, PathLike)):
        image = Path(image).read_bytes()
    if isinstance(image, bytes):
        decoded = decode_local(image)
        return Source(decoded.rgb, decoded.orientation, decoded.icc_profile, decoded.opacity)
    if isinstance(image, Image.Image):
        icc = None if image.mode == "CMYK" else usable_rgb_profile(image.info.get("icc_profile"))
        rgb = np.ascontiguousarray(pil_to_rgb(image))
        return Source(rgb, exif_orientation(image), icc)
    if isinstance(image, np.ndarray):
        return Source(_array_to_rgb(image), 1)
    raise TypeError(f"expected a path, bytes, PIL image or NumPy array, not {type(image).__name__}")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = array[:, :, None].repeat(3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or 0 in array.shape:
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 array, got {array.shape}")
    rgb = array[:, :, :3]
    if rgb.dtype != np.uint8:
        if not np.issubdtype(rgb.dtype, np.floating):
            raise ValueError(f"expected uint8 or float pixels in 0..1, got {rgb.dtype}")
        rgb = to_uint8(rgb)
    return np.ascontiguousarray(rgb)


@dataclass(frozen=True)
class Proxy:
    data: bytes
    width: int
    height: int
    # What was encoded, kept as the guide for the matte's upscale (no second shrink).
    pixels: np.ndarray | None = field(default=None, compare=False, repr=False)


def make_proxy(
    upright: np.ndarray,
    *,
    max_side: int = PROXY_SIDE,
    fmt: ProxyFormat = "jpeg",
    jpeg_quality: int = JPEG_QUALITY,
) -> Proxy:
    """The upload: Lanczos down to ``max_side`` (never enlarged), JPEG or PNG, no metadata.

    The proxy is already upright, so the server needs no EXIF and the matte comes back in the
    same grid as the upright original. It is sRGB (the caller renders the photo to sRGB first):
    a proxy has no profile, and the model reads sRGB.
    """
    height, width = upright.shape[:2]
    new_w, new_h = fit_long_side(width, height, max_side)
    small = resize_image(upright, new_w, new_h)
    buffer = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(small).save(buffer, format="JPEG", quality=jpeg_quality, subsampling=0)
    elif fmt == "png":
        Image.fromarray(small).save(buffer, format="PNG", compress_level=1)
    else:
        raise ValueError(f"proxy format must be 'jpeg' or 'png', not {fmt!r}")
    return Proxy(buffer.getvalue(), new_w, new_h, small)
