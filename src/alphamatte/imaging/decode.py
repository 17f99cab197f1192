"""Decode and validate untrusted image bytes.

Everything here assumes hostile input: the byte limit is checked before parsing, the pixel
limit is checked from the header before any pixel data is decompressed, and every decoder
failure becomes a typed :class:`ImageError`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, UnidentifiedImageError

from alphamatte.imaging.colour import cmyk_to_rgb, to_srgb, usable_rgb_profile
from alphamatte.imaging.deep import deep_pixels
from alphamatte.imaging.errors import (
    CorruptImageError,
    InputTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
)
from alphamatte.imaging.resize import to_uint8

MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000
# Files the caller owns (CLI, SDK): wider limits than the server's, still safe from bombs.
LOCAL_MAX_BYTES = 1 << 30
LOCAL_MAX_PIXELS = 300_000_000
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF")
FORMAT_NAMES = "JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF or AVIF"
# HEIC/HEIF through libheif (pillow-heif): its primary image only (never a thumbnail or an
# auxiliary image), its rotation and mirror (irot/imir) applied, the EXIF orientation then 1,
# so that nothing turns it twice. AVIF is Pillow's own; its transforms arrive as the EXIF
# orientation, applied like a JPEG's.
pillow_heif.register_heif_opener()
# One rule for data that ends early, in every format: refused (422) when a meaningful share of
# the image is missing. Pillow's PNG, WebP, GIF, BMP and TIFF decoders already fail on any
# missing data; a JPEG whose data stops at an end marker is filled in by libjpeg instead, with
# flat mid-grey (every missing block's coefficients are zero). So a JPEG is refused when its
# last MISSING_SHARE of pixels are all that grey, and, before any pixel is decoded, when it is
# too small to hold its declared size at all: Huffman coding spends at least one bit on every
# 8x8 block of the first component.
MISSING_SHARE = 0.02
_JPEG_FILL = 128

# EXIF orientation -> the transpose that makes the stored pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# The inverse of each, taking an upright matte back to the stored grid.
_STORED = {
    **_UPRIGHT,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image in the file's stored pixel grid, plus how to show it upright and the colour
    space its values are in."""

    rgb: np.ndarray  # H x W x 3 uint8, stored grid, in icc_profile's space
    orientation: int  # EXIF orientation 1..8 (1 = already upright)
    format: str
    # The photo's RGB profile, kept on its outputs; None: sRGB (untagged, or converted to sRGB
    # from CMYK or greyscale on the way in).
    icc_profile: bytes | None = None
    # The photo's own alpha (H x W uint8, stored grid) when it has transparency; None: opaque.
    # No output makes a pixel more opaque than the photo had it.
    opacity: np.ndarray | None = None
    # A 16-bit PNG's colours at 16 bits (H x W x 3 uint16, stored grid; imaging/deep.py), for
    # its cutout; None for every other photo.
    deep: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    def upright(self) -> np.ndarray:
        """The RGB pixels as a viewer shows them (EXIF orientation applied)."""
        return to_upright(self.rgb, self.orientation)

    def upright_opacity(self) -> np.ndarray | None:
        """:attr:`opacity` as a viewer shows it; None for an opaque photo."""
        return None if self.opacity is None else to_upright(self.opacity, self.orientation)

    def upright_deep(self) -> np.ndarray | None:
        """:attr:`deep` as a viewer shows it; None for an 8-bit photo."""
        return None if self.deep is None else to_upright(self.deep, self.orientation)

    def upright_srgb(self) -> np.ndarray:
        """:meth:`upright` rendered to sRGB through the photo's profile: what the model sees."""
        return to_srgb(self.upright(), self.icc_profile)


def _transpose(array: np.ndarray, method: Image.Transpose | None) -> np.ndarray:
    if method is None:
        return array
    if array.dtype != np.uint8:  # Pillow holds no 16-bit colour image: NumPy turns those
        return np.ascontiguousarray(_NUMPY_TRANSPOSE[method](array))
    return np.asarray(Image.fromarray(array).transpose(method))


# Pillow's transposes in NumPy (ROTATE_90 is counter-clockwise, as in Pillow).
_NUMPY_TRANSPOSE = {
    Image.Transpose.FLIP_LEFT_RIGHT: lambda a: a[:, ::-1],
    Image.Transpose.FLIP_TOP_BOTTOM: lambda a: a[::-1],
    Image.Transpose.ROTATE_90: lambda a: np.rot90(a, 1),
    Image.Transpose.ROTATE_180: lambda a: np.rot90(a, 2),
    Image.Transpose.ROTATE_270: lambda a: np.rot90(a, -1),
    Image.Transpose.TRANSPOSE: lambda a: a.swapaxes(0, 1),
    Image.Transpose.TRANSVERSE: lambda a: np.rot90(a, 2).swapaxes(0, 1),
}


