"""The plain pipeline every quality claim is measured against.

It is the seed's recommended workflow with nothing added, what the hosted API and rembg do: a
Lanczos proxy of at most 1024 px on the long side, stretched to the model's square, the matte
brought back to the proxy's size (bilinear) and then to the photo's size (bicubic).
"""

from __future__ import annotations

import numpy as np

from alphamatte.engine.inference.matting import Matter, normalise
from alphamatte.eval.dataset import Predict
from alphamatte.imaging.filters import resize_float
from alphamatte.imaging.resize import fit_long_side, resize_image, resize_matte, to_uint8

PROXY_SIDE = 1024


def plain(matter: Matter) -> Predict:
    side = matter.canvas_side()

    def predict(rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        proxy_w, proxy_h = fit_long_side(width, height, PROXY_SIDE)
        square = resize_image(resize_image(rgb, proxy_w, proxy_h), side, side)
        alpha = np.clip(matter.session.run(normalise(square[None], matter.spec))[0, 0], 0.0, 1.0)
        proxy_alpha = np.clip(resize_float(alpha, proxy_w, proxy_h, "bilinear"), 0.0, 1.0)
        return to_uint8(resize_matte(proxy_alpha, width, height, cubic=True))

    return predict
