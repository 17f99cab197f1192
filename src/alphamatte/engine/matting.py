"""``predict(image) -> alpha``: the model at ≤ max_side, the matte back at the input's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from alphamatte.engine.registry import ModelSpec
from alphamatte.engine.selection import Selection
from alphamatte.engine.session import Session
from alphamatte.imaging.refine import upscale_matte
from alphamatte.imaging.resize import resize_image, resize_matte, to_uint8

Quality = Literal["fast", "best"]
HARD_MAX_SIDE = 1024  # the contract: inference never runs above this on the long side
SIDE_MULTIPLE = 32  # five 2x poolings in the deepest stage
CANVAS_FILL = 127  # mid-grey: (127/255 - 0.5) is almost exactly zero after normalisation


BEST_SCALE = 0.75  # the third view of best
BEST_MIN_SIDE = 448  # below ~400 px the model's mattes fall apart (see docs/quality.md)
# ``best`` may only refine what the photo's own view left uncertain: pixels strictly inside
# this band of its matte, and only by at most BEST_AGREEMENT (docs/quality.md, "best").
BEST_BAND = (0.02, 0.98)
BEST_AGREEMENT = 0.1


@dataclass(frozen=True)
class View:
    """One way of showing the photo to the model."""

    stretch: bool = False  # fill the square (distorted) instead of letterboxing
    mirror: bool = False
    scale: float = 1.0  # of the canvas side


def fits_by_stretching(width: int, height: int, canvas_side: int) -> bool:
    """Whether a photo is shown to the model stretched (True) or letterboxed (False).

    Photos the model sees at or below their own resolution (camera photos, and the SDK's
    1024 px proxies of them) are stretched to the square, as the model was trained; photos it
    would enlarge are letterboxed. Measured per regime (docs/quality.md): on ~800 px photos
    the letterbox beats stretching (SAD 0.77x), on photos above 1024 px it loses the subject
    on some photos that stretching handles, and loses more often than it wins.
    """
    return max(width, height) >= canvas_side


@dataclass(frozen=True)
class CoarseMatte:
    """The model's matte at the inference size, and the photo it was made from at that size."""

    alpha: np.ndarray  # float32, 0..1
    photo: np.ndarray  # uint8 RGB, same height and width


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

    def __init__(
        self,
        session: Session,
        spec: ModelSpec,
        config: MattingConfig | None = None,
        *,
        selection: Selection | None = None,
    ):
        self.session = session
        self.spec = spec
        self.config = config or MattingConfig()
        self.selection = selection  # why this backend and precision (engine/selection.py)

    def canvas_side(self) -> int:
        """Side of the square the network sees."""
        if not self.session.dynamic_size:
            return self.spec.input_size
        return min(self.config.max_side, HARD_MAX_SIDE) // SIDE_MULTIPLE * SIDE_MULTIPLE

    def canvas_sides(self) -> tuple[int, ...]:
        """Every canvas side this configuration runs the network at."""
        sides = {self.canvas_side()}
        if self.config.quality == "best" and self.session.dynamic_size:
            scaled = self._scaled_side(BEST_SCALE)
            if scaled >= BEST_MIN_SIDE:
                sides.add(scaled)
        return tuple(sorted(sides))

    def inference_size(self, width: int, height: int, side: int | None = None) -> tuple[int, int]:
        """The (width, height) the photo is resized to before it is placed on the canvas."""
        return fitted_size(width, height, side or self.canvas_side())

    def _view(self, rgb: np.ndarray, view: View, size: tuple[int, int]) -> np.ndarray:
        """The model's matte for one view of ``rgb``, brought to ``size``.

        A letterbox keeps the photo's shape in the top-left corner of a mid-grey square (which
        normalises to ~0); a stretch fills the square. Each view is undone exactly: the canvas
        cropped or the stretch resized back, the mirror flipped back.
        """
        side = self._scaled_side(view.scale)
        if view.stretch:
            width, height = side, side
        else:
            width, height = self.inference_size(rgb.shape[1], rgb.shape[0], side)
        batch = self._normalise(letterbox(rgb, side, width, height)[None])
        if view.mirror:
            batch = np.ascontiguousarray(batch[..., ::-1])
        alpha = self.session.run(batch)[0, 0]
        if view.mirror:
            alpha = alpha[:, ::-1]
        return resize_matte(_unit(alpha[:height, :width]), *size)

    def _scaled_side(self, scale: float) -> int:
        """The canvas side times ``scale``, on the model's multiple of 32."""
        if scale == 1.0:
            return self.canvas_side()
        return round(self.canvas_side() * scale / SIDE_MULTIPLE) * SIDE_MULTIPLE

    def views(self, width: int, height: int) -> tuple[View, ...]:
        """``fast``: the photo, fitted for its size. ``best``: also its mirror image and the
        photo at 3/4 of the size, where that stays above the size at which the model
        collapses (fixed-size models get only the first two)."""
        stretch = fits_by_stretching(width, height, self.canvas_side())
        photo = View(stretch=stretch)
        if self.config.quality == "fast":
            return (photo,)
        if not self.session.dynamic_size or self._scaled_side(BEST_SCALE) < BEST_MIN_SIDE:
            return photo, View(stretch=stretch, mirror=True)
        return photo, View(stretch=stretch, mirror=True), View(stretch=stretch, scale=BEST_SCALE)

    def coarse(self, rgb: np.ndarray) -> CoarseMatte:
        """The float32 matte in 0..1 at the inference size, before any upscaling, with the
        photo at that size (what the guided upscale needs again). ``best`` combines its views
        with :func:`refine_with_views`.
        """
        height, width = rgb.shape[:2]
        size = self.inference_size(width, height)
        views = self.views(width, height)
        if size[0] * size[1] < height * width:
            rgb = resize_image(rgb, *size)  # one Lanczos shrink, as the SDK's proxy does
        mattes = [self._view(rgb, view, size) for view in views]
        return CoarseMatte(refine_with_views(mattes), rgb)

    def predict_float(self, rgb: np.ndarray) -> np.ndarray:
        """The float32 matte in 0..1 with exactly the input's height and width."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("predict expects an H x W x 3 uint8 RGB array")
        return self.to_full_size(self.coarse(rgb), rgb)

    def to_full_size(self, coarse: CoarseMatte, rgb: np.ndarray) -> np.ndarray:
        """The coarse matte of ``rgb`` brought to its size (guided where it is enlarged)."""
        return full_size(coarse, rgb)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """The uint8 matte (255 = opaque) with exactly the input's height and width."""
        matte: np.ndarray = to_uint8(self.predict_float(rgb))
        return matte

    def _normalise(self, images: np.ndarray) -> np.ndarray:
        return normalise(images, self.spec)


