"""From decoded bytes to the two products: a matte in the file's grid, a cutout upright."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphamatte.engine.matting import CoarseMatte, Matter, full_size
from alphamatte.imaging.compose import cutout
from alphamatte.imaging.decode import DecodedImage, to_stored
from alphamatte.imaging.resize import to_uint8


@dataclass(frozen=True)
class MatteResult:
    upright_rgb: np.ndarray
    upright_alpha: np.ndarray  # float32 0..1

    def stored_matte(self, orientation: int) -> np.ndarray:
        """uint8 matte in the file's stored pixel grid (what the alpha endpoints return)."""
        return to_stored(to_uint8(self.upright_alpha), orientation)

    def cutout(self) -> np.ndarray:
        """Upright RGBA with straight alpha over the untouched original colours."""
        return cutout(self.upright_rgb, self.upright_alpha)


def run_matting(image: DecodedImage, matter: Matter) -> MatteResult:
    upright = image.upright()
    return MatteResult(upright_rgb=upright, upright_alpha=matter.predict_float(upright))


def finished_product(
    kind: str, upright: np.ndarray, orientation: int, coarse: CoarseMatte
) -> np.ndarray:
    """What `matte`/`cutout`/`batch` write for a photo, from its coarse matte: the matte in the
    file's stored grid, or the upright cutout. Shared by the local CLI and the Ray stages so
    that both write the same bytes."""
    result = MatteResult(upright, full_size(coarse, upright))
    return result.stored_matte(orientation) if kind == "matte" else result.cutout()