def to_upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an image or matte in the stored grid."""
    return _transpose(array, _UPRIGHT.get(orientation))


def to_stored(array: np.ndarray, orientation: int) -> np.ndarray:
    """Undo :func:`to_upright`: bring an upright image or matte back to the stored grid."""
    return _transpose(array, _STORED.get(orientation))


def _gray_to_rgb(values: np.ndarray, peak: float) -> np.ndarray:
    return np.repeat(to_uint8(values / peak)[:, :, None], 3, axis=2)


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """H x W x 3 uint8 for any PIL mode, 16-bit and float greys rescaled rather than clipped,
    CMYK through its profile to sRGB."""
    mode = image.mode
    if mode == "CMYK":
        return cmyk_to_rgb(image)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # PIL's own convert clips 16-bit values at 255; rescale to 8 bits instead.
        wide = np.asarray(image, dtype=np.float64)
        return _gray_to_rgb(wide, 65535.0 if mode.startswith("I;16") or wide.max() > 255 else 255.0)
    if mode == "F":
        flt = np.asarray(image, dtype=np.float64)
        return _gray_to_rgb(flt, 1.0 if flt.max() <= 1.0 else 255.0)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    # convert() copies even an RGB image: 14 ms and a second full-size copy for 8 MP.
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def open_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Identify the format and check the pixel count from the header only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError as exc:
        if _heif_family(data):  # its container says HEIF/AVIF, yet it cannot be read: broken
            raise CorruptImageError("Image file is corrupt or truncated (HEIF/AVIF).") from exc
        raise UnsupportedFormatError(f"Unsupported image format; send {FORMAT_NAMES}.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixelsError(f"Image has too many pixels (limit {max_pixels:,}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError("Image file is corrupt or truncated.") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImageError("Image has no pixels.")
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"Image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}."
        )
    if image.format == "JPEG" and len(data) * 8 < (width // 8) * (height // 8):
        raise CorruptImageError(
            f"Image is truncated: {len(data):,} bytes cannot hold a {width}x{height} JPEG."
        )
    return image


_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"heim",
    b"heis",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}


def _heif_family(data: bytes) -> bool:
    """Whether ``data`` starts as an ISO-BMFF file of a HEIF or AVIF brand (its ``ftyp``)."""
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def decode(
    data: bytes,
    *,
    max_bytes: int = MAX_INPUT_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> DecodedImage:
    """Decode untrusted bytes into RGB pixels in the stored grid, with their EXIF orientation.

    Raises a subclass of :class:`ImageError` for anything that is not a valid, supported image
    within the limits. Alpha channels are dropped: the model looks at colour only.
    """
    opened = open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return decode_opened(opened, max_pixels=max_pixels, data=data)


def open_checked(
    data: bytes, *, max_bytes: int = MAX_INPUT_BYTES, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """The first half of :func:`decode`: size limits, format and pixel count, header only.

    The server reads the pixel count here to admit the request before any pixel is decoded.
    """
    if len(data) > max_bytes:
        raise InputTooLargeError(f"Image is {len(data):,} bytes; the limit is {max_bytes:,} bytes.")
    if not data:
        raise CorruptImageError("Image is empty.")
    return open_image(data, max_pixels=max_pixels)


def decode_opened(
    image: Image.Image, *, max_pixels: int = MAX_PIXELS, data: bytes | None = None
) -> DecodedImage:
    """The second half of :func:`decode`: the pixels of an :func:`open_checked` image
    (``data``: its bytes, to read a 16-bit PNG's colours at 16 bits too).

    Closes ``image``.
    """
    fmt = image.format or "UNKNOWN"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # A TIFF with missing strips only warns and leaves the gap black; refuse it.
            warnings.filterwarnings("error", message="Truncated File Read", category=UserWarning)
            # A broken EXIF block only costs the orientation (see exif_orientation); stay quiet.
            warnings.filterwarnings("ignore", message=".*[Cc]orrupt EXIF", category=UserWarning)
            image.seek(0)  # animated GIF/WebP/TIFF: first frame only
            orientation = exif_orientation(image)
            image.load()
            mode = image.mode
            opacity = _opacity(image)
            rgb = pil_to_rgb(image)
            # Only an RGB profile can describe RGB values: CMYK is already sRGB here, and a grey
            # profile's curve is near enough sRGB's that the grey becomes plain sRGB.
            icc = usable_rgb_profile(image.info.get("icc_profile")) if mode != "CMYK" else None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixelsError(f"Image has too many pixels (limit {max_pixels:,}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, UserWarning) as exc:
        raise CorruptImageError(f"Image file is corrupt or truncated ({fmt}).") from exc
    finally:
        image.close()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise CorruptImageError("Image could not be converted to RGB.")
    if fmt == "JPEG" and _ends_in_fill(rgb):
        raise CorruptImageError("Image file is truncated (JPEG): its last part is missing.")
    deep = deep_pixels(data) if data is not None and fmt == "PNG" else None
    if deep is not None and deep.shape != rgb.shape:
        deep = None
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        orientation=orientation,
        format=fmt,
        icc_profile=icc,
        opacity=opacity,
        deep=deep,
    )


def _opacity(image: Image.Image) -> np.ndarray | None:
    """The alpha of a photo with transparency (an alpha channel, or a transparent palette entry
    or colour); None when every pixel is opaque."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"))
    elif "transparency" in image.info and image.mode in ("P", "L", "RGB", "1"):
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    else:
        return None
    return None if alpha.min() == 255 else np.ascontiguousarray(alpha)


def _ends_in_fill(rgb: np.ndarray) -> bool:
    """Whether the last :data:`MISSING_SHARE` of the pixels, in file order, are all libjpeg's
    fill grey (checked on that tail only: a few milliseconds at 50 MP)."""
    flat = rgb.reshape(-1)
    tail = max(3, int(flat.size * MISSING_SHARE) // 3 * 3)
    return bool(flat[-tail:].min() == _JPEG_FILL == flat[-tail:].max())


def decode_local(data: bytes) -> DecodedImage:
    """:func:`decode` with the limits for the caller's own files."""
    return decode(data, max_bytes=LOCAL_MAX_BYTES, max_pixels=LOCAL_MAX_PIXELS)


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag, 1..8; 1 when absent or unreadable."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block is not worth refusing the photo for
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
