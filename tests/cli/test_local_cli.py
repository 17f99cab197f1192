"""`alphamatte matte|cutout|eval` on the real model (small max side to stay quick)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphamatte.cli.main import cli

pytestmark = pytest.mark.slow


def photo(eval_dir: Path, name: str = "GT18") -> Path:
    return eval_dir / "alphamatting_lowres" / "images" / f"{name}.png"


def test_matte_writes_a_full_size_grayscale_png(tmp_path: Path, eval_dir: Path) -> None:
    out = tmp_path / "m.png"
    result = CliRunner().invoke(
        cli, ["matte", str(photo(eval_dir)), "-o", str(out), "--max-side", "512"]
    )
    assert result.exit_code == 0, result.output
    matte = Image.open(out)
    assert matte.mode == "L"
    assert matte.size == Image.open(photo(eval_dir)).size
    values = np.asarray(matte)
    assert values.min() < 20 and values.max() > 235


def test_cutout_is_rgba_with_straight_alpha(tmp_path: Path, eval_dir: Path) -> None:
    out = tmp_path / "c.png"
    result = CliRunner().invoke(
        cli, ["cutout", str(photo(eval_dir)), "-o", str(out), "--max-side", "512"]
    )
    assert result.exit_code == 0, result.output
    rgba = Image.open(out)
    assert rgba.mode == "RGBA" and rgba.size == Image.open(photo(eval_dir)).size
    pixels = np.asarray(rgba)
    opaque = pixels[..., 3] == 255
    original = np.asarray(Image.open(photo(eval_dir)).convert("RGB"))
    assert np.array_equal(pixels[..., :3][opaque], original[opaque])  # colours not premultiplied


def test_cutout_crops_to_the_subject_on_a_colour_as_jpeg(tmp_path: Path, eval_dir: Path) -> None:
    """`--crop --margin --bg --format`: the product options, laid out the same as the server's."""
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(photo(eval_dir), source / "toy.png")
    out = tmp_path / "out"
    args = ["cutout", str(source), "--out-dir", str(out), "--max-side", "512", "--crop"]
    args += ["--margin", "10%", "--bg", "00f", "--format", "jpg"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    written = Image.open(out / "toy.jpg")
    width, height = Image.open(photo(eval_dir)).size
    assert written.format == "JPEG" and written.mode == "RGB"
    assert written.size[0] < width or written.size[1] < height  # cropped
    corner = np.asarray(written)[2, 2].astype(int)
    assert corner[2] > 200 and corner[0] < 60 and corner[1] < 60  # the margin is blue
    zipped = CliRunner().invoke(
        cli, ["cutout", str(source), "--out-dir", str(out), "--max-side", "512", "--format", "zip"]
    )
    assert zipped.exit_code == 0, zipped.output
    assert (out / "toy.zip").read_bytes()[:2] == b"PK"
    refused = CliRunner().invoke(cli, ["cutout", str(source), "--scale", "5%"])
    assert refused.exit_code == 2 and "outside 10%-100%" in refused.output


def test_folder_with_a_bad_file_skips_it_and_fails_at_the_end(
    tmp_path: Path, eval_dir: Path
) -> None:
    source = tmp_path / "in"
    (source / "nested").mkdir(parents=True)
    shutil.copy(photo(eval_dir, "GT18"), source / "a.png")
    shutil.copy(photo(eval_dir, "GT20"), source / "nested" / "b.png")
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["matte", str(source), "--out-dir", str(out), "--max-side", "512"]
    )
    assert result.exit_code == 1
    assert "broken.jpg" in result.output and "Traceback" not in result.output
    assert (out / "a.png").is_file() and (out / "nested" / "b.png").is_file()


def test_a_folder_gives_each_photo_the_same_cutout_as_alone(tmp_path: Path, eval_dir: Path) -> None:
    """Post-processing of one photo overlaps the next one's inference: nothing may mix."""
    source = tmp_path / "in"
    source.mkdir()
    for name in ("GT18", "GT20", "GT05"):
        shutil.copy(photo(eval_dir, name), source / f"{name}.png")
    (source / "GT18.cutout.png").mkdir()  # where GT18's cutout would go: its write fails
    args = ["--max-side", "256"]
    together = CliRunner().invoke(cli, ["cutout", str(source), *args])
    assert together.exit_code == 1 and "GT18" in together.output, together.output
    assert "2 written, 1 failed" in together.output
    for name in ("GT20", "GT05"):
        alone = tmp_path / f"{name}-alone.png"
        result = CliRunner().invoke(
            cli, ["cutout", str(photo(eval_dir, name)), "-o", str(alone), *args]
        )
        assert result.exit_code == 0, result.output
        written = np.asarray(Image.open(source / f"{name}.cutout.png"))
        assert np.array_equal(written, np.asarray(Image.open(alone))), name


def test_output_flag_with_many_inputs_is_a_usage_error(tmp_path: Path, eval_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "matte",
            str(photo(eval_dir, "GT18")),
            str(photo(eval_dir, "GT20")),
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_eval_compares_with_plain_and_writes_json_and_a_visual_report(
    tmp_path: Path, eval_dir: Path
) -> None:
    dataset = tmp_path / "set"
    for sub in ("images", "alpha"):
        (dataset / "src" / sub).mkdir(parents=True)
        shutil.copy(
            eval_dir / "comp1k_crops_foamliu" / sub / "crop5.png",
            dataset / "src" / sub / "crop5.png",
        )
    out, page = tmp_path / "r.json", tmp_path / "report.html"
    result = CliRunner().invoke(
        cli,
        ["eval", str(dataset), "--json", str(out), "--report", str(page), "--max-side", "640"],
    )
    assert result.exit_code == 0, result.output
    assert "crop5" in result.output and "vs plain" in result.output
    import json

    report = json.loads(out.read_text())
    assert report["isnet-general-use"]["images"][0]["sad"] < 30
    assert report["plain"]["images"][0]["width"] == 320
    groups = {row["group"]: row for row in report["summary"]}
    assert set(groups) == {"src", "≤ 1024 px"}
    assert groups["src"]["photos"] == 1 and groups["src"]["wins"] in (0, 1)
    html = page.read_text(encoding="utf-8")
    assert "src/crop5" in html and html.count("data:image/") == 12


def test_eval_puts_two_models_side_by_side(
    tmp_path: Path, eval_dir: Path, models_dir: Path
) -> None:
    if not (models_dir / "u2netp.onnx").is_file():
        pytest.skip("u2netp is not fetched")
    dataset = tmp_path / "set"
    for sub in ("images", "alpha"):
        (dataset / "src" / sub).mkdir(parents=True)
        shutil.copy(
            eval_dir / "comp1k_crops_foamliu" / sub / "crop5.png",
            dataset / "src" / sub / "crop5.png",
        )
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            str(dataset),
            "--model",
            "isnet-general-use",
            "--model",
            "u2netp",
            "--json",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "models side by side" in result.output
    import json

    report = json.loads(out.read_text())
    assert set(report["models"]) == {"isnet-general-use", "u2netp"}
    sads = {name: m["report"]["images"][0]["sad"] for name, m in report["models"].items()}
    assert sads["isnet-general-use"] != sads["u2netp"]  # two models, two mattes
    assert all(m["peak_rss_mb"] > 0 for m in report["models"].values())
