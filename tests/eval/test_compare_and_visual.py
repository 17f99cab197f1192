from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from alphamatte.eval.compare import compare, per_mp, regime
from alphamatte.eval.dataset import Pair, Report, Result
from alphamatte.eval.visual import VisualReport, error_map, worst_window


def result(source: str, name: str, size: tuple[int, int], sad: float, grad: float = 1.0) -> Result:
    pair = Pair(source, name, Path(f"{name}.png"), Path(f"{name}.png"))
    metrics = {"sad": sad, "mse": 0.01, "gradient": grad, "connectivity": sad}
    return Result(pair, metrics, seconds=0.5, size=size)


def test_sums_are_per_megapixel_and_regimes_split_at_1024() -> None:
    big = result("hires", "a", (2000, 1000), sad=40.0)  # 2 MP
    small = result("low", "b", (800, 500), sad=8.0)  # 0.4 MP
    assert per_mp(big)["sad"] == pytest.approx(20.0)
    assert per_mp(big)["mse"] == pytest.approx(0.01)  # already per pixel
    assert per_mp(small)["sad"] == pytest.approx(20.0)
    assert regime(big) == "> 1024 px" and regime(small) == "≤ 1024 px"
    assert regime(result("x", "c", (1024, 1024), 1.0)) == "≤ 1024 px"


def test_median_and_wins_are_not_carried_by_one_photo() -> None:
    # One photo fixed dramatically (100 -> 10), three a little worse (10 -> 12): the mean
    # says "much better", the median and the win count say "usually worse".
    ours = Report([result("s", "a", (2000, 2000), 40.0)])
    plain = Report([result("s", "a", (2000, 2000), 400.0)])
    for name in "bcd":
        ours.results.append(result("s", name, (2000, 2000), 48.0))
        plain.results.append(result("s", name, (2000, 2000), 40.0))
    (by_source, by_regime) = compare(ours, plain)
    assert by_source.group == "s" and by_regime.group == "> 1024 px"
    assert by_source.count == 4
    assert by_source.ratio("sad") == pytest.approx((10 + 3 * 12) / (100 + 3 * 10))
    assert by_source.median_sad_ratio == pytest.approx(1.2)
    assert by_source.wins == 1


def test_regime_groups_pool_sources() -> None:
    ours = Report([result("p", "a", (800, 600), 4.8), result("q", "b", (3000, 2000), 60.0)])
    plain = Report([result("p", "a", (800, 600), 9.6), result("q", "b", (3000, 2000), 60.0)])
    groups = {c.group: c for c in compare(ours, plain)}
    assert set(groups) == {"p", "q", "≤ 1024 px", "> 1024 px"}
    assert groups["≤ 1024 px"].ours["sad"] == pytest.approx(10.0)
    assert groups["> 1024 px"].median_sad_ratio == pytest.approx(1.0)
    assert groups["> 1024 px"].wins == 0


def test_error_map_is_red_when_too_opaque_and_blue_when_too_transparent() -> None:
    gt = np.array([[0, 255, 128]], np.uint8)
    pred = np.array([[255, 0, 128]], np.uint8)
    colours = error_map(pred, gt)
    assert tuple(colours[0, 0]) == (255, 0, 0)
    assert tuple(colours[0, 1]) == (0, 0, 255)
    assert tuple(colours[0, 2]) == (0, 0, 0)


def test_worst_window_finds_the_wrong_patch() -> None:
    gt = np.zeros((600, 900), np.uint8)
    pred = gt.copy()
    pred[400:450, 700:760] = 255
    left, top = worst_window(pred, gt, side=128)
    assert left <= 700 and left + 128 >= 760
    assert top <= 400 and top + 128 >= 450


def test_html_report_lists_photos_worst_first_with_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    visual = VisualReport()
    ours, plain = Report(), Report()
    for name, wrong in (("mild", 10), ("awful", 200), ("fine", 0)):
        pair = Pair("src", name, Path("x"), Path("y"))
        rgb = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
        gt = np.zeros((300, 400), np.uint8)
        gt[100:200, 100:300] = 255
        pred = gt.copy()
        pred[:wrong] = 255
        visual.keep(pair, rgb, gt, {"fast": pred, "plain": gt})
        ours.results.append(result("src", name, (400, 300), float(wrong) + 0.1))
        plain.results.append(result("src", name, (400, 300), 1.0))
    out = tmp_path / "report.html"
    visual.write(out, "test <set>", ours, plain, compare(ours, plain))
    page = out.read_text(encoding="utf-8")
    headings = re.findall(r"<h2>\d+\. src/(\w+)", page)
    assert headings == ["awful", "mild", "fine"]
    assert "test &lt;set&gt;" in page  # titles are escaped
    # per photo: photo, truth, fast, fast error, plain, plain error; thumbnails and crops
    assert page.count("data:image/") == 3 * 12
    assert page.count("<figcaption>plain error</figcaption>") == 6
