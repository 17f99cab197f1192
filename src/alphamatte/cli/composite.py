"""`alphamatte composite`: many outputs from one saved matte, no model and no server needed."""

from __future__ import annotations

import io
from pathlib import Path

import click
import numpy as np
from PIL import Image

from alphamatte.cli.extras import require
from alphamatte.files import write_atomic
from alphamatte.imaging import effects
from alphamatte.imaging.decode import DecodedImage, decode_local, to_upright
from alphamatte.imaging.errors import ImageError
from alphamatte.imaging.refine import upscale_matte


def _read(path: Path) -> DecodedImage:
    try:
        return decode_local(path.read_bytes())
    except (ImageError, OSError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


def load_matte(path: Path, photo: DecodedImage) -> np.ndarray:
    """The matte as float 0..1, upright, at the photo's size.

    Our mattes are in the photo's stored pixel grid (like the API's), so the photo's EXIF
    orientation is applied to them; a smaller matte (e.g. from a proxy) is refined up to size.
    """
    matte = _read(path)
    gray = matte.rgb.mean(axis=2).astype(np.float32) / 255.0
    if gray.shape == photo.rgb.shape[:2]:
        return to_upright(gray, photo.orientation)
    upright_rgb = photo.upright()
    if matte.orientation != 1 or _aspect(gray.shape) != _aspect(upright_rgb.shape[:2]):
        gray = to_upright(gray, matte.orientation)
    if abs(_aspect(gray.shape) - _aspect(upright_rgb.shape[:2])) > 0.02:
        raise click.ClickException(
            f"the matte ({gray.shape[1]}x{gray.shape[0]}) does not match the photo "
            f"({upright_rgb.shape[1]}x{upright_rgb.shape[0]})"
        )
    return upscale_matte(gray, upright_rgb)


def _aspect(shape: tuple[int, ...]) -> float:
    return shape[1] / shape[0]


def _background(value: str) -> effects.Colour | np.ndarray:
    path = Path(value)
    if path.is_file():
        return _read(path).upright()
    try:
        return effects.parse_colour(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is neither an image file nor a colour") from exc


def _offset(value: str) -> tuple[int, int]:
    try:
        dx, dy = (int(part) for part in value.split(","))
    except ValueError as exc:
        raise click.BadParameter("use DX,DY in pixels, e.g. 12,12") from exc
    return dx, dy


@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--matte",
    "matte_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Grayscale matte for IMAGE (white = opaque).",
)
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--background", default=None, help="A colour (#rrggbb, name) or an image file.")
@click.option("--blur", type=click.FloatRange(0), default=0.0, help="Blur the background by R px.")
@click.option("--erode", type=click.IntRange(0), default=0, help="Shrink the subject by N px.")
@click.option("--dilate", type=click.IntRange(0), default=0, help="Grow the subject by N px.")
@click.option("--feather", type=click.FloatRange(0), default=0.0, help="Soften edges by N px.")
@click.option("--despill", is_flag=True, help="Remove the old background's colour from edges.")
@click.option("--shadow", is_flag=True, help="Add a drop shadow.")
@click.option("--shadow-offset", default="12,12", show_default=True, help="DX,DY of the shadow.")
@click.option("--shadow-blur", type=click.FloatRange(0), default=12.0, show_default=True)
@click.option("--shadow-opacity", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--glow", type=click.FloatRange(0), default=0.0, help="Outer glow of R px.")
@click.option("--glow-colour", default="white", show_default=True)
@click.option("--css-mask", is_flag=True, help="Write the matte as a CSS mask-image PNG instead.")
def composite(
    image: Path,
    matte_path: Path,
    out: Path,
    background: str | None,
    blur: float,
    erode: int,
    dilate: int,
    feather: float,
    despill: bool,
    shadow: bool,
    shadow_offset: str,
    shadow_blur: float,
    shadow_opacity: float,
    glow: float,
    glow_colour: str,
    css_mask: bool,
) -> None:
    """Cut out, composite and decorate IMAGE using a saved matte.

    Without --background or --blur the result is a transparent RGBA PNG; with either it is
    opaque. Blending happens in linear light, so soft edges keep their true brightness.
    """
    photo = _read(image)
    rgb = photo.upright()
    alpha = effects.erode(load_matte(matte_path, photo), erode)
    alpha = effects.feather(effects.dilate(alpha, dilate), feather)
    if css_mask:
        write_atomic(out, effects.css_mask_png(alpha))
        return
    if despill:
        require("edges", "--despill")
        rgb = effects.despill(rgb, alpha)
    result = effects.layer(rgb, alpha)
    if glow > 0:
        result = effects.outer_glow(result, radius=glow, colour=_colour_option(glow_colour))
    if shadow:
        result = effects.drop_shadow(
            result, offset=_offset(shadow_offset), blur=shadow_blur, opacity=shadow_opacity
        )
    plate = _plate(background, rgb, alpha, blur)
    if plate is not None:
        result = effects.over(result, plate)
    _save(result, out)


def _plate(
    background: str | None, rgb: np.ndarray, alpha: np.ndarray, blur: float
) -> np.ndarray | None:
    """The opaque picture behind the subject, or None for a transparent result."""
    height, width = alpha.shape
    if background is None:
        return effects.blurred_plate(rgb, alpha, blur) if blur > 0 else None
    chosen = _background(background)
    if isinstance(chosen, tuple):
        return np.broadcast_to(np.array(chosen, np.uint8), (height, width, 3))
    plate = effects.cover(chosen, width, height)
    if blur > 0:
        plate = effects.blurred_plate(plate, np.zeros((height, width), np.float32), blur)
    return plate


def _save(pixels: np.ndarray, out: Path) -> None:
    suffix = out.suffix.lower()
    fmt = {".png": "PNG", ".webp": "WEBP", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF"}.get(
        suffix
    )
    if fmt is None:
        raise click.BadParameter("write .png, .webp, .jpg or .tif", param_hint="-o/--output")
    if fmt == "JPEG" and pixels.shape[2] == 4:
        raise click.BadParameter(
            "JPEG has no transparency; add --background or --blur, or write .png",
            param_hint="-o/--output",
        )
    image = Image.fromarray(np.ascontiguousarray(pixels))
    buffer = io.BytesIO()
    save: dict[str, object] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP" and pixels.shape[2] == 4:
        save = {"lossless": True}
    image.save(buffer, format=fmt, **save)
    write_atomic(out, buffer.getvalue())


def _colour_option(value: str) -> effects.Colour:
    try:
        return effects.parse_colour(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
