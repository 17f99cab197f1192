"""Colour-managed test photos: a Display P3 profile, saturated photos in it, and CIEDE2000.

No Display P3 profile ships with Pillow or Debian's free profile packages, so one is written
here from its published definition (DCI-P3 primaries, D65 white, the sRGB curve), as an ICC v2
matrix/curve display profile like the ones phones embed. Its colorants are adapted to the
profile connection space's D50 white with the Bradford transform, as ICC asks.
"""

from __future__ import annotations

import io
import struct
import warnings
from functools import cache

import numpy as np
from PIL import Image, ImageCms

_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
# Display P3: DCI-P3 primaries (x, y), D65 white.
_P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
_D65_XY = (0.3127, 0.3290)


def _xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def _colorants_d50() -> np.ndarray:
    """The RGB → XYZ(D50) matrix's columns for Display P3."""
    primaries = np.stack([_xyz(*p) for p in _P3_PRIMARIES], axis=1)
    white = _xyz(*_D65_XY)
    matrix = primaries * np.linalg.solve(primaries, white)
    cone_src, cone_dst = _BRADFORD @ white, _BRADFORD @ _D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return adapt @ matrix


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _text_description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    body = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
    return body + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67


def _srgb_curve() -> bytes:
    # parametricCurveType, function 3: the sRGB transfer curve.
    params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(p) for p in params)


@cache
def display_p3() -> bytes:
    """An ICC v2 Display P3 display profile."""
    colorants = _colorants_d50()
    curve = _srgb_curve()
    tags = [
        (b"desc", _text_description("Display P3 (alphamatte tests)")),
        (b"cprt", b"text\0\0\0\0No copyright, use freely.\0"),
        (b"wtpt", _xyz_tag(_D50)),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        padded = body + b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += padded
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 4  # platform
        + struct.pack(">I", 0)  # flags
        + b"\0" * 8  # manufacturer, model
        + b"\0" * 8  # attributes
        + struct.pack(">I", 0)  # rendering intent
        + b"".join(_s15(v) for v in _D50)
        + b"\0" * 4  # creator
        + b"\0" * 16  # profile id
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def saturated(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with its saturation pushed hard (each pixel away from its grey), so that most of
    it lies outside sRGB once read as Display P3."""
    values = rgb.astype(np.float32)
    grey = values.mean(axis=2, keepdims=True)
    return np.clip(grey + (values - grey) * 2.5, 0, 255).astype(np.uint8)


def to_lab(rgb: np.ndarray, icc: bytes | None) -> np.ndarray:
    """CIELAB (D50) of ``rgb`` read through ``icc`` (None: sRGB), float L*, a*, b*."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc)) if icc else ImageCms.createProfile("sRGB")
    lab = ImageCms.createProfile("LAB")
    transform = ImageCms.buildTransform(source, lab, "RGB", "LAB")
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(rgb, "RGB"), transform))
    values = out.astype(np.float64)
    values[..., 0] *= 100.0 / 255.0
    values[..., 1:] = out[..., 1:].view(np.int8).astype(np.float64)  # a*, b* are signed bytes
    return values


def delta_e(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two CIELAB arrays (the colour-science implementation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour-science mentions its optional plotting
        import colour

        return np.asarray(colour.delta_E(first, second, method="CIE 2000"))


def output_icc(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data)) as image:
        return image.info.get("icc_profile")


def mean_delta_e(
    original: np.ndarray, original_icc: bytes | None, data: bytes
) -> tuple[float, int]:
    """Mean CIEDE2000 over the opaque pixels of an encoded output against the same pixels of
    the original, each read through its own profile; and how many pixels were compared."""
    with Image.open(io.BytesIO(data)) as image:
        icc = image.info.get("icc_profile")
        rgba = np.asarray(image.convert("RGBA"))
    opaque = rgba[..., 3] == 255
    first = to_lab(np.ascontiguousarray(original[opaque][None]), original_icc)
    second = to_lab(np.ascontiguousarray(rgba[..., :3][opaque][None]), icc)
    return float(delta_e(first, second).mean()), int(opaque.sum())