def full_size(coarse: CoarseMatte, rgb: np.ndarray) -> np.ndarray:
    """The coarse matte of ``rgb`` brought to its size (guided where it is enlarged). Needs no
    model, so it can run on another core or another machine than :meth:`Matter.coarse`."""
    height, width = rgb.shape[:2]
    alpha = coarse.alpha
    if alpha.shape == (height, width):
        return alpha
    if alpha.shape[0] * alpha.shape[1] >= height * width:
        return resize_matte(alpha, width, height)
    return upscale_matte(alpha, rgb, small_rgb=coarse.photo)


def refine_with_views(mattes: list[np.ndarray]) -> np.ndarray:
    """The first (the photo's own) view's matte, refined by the others where it is unsure.

    The network is neither mirror- nor scale-invariant, so averaging views smooths its noise
    on soft edges. But a view may also see a region differently (a reflection, half an
    animal, a bystander's hand), and a per-pixel median of three views took such regions in
    or out on photos nobody tuned on. So the extra views never decide the subject: the mean
    of all views replaces the first view's value only where that value is uncertain (inside
    :data:`BEST_BAND`) and the mean stays within :data:`BEST_AGREEMENT` of it. Everything the
    first view was sure of stays as it saw it.
    """
    primary = mattes[0]
    if len(mattes) == 1:
        return primary
    mean = np.mean(np.stack(mattes), axis=0, dtype=np.float32)
    low, high = BEST_BAND
    refine = (primary > low) & (primary < high) & (np.abs(mean - primary) <= BEST_AGREEMENT)
    return _unit(np.where(refine, mean, primary))


def fitted_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) scaled so that the long side is ``side``."""
    scale = side / max(width, height)
    return min(side, max(1, round(width * scale))), min(side, max(1, round(height * scale)))


def letterbox(rgb: np.ndarray, side: int, width: int, height: int) -> np.ndarray:
    """``rgb`` resized to width x height in the top-left corner of a mid-grey side² square."""
    canvas = np.full((side, side, 3), CANVAS_FILL, dtype=np.uint8)
    canvas[:height, :width] = resize_image(rgb, width, height)
    return canvas


def normalise(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """N x H x W x 3 uint8 → N x 3 x H x W float32, normalised as the model expects."""
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(1, 3, 1, 1)
    # (x / 255 - mean) / std folded into one multiply-add, done in place: 1024² takes 2.6 ms
    # instead of 21 ms with temporaries, and NumPy releases the GIL meanwhile.
    scale = (1.0 / 255.0 / std).astype(np.float32)
    offset = (-mean / std).astype(np.float32)
    planar = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    batch = np.empty(planar.shape, dtype=np.float32)
    np.multiply(planar, scale, out=batch, casting="unsafe")
    np.add(batch, offset, out=batch)
    return batch


def _unit(alpha: np.ndarray) -> np.ndarray:
    clipped: np.ndarray = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    return clipped
