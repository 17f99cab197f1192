"""The release artefacts and the light install, as a user gets them from `pip install`.

One wheel and sdist are built per session (``python -m build``); the base install goes into a
fresh virtualenv from the package index, with no extras, and is used against a live server
running in this (full) environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.footprint import (
    ROOT,
    import_seconds,
    make_venv,
    pip_install,
    requirement,
    tree_bytes,
)
from PIL import Image

from tests.conftest import gradient_rgb
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

SHIPPED = (
    "alphamatte/py.typed",
    "alphamatte/server/static/index.html",
    "alphamatte/server/static/playground.js",
    "alphamatte/server/static/playground.css",
    "alphamatte/server/migrations/env.py",
    "alphamatte/server/migrations/script.py.mako",
    "alphamatte/server/migrations/versions/0001_keys_and_usage.py",
    "alphamatte/server/migrations/versions/0003_ledger.py",
    "alphamatte/engine/preparation/calibration/astronaut.jpg",
    "alphamatte/engine/preparation/calibration/rocket.jpg",
    "alphamatte/engine/preparation/calibration/README.md",
    "alphamatte/engine/runtimes/precision_budget.json",  # `auto` cannot choose without it
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def light(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv with only the base install of the wheel; yields its bin folder."""
    venv = tmp_path_factory.mktemp("light") / "venv"
    python = make_venv(venv)
    pip_install(python, requirement(next(dist.glob("*.whl")), "base"))
    yield python.parent


def test_wheel_and_sdist_carry_the_playground_migrations_calibration_and_types(dist: Path) -> None:
    wheel = next(dist.glob("alphamatte-*.whl"))
    sdist = next(dist.glob("alphamatte-*.tar.gz"))
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/src/", 1)[-1] for name in archive.getnames()}
    for name in SHIPPED:
        assert name in in_wheel, f"{name} missing from the wheel"
        assert name in in_sdist, f"{name} missing from the sdist"
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_base_install_is_small_and_leaves_the_engine_and_server_out(light: Path) -> None:
    version = subprocess.run(
        [light / "alphamatte", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("alphamatte, version ")
    listed = subprocess.run(
        [light / "python", "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    for heavy in ("onnxruntime", "onnx", "fastapi", "sqlalchemy", "numba", "scipy", "pymatting"):
        assert heavy not in names
    assert tree_bytes(light.parent) < 200e6
    assert import_seconds(light / "python", runs=3) < 1.0  # the README's figure is the benchmark's


def test_the_sdk_and_composite_work_from_the_base_install(
    light: Path, live: LiveServer, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient_rgb(640, 480)).save(photo)
    key = live.new_key(credits=5)
    script = f"""
import sys
from alphamatte.client import Client
with Client(api_key={key!r}, base_url={live.url!r}) as client:
    cut = client.cutout({str(photo)!r})
    cut.save({str(tmp_path / "cut.png")!r})
    client.matte({str(photo)!r}).matte_image().save({str(tmp_path / "matte.png")!r})
    print(client.available_credit().credit)
assert "onnxruntime" not in sys.modules and "fastapi" not in sys.modules
"""
    ran = subprocess.run([light / "python", "-c", script], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "3"
    cut = Image.open(tmp_path / "cut.png")
    assert cut.mode == "RGBA" and cut.size == (640, 480)
    alpha = cut.getchannel("A")
    assert alpha.getextrema() == (0, 255)

    composed = subprocess.run(
        [
            light / "alphamatte",
            "composite",
            str(photo),
            "--matte",
            str(tmp_path / "matte.png"),
            "--background",
            "#2f6fde",
            "-o",
            str(tmp_path / "blue.png"),
        ],
        capture_output=True,
        text=True,
    )
    assert composed.returncode == 0, composed.stderr
    assert Image.open(tmp_path / "blue.png").size == (640, 480)


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["serve"], "server"),
        (["keys", "list"], "server"),
        (["model", "fetch"], "local"),
        (["matte", "photo.png"], "local"),
        (["eval", "."], "local"),
    ],
)
def test_commands_that_need_an_extra_say_so_in_one_line(
    light: Path, tmp_path: Path, command: list[str], extra: str
) -> None:
    Image.fromarray(gradient_rgb(64, 48)).save(tmp_path / "photo.png")
    ran = subprocess.run(
        [light / "alphamatte", *command], capture_output=True, text=True, cwd=tmp_path
    )
    assert ran.returncode == 1
    assert ran.stdout == ""
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert f"pip install 'alphamatte[{extra}]'" in lines[0]
