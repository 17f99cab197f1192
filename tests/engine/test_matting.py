from __future__ import annotations

import threading

import numpy as np
import pytest

from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.imaging.decode import decode
from alphamatte.product.matte import run_matting
from tests.conftest import gradient_rgb, image_bytes
from tests.fakes import FakeSession


def make(max_side: int = 1024, dynamic: bool = True) -> tuple[Matter, FakeSession]:
    session = FakeSession(dynamic=dynamic)
    return Matter(session, ISNET, MattingConfig(max_side=max_side)), session  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "size",
    [(1, 1), (7, 300), (640, 480), (480, 640), (1500, 900), (3000, 2000), (1024, 1024), (33, 2000)],
)
def test_matte_has_exactly_the_input_size(size: tuple[int, int]) -> None:
    matter, session = make()
    width, height = size
    matte = matter.predict(gradient_rgb(width, height))
    assert matte.shape == (height, width)
    assert matte.dtype == np.uint8
    for shape in session.calls:
        assert max(shape[2:]) <= 1024  # never above 1024 on the long side


@pytest.mark.parametrize("max_side", [32, 400, 1000, 1024])
def test_max_side_caps_what_the_model_sees(max_side: int) -> None:
    matter, session = make(max_side=max_side)
    matter.predict(gradient_rgb(1600, 1200))
    (shape,) = session.calls
    assert shape[2] == shape[3] <= max_side
    assert shape[2] % 32 == 0


def test_aspect_ratio_is_kept_on_the_canvas() -> None:
    matter, _ = make()
    assert matter.inference_size(2000, 1000) == (1024, 512)
    assert matter.inference_size(300, 900) == (341, 1024)


def test_matte_lines_up_with_the_subject() -> None:
    matter, _ = make(max_side=256)
    rgb = np.zeros((300, 500, 3), np.uint8)
    rgb[100:200, 300:450] = 255
    matte = matter.predict(rgb)
    assert matte[150, 375] > 200  # inside the bright block
    assert matte[150, 100] < 50  # far outside it
    assert matte[20, 375] < 50


class CanvasRecorder(FakeSession):
    def run(self, batch: np.ndarray) -> np.ndarray:
        self.last = batch.copy()
        return super().run(batch)


@pytest.mark.parametrize(("size", "stretched"), [((800, 400), False), ((2400, 1200), True)])
def test_photos_the_model_would_enlarge_are_letterboxed_larger_ones_stretched(
    size: tuple[int, int], stretched: bool
) -> None:
    session = CanvasRecorder()
    matter = Matter(session, ISNET, MattingConfig(max_side=1024))  # type: ignore[arg-type]
    width, height = size
    rgb = np.full((height, width, 3), 255, np.uint8)
    matte = matter.predict(rgb)
    assert matte.shape == (height, width) and matte.min() > 200
    bottom_row = session.last[0, :, -1, :]  # the canvas's last row: grey (~0) or photo
    assert bool(np.abs(bottom_row).max() > 0.1) is stretched


def test_a_stretched_view_is_stretched_back_in_line_with_the_subject() -> None:
    matter, _ = make(max_side=256)
    rgb = np.zeros((100, 400, 3), np.uint8)
    rgb[20:60, 300:380] = 255
    size = matter.inference_size(400, 100)
    stretched = matter._run(rgb, True, size)
    letterboxed = matter._run(rgb, False, size)
    assert stretched.shape == letterboxed.shape == (64, 256)
    assert np.abs(stretched - letterboxed).mean() < 0.02


def test_fixed_size_session_gets_its_trained_square() -> None:
    matter, session = make(dynamic=False)
    matter.predict(gradient_rgb(200, 100))
    assert session.calls == [(1, 3, 1024, 1024)]


def test_rejects_non_rgb_arrays() -> None:
    matter, _ = make()
    with pytest.raises(ValueError):
        matter.predict(np.zeros((10, 10), np.uint8))


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        MattingConfig(max_side=2048)


def test_concurrent_callers_get_their_own_results() -> None:
    matter, _ = make(max_side=128)
    sizes = [(50 + 10 * i, 40 + 7 * i) for i in range(8)]
    results: dict[int, tuple[int, ...]] = {}

    def work(index: int) -> None:
        results[index] = matter.predict(gradient_rgb(*sizes[index])).shape

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sizes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: (h, w) for i, (w, h) in enumerate(sizes)}


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_matte_is_in_the_stored_grid_and_cutout_upright(orientation: int) -> None:
    from PIL import Image

    matter, _ = make(max_side=128)
    stored = np.zeros((60, 100, 3), np.uint8)
    stored[:, :30] = 255  # bright band on the left of the stored pixels
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    decoded = decode(image_bytes(image, "PNG", exif=exif))
    result = run_matting(decoded, matter)
    matte = result.stored_matte(decoded.orientation)
    assert matte.shape == (60, 100)
    assert matte[:, :25].min() > 200 and matte[:, 40:].max() < 50
    rgba = result.cutout()
    upright_shape = (100, 60) if orientation in (6, 8) else (60, 100)
    assert rgba.shape == (*upright_shape, 4)
    assert np.array_equal(rgba[..., 3] > 127, decoded.upright()[..., 0] > 127)
