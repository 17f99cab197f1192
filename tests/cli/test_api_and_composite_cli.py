"""`matte --api`, `batch` and `composite`, through a real server with the fast fake model."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphamatte.cli.main import cli
from alphamatte.client import Client
from tests.conftest import gradient_rgb
from tests.server.live import LiveServer

ALPHAMATTE = Path(sys.executable).with_name("alphamatte")


def write_photo(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient_rgb(width, height)).save(path)
    return path


def test_matte_through_the_api_has_the_photo_size(live: LiveServer, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "big.jpg", 2400, 1600)
    out = tmp_path / "big.matte.png"
    key = live.new_key(credits=3)
    result = CliRunner().invoke(
        cli, ["matte", str(photo), "-o", str(out), "--api", live.url, "--api-key", key]
    )
    assert result.exit_code == 0, result.output
    matte = Image.open(out)
    assert matte.mode == "L" and matte.size == (2400, 1600)
    assert np.asarray(matte)[800, 1200] > 240


def test_batch_is_recursive_resumable_and_waits_out_the_rate_limit(
    live: LiveServer, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    for i in range(5):
        write_photo(source / ("a" if i % 2 else "b") / f"p{i}.png", 300 + i, 200)
    (source / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    key = live.new_key(credits=20, rate_limit="2/second")
    args = ["batch", str(source), str(out), "--api", live.url, "--api-key", key, "--workers", "3"]

    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 1, first.output  # the broken file
    assert "5 written" in first.output and "1 failed" in first.output
    assert "broken.jpg" in first.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a/p1.png", "a/p3.png", "b/p0.png", "b/p2.png", "b/p4.png"]
    assert Image.open(out / "a" / "p3.png").size == (303, 200)
    assert Image.open(out / "a" / "p3.png").mode == "RGBA"
    assert not list(out.rglob("*.tmp"))

    (out / "b" / "p2.png").unlink()  # as if the first run had been interrupted
    second = CliRunner().invoke(cli, args)
    assert "1 written, 4 already done" in second.output
    with Client(key, live.url) as client:  # 5 + 1 charged; the broken file never
        assert client.available_credit().credit == 20 - 6


def test_batch_stops_at_once_on_a_bad_key(live: LiveServer, tmp_path: Path) -> None:
    for i in range(4):
        write_photo(tmp_path / "in" / f"p{i}.png", 64, 64)
    result = CliRunner().invoke(
        cli,
        ["batch", str(tmp_path / "in"), str(tmp_path / "out"), "--api", live.url],
        env={"ALPHAMATTE_API_KEY": "am_wrong"},
    )
    assert result.exit_code == 1
    assert "API key" in result.output or "401" in result.output
    assert not list(tmp_path.glob("out/**/*.png"))


def composite_inputs(tmp_path: Path) -> tuple[Path, Path]:
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[:] = (255, 255, 255)
    alpha = np.zeros((60, 80), np.uint8)
    alpha[20:40, 20:60] = 255
    alpha[20:40, 19] = 128
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(alpha, mode="L").save(tmp_path / "matte.png")
    return tmp_path / "photo.png", tmp_path / "matte.png"


def test_composite_onto_a_colour_blends_in_linear_light(tmp_path: Path) -> None:
    photo, matte = composite_inputs(tmp_path)
    out = tmp_path / "out.png"
    result = CliRunner().invoke(
        cli,
        ["composite", str(photo), "--matte", str(matte), "--background", "#000000", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    pixels = np.asarray(Image.open(out))
    assert pixels.shape == (60, 80, 3)
    assert tuple(pixels[30, 40]) == (255, 255, 255) and tuple(pixels[5, 5]) == (0, 0, 0)
    assert 185 <= pixels[30, 19, 0] <= 190  # 50 % white over black in linear light


def test_composite_effects_and_mask_export(tmp_path: Path) -> None:
    photo, matte = composite_inputs(tmp_path)
    runner = CliRunner()
    shadow = tmp_path / "shadow.png"
    result = runner.invoke(
        cli,
        [
            "composite",
            str(photo),
            "--matte",
            str(matte),
            "--erode",
            "2",
            "--shadow",
            "-o",
            str(shadow),
        ],
    )
    assert result.exit_code == 0, result.output
    rgba = np.asarray(Image.open(shadow))
    assert rgba[30, 20, 3] < 255  # eroded edge
    assert rgba[45, 65, 3] > 0 and rgba[45, 65, 0] == 0  # shadow below right
    mask = tmp_path / "mask.png"
    assert (
        runner.invoke(
            cli, ["composite", str(photo), "--matte", str(matte), "--css-mask", "-o", str(mask)]
        ).exit_code
        == 0
    )
    assert np.array_equal(np.asarray(Image.open(mask))[:, :, 3], np.asarray(Image.open(matte)))
    jpeg = runner.invoke(
        cli, ["composite", str(photo), "--matte", str(matte), "-o", str(tmp_path / "x.jpg")]
    )
    assert jpeg.exit_code != 0 and "transparency" in jpeg.output


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_written_files_follow_the_users_umask(live: LiveServer, tmp_path: Path, umask: int) -> None:
    """Outputs are readable by whoever a plain open() would let read them, not 0600."""
    photo, matte = composite_inputs(tmp_path)
    shutil.copy(photo, tmp_path / "in.png")
    key = live.new_key(credits=10)
    script = (
        f"umask {umask:03o}; "
        f"{ALPHAMATTE} composite {photo} --matte {matte} --background '#000' -o {tmp_path}/c.png"
        f" && {ALPHAMATTE} matte {tmp_path}/in.png --api {live.url} --api-key {key}"
        f" -o {tmp_path}/m.png"
        f" && mkdir -p {tmp_path}/src && cp {photo} {tmp_path}/src/"
        f" && {ALPHAMATTE} batch {tmp_path}/src {tmp_path}/out --api {live.url} --api-key {key}"
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = [tmp_path / "c.png", tmp_path / "m.png", *(tmp_path / "out").rglob("*.png")]
    assert len(written) == 3
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
