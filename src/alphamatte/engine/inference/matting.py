"""``predict(image) -> alpha``: the model at ≤ max_side, the matte back at the input's size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphamatte.engine.catalogue.contract import to_alpha, to_input
from alphamatte.engine.catalogue.spec import ModelSpec
from alphamatte.engine.runtimes.selection import Selection
from alphamatte.engine.runtimes.session import Session
from alphamatte.imaging.refine import upscale_matte
from alphamatte.imaging.resize import resize_image, resize_matte, to_uint8

HARD_MAX_SIDE = 1024  # the contract: inference never runs above this on the long side
SIDE_MULTIPLE = 32  # five 2x poolings in the deepest stage of the dynamic IS-Net graph


def fits_by_stretching(width: int, height: int, canvas_side: int) -> bool:
    """Whether a photo is shown to an ``adaptive`` model stretched (True) or letterboxed.

    Photos the model sees at or below their own resolution (camera photos, and the SDK's
    1024 px proxies of them) are stretched to the square, as the model was trained; photos it
    would enlarge are letterboxed. Measured per regime for IS-Net (docs/quality.md): on ~800 px
    photos the letterbox beats stretching (SAD 0.77x), on photos above 1024 px it loses the
    subject on some photos that stretching handles, and loses more often than it wins.
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

    def __post_init__(self) -> None:
        if not SIDE_MULTIPLE <= self.max_side <= HARD_MAX_SIDE:
            raise ValueError(f"max_side must be within {SIDE_MULTIPLE}..{HARD_MAX_SIDE}")


class Matter:
    """Turns RGB photos into mattes with one shared :class:`Session`, under the model's
    contracts (``spec.input``, ``spec.output``). Thread-safe."""

    def __init__(
        self,
        session: Session,
        spec: ModelSpec,
        config: MattingConfig | None = None,
        *,
        selection: Selection | None = None,
    ):
        if spec.input.side > HARD_MAX_SIDE and not session.dynamic_size:
            raise ValueError(
                f"{spec.name} runs at {spec.input.side}² and the engine never runs a model "
                f"above {HARD_MAX_SIDE} px"
            )
        self.session = session
        self.spec = spec
        self.config = config or MattingConfig()
        self.selection = selection  # why this backend and precision (engine/selection.py)

    @property
    def name(self) -> str:
        return self.spec.name

    def canvas_side(self) -> int:
        """Side of the square the network sees."""
        if not self.session.dynamic_size:
            return self.spec.input.side
        multiple = self.spec.input.multiple
        return min(self.config.max_side, HARD_MAX_SIDE, self.spec.input.side) // multiple * multiple

    def canvas_sides(self) -> tuple[int, ...]:
        """Every canvas side this configuration runs the network at."""
        return (self.canvas_side(),)

    def warm(self) -> None:
        """Have the runtime ready its kernels for the canvas (OpenVINO compiles per shape),
        without running the model."""
        for side in self.canvas_sides():
            self.session.compile_for(
                (1, 3, side, side) if self.spec.input.layout == "NCHW" else (1, side, side, 3)
            )

    def inference_size(self, width: int, height: int, side: int | None = None) -> tuple[int, int]:
        """The (width, height) the photo is resized to before it is placed on the canvas."""
        return fitted_size(width, height, side or self.canvas_side())

    def stretches(self, width: int, height: int) -> bool:
        """Whether this photo fills the square (True) or is letterboxed, per the contract."""
        resize = self.spec.input.resize
        if resize == "adaptive":
            return fits_by_stretching(width, height, self.canvas_side())
        return resize == "stretch"

    def _run(self, rgb: np.ndarray, stretch: bool, size: tuple[int, int]) -> np.ndarray:
        """The model's matte of ``rgb``, brought to ``size``.

        A letterbox keeps the photo's shape in the top-left corner of a square filled with the
        contract's pad value; a stretch fills the square, resampling ``rgb`` once (straight
        from the photo, not from its already shrunk copy). Either is undone exactly: the
        canvas cropped or the stretch resized back."""
        side = self.canvas_side()
        if stretch:
            width, height = side, side
        else:
            width, height = self.inference_size(rgb.shape[1], rgb.shape[0], side)
        canvas = letterbox(rgb, side, width, height, fill=self.spec.input.pad)
        output = self.session.run(to_input(canvas[None], self.spec.input))
        alpha = to_alpha(output, self.spec.output, regions=[(height, width)])[0]
        return resize_matte(alpha[:height, :width], *size)

    def coarse(self, rgb: np.ndarray) -> CoarseMatte:
        """The float32 matte in 0..1 at the inference size, before any upscaling, with the
        photo at that size (what the guided upscale needs again).

        A stretch starts from the photo at most ``max_side`` (1024) px long, as the SDK's proxy
        is, so that a proxy and its full photo give the same matte. For a model whose square is
        that size this is the inference-size copy; for a smaller square (U²-Net's 320²) it is
        one resampling straight to the square, not a shrink to 320×213 stretched again."""
        height, width = rgb.shape[:2]
        size = self.inference_size(width, height)
        stretch = self.stretches(width, height)
        small = rgb
        if size[0] * size[1] < height * width:
            small = resize_image(rgb, *size)  # one Lanczos shrink, as the SDK's proxy does
        source = small
        if stretch:
            proxy = fitted_size(width, height, max(self.config.max_side, self.canvas_side()))
            if proxy != size:
                source = resize_image(rgb, *proxy) if proxy[0] < width else rgb
        return CoarseMatte(self._run(source, stretch, size), small)

    def predict_float(self, rgb: np.ndarray) -> np.ndarray:
        """The float32 matte in 0..1 with exactly the input's height and width."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("predict expects an H x W x 3 uint8 RGB array")
        return full_size(self.coarse(rgb), rgb)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """The uint8 matte (255 = opaque) with exactly the input's height and width."""
        matte: np.ndarray = to_uint8(self.predict_float(rgb))
        return matte


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


def fitted_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) scaled so that the long side is ``side``."""
    scale = side / max(width, height)
    return min(side, max(1, round(width * scale))), min(side, max(1, round(height * scale)))


def letterbox(
    rgb: np.ndarray, side: int, width: int, height: int, *, fill: int = 127
) -> np.ndarray:
    """``rgb`` resized to width x height in the top-left corner of a side² square of ``fill``
    (IS-Net's mid-grey 127 normalises to ~0)."""
    canvas = np.full((side, side, 3), fill, dtype=np.uint8)
    canvas[:height, :width] = resize_image(rgb, width, height)
    return canvas


def normalise(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """N x H x W x 3 uint8 → the tensor ``spec``'s graph reads (see ``engine.contract``)."""
    return to_input(images, spec.input)
