"""From decoded bytes to the two products: a matte in the file's grid, a cutout upright.

The model sees the photo rendered to sRGB (what it was trained on); the cutout keeps the
photo's own pixels and carries its colour profile (imaging/colour.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphamatte.engine.inference.matting import CoarseMatte, Matter, full_size
from alphamatte.imaging.colour import to_srgb
from alphamatte.imaging.compose import cutout, within_opacity
from alphamatte.imaging.decode import DecodedImage, to_stored
from alphamatte.imaging.deep import deep_cutout, encode_png16
from alphamatte.imaging.encode import encode_png
from alphamatte.imaging.resize import to_uint8


@dataclass(frozen=True)
class MatteResult:
    upright_rgb: np.ndarray  # in icc_profile's space
    upright_alpha: np.ndarray  # float32 0..1
    icc_profile: bytes | None = None
    upright_deep: np.ndarray | None = None  # a 16-bit PNG's colours at 16 bits (imaging/deep.py)

    def stored_matte(self, orientation: int) -> np.ndarray:
        """uint8 matte in the file's stored pixel grid (what the alpha endpoints return)."""
        return to_stored(to_uint8(self.upright_alpha), orientation)

    def cutout(self) -> np.ndarray:
        """Upright RGBA with straight alpha over the untouched original colours."""
        return cutout(self.upright_rgb, self.upright_alpha)

    def cutout_png(self) -> bytes:
        """:meth:`cutout` as a PNG in the photo's colour space (its profile embedded); 16 bits
        a channel for a 16-bit photo."""
        cut = self.cutout()
        if self.upright_deep is None:
            return encode_png(cut, icc_profile=self.icc_profile)
        deep = deep_cutout(self.upright_deep, self.upright_rgb, cut, self.upright_alpha)
        return encode_png16(deep, icc_profile=self.icc_profile)


def run_matting(image: DecodedImage, matter: Matter) -> MatteResult:
    upright = image.upright()
    seen = to_srgb(upright, image.icc_profile)
    alpha = within_opacity(matter.predict_float(seen), image.upright_opacity())
    return MatteResult(upright, alpha, image.icc_profile, image.upright_deep())


def finished_product(
    kind: str,
    upright: np.ndarray,
    orientation: int,
    coarse: CoarseMatte,
    icc_profile: bytes | None = None,
    opacity: np.ndarray | None = None,
    deep: np.ndarray | None = None,
    seen: np.ndarray | None = None,
) -> bytes:
    """The PNG that `matte`/`cutout`/`batch` write for a photo, from its coarse matte (made
    from the photo in sRGB): the matte in the file's stored grid, or the upright cutout in the
    photo's colours (16-bit from ``deep``, a 16-bit photo's upright colours); never more opaque
    than the photo's own ``opacity`` (upright). ``seen``: the photo in sRGB as the model saw it,
    when the caller still holds it (else it is rendered again). Shared by
    the local CLI and the Ray stages so that both write the same bytes."""
    guide = seen if seen is not None else to_srgb(upright, icc_profile)
    alpha = within_opacity(full_size(coarse, guide), opacity)
    result = MatteResult(upright, alpha, icc_profile, deep)
    if kind == "matte":
        return encode_png(result.stored_matte(orientation))
    return result.cutout_png()
