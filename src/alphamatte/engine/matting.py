"""``predict(image) -> alpha``: the model at ≤ max_side, the matte back at the input's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from alphamatte.engine.registry import ModelSpec
from alphamatte.engine.session import Session
from alphamatte.imaging.refine import upscale_matte
from alphamatte.imaging.resize import resize_image, resize_matte, to_uint8

Quality = Literal["fast", "best"]
HARD_MAX_SIDE = 1024  # the contract: inference never runs above this on the long side
SIDE_MULTIPLE = 32  # five 2x poolings in the deepest stage
CANVAS_FILL = 127  # mid-grey: (127/255 - 0.5) is almost exactly zero after normalisation


@dataclass(frozen=True)
class View:
    """One way of showing the photo to the model."""

    # 0 letterboxes the photo (true shape on a grey square); 1 stretches it to fill the square;
    # in between the short side grows by that power of the missing factor, the rest is grey.
    stretch: float = 0.0
    mirror: bool = False


LETTERBOX = View()
FAST_VIEWS = (LETTERBOX,)
# As many stretched as letterboxed views, and a half-stretched one to break ties: letterboxing
# wins on most photos but loses the subject on some that stretching handles, and the other
# way round; a majority of either kind would carry its failures into the median.
BEST_VIEWS = (
    LETTERBOX,
    View(mirror=True),
    View(stretch=1.0),
    View(stretch=1.0, mirror=True),
    View(stretch=0.5),
)


@dataclass(frozen=True)
class MattingConfig:
    max_side: int = 1024
    quality: Quality = "fast"

    def __post_init__(self) -> None:
        if not SIDE_MULTIPLE <= self.max_side <= HARD_MAX_SIDE:
            raise ValueError(f"max_side must be within {SIDE_MULTIPLE}..{HARD_MAX_SIDE}")
        if self.quality not in ("fast", "best"):
            raise ValueError("quality must be 'fast' or 'best'")


class Matter:
    """Turns RGB photos into mattes with one shared :class:`Session`. Thread-safe."""

    def __init__(self, session: Session, spec: ModelSpec, config: MattingConfig | None = None):
        self.session = session
        self.spec = spec
        self.config = config or MattingConfig()
        mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(spec.std, dtype=np.float32).reshape(1, 3, 1, 1)
        # (x / 255 - mean) / std folded into one multiply-add, done in place: 1024² takes
        # 2.6 ms instead of 21 ms with temporaries, and NumPy releases the GIL meanwhile.
        self._scale = (1.0 / 255.0 / std).astype(np.float32)
        self._offset = (-mean / std).astype(np.float32)

    def canvas_side(self) -> int:
        """Side of the square the network sees."""
        if not self.session.dynamic_size:
            return self.spec.input_size
        return min(self.config.max_side, HARD_MAX_SIDE) // SIDE_MULTIPLE * SIDE_MULTIPLE

    def inference_size(self, width: int, height: int, side: int | None = None) -> tuple[int, int]:
        """The (width, height) the photo is resized to before it is placed on the canvas."""
        side = side or self.canvas_side()
        scale = side / max(width, height)
        return min(side, max(1, round(width * scale))), min(side, max(1, round(height * scale)))

    def _view(self, rgb: np.ndarray, view: View, size: tuple[int, int]) -> np.ndarray:
        """The model's matte for one view of ``rgb``, at ``size`` (the letterboxed photo's).

        A letterbox keeps the photo's shape in the top-left corner of a mid-grey square (which
        normalises to ~0); a stretch fills the square, distorting the shape. Each view is
        undone exactly: the canvas cropped or the stretch resized back, the mirror flipped back.
        """
        side = self.canvas_side()
        width, height = self.inference_size(rgb.shape[1], rgb.shape[0], side)
        if view.stretch:
            grow = (side / min(width, height)) ** view.stretch
            if width < height:
                width = min(side, round(width * grow))
            else:
                height = min(side, round(height * grow))
        canvas = np.full((side, side, 3), CANVAS_FILL, dtype=np.uint8)
        canvas[:height, :width] = resize_image(rgb, width, height)
        batch = self._normalise(canvas[None])
        if view.mirror:
            batch = np.ascontiguousarray(batch[..., ::-1])
        alpha = self.session.run(batch)[0, 0]
        if view.mirror:
            alpha = alpha[:, ::-1]
        alpha = _unit(alpha[:height, :width])
        return resize_matte(alpha, *size)

    def views(self) -> tuple[View, ...]:
        return FAST_VIEWS if self.config.quality == "fast" else BEST_VIEWS

    def coarse(self, rgb: np.ndarray) -> np.ndarray:
        """The float32 matte in 0..1 at the inference size, before any upscaling.

        ``fast`` runs one view. ``best`` takes the per-pixel median of several: the network is
        neither mirror-, scale- nor aspect-invariant, and its mistakes in different views
        rarely agree, so the median drops the odd ones out (see docs/quality.md).
        """
        size = self.inference_size(rgb.shape[1], rgb.shape[0])
        if size[0] * size[1] < rgb.shape[0] * rgb.shape[1]:
            rgb = resize_image(rgb, *size)  # one Lanczos shrink, as the SDK's proxy does
        mattes = [self._view(rgb, view, size) for view in self.views()]
        if len(mattes) == 1:
            return mattes[0]
        return _unit(np.median(np.stack(mattes), axis=0))

    def predict_float(self, rgb: np.ndarray) -> np.ndarray:
        """The float32 matte in 0..1 with exactly the input's height and width."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("predict expects an H x W x 3 uint8 RGB array")
        alpha = self.coarse(rgb)
        height, width = rgb.shape[:2]
        if alpha.shape == (height, width):
            return alpha
        if alpha.shape[0] * alpha.shape[1] >= height * width:
            return resize_matte(alpha, width, height)
        return upscale_matte(alpha, rgb)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """The uint8 matte (255 = opaque) with exactly the input's height and width."""
        matte: np.ndarray = to_uint8(self.predict_float(rgb))
        return matte

    def _normalise(self, images: np.ndarray) -> np.ndarray:
        """N x H x W x 3 uint8 → N x 3 x H x W float32, normalised as the model expects."""
        planar = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        batch = np.empty(planar.shape, dtype=np.float32)
        np.multiply(planar, self._scale, out=batch, casting="unsafe")
        np.add(batch, self._offset, out=batch)
        return batch


def _unit(alpha: np.ndarray) -> np.ndarray:
    clipped: np.ndarray = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    return clipped
