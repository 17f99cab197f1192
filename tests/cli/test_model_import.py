"""`alphamatte model import|info`: the offline route for hosts without npm or a registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from alphamatte.cli.main import cli
from alphamatte.engine.catalogue.families import ISNET

pytestmark = pytest.mark.slow


def test_importing_the_cached_model_on_another_host_verifies_and_prepares_it(
    models_dir: Path, tmp_path: Path
) -> None:
    """A copy of one host's model file is installed on a fresh one exactly like a fetch."""
    original = models_dir / ISNET.filename
    if not original.is_file():
        pytest.skip("the default model is not fetched (make model)")
    carried = tmp_path / "carried" / ISNET.filename
    carried.parent.mkdir()
    shutil.copy(original, carried)
    env = {"ALPHAMATTE_HOME": str(tmp_path / "air-gapped")}
    runner = CliRunner()

    done = runner.invoke(cli, ["model", "import", str(carried)], env=env)
    assert done.exit_code == 0, done.output
    installed = tmp_path / "air-gapped" / "models"
    assert (installed / ISNET.filename).read_bytes() == original.read_bytes()
    assert any(p.name.startswith("isnet-general-use-fp16.prepared") for p in installed.iterdir())

    info = runner.invoke(cli, ["model", "info", ISNET.name], env=env)
    assert info.exit_code == 0, info.output
    assert ISNET.sha256 is not None and ISNET.sha256 in info.output
    assert "matches the pin" in info.output
    assert f"imported file {ISNET.filename}" in info.output
    assert "AGPL-3.0" in info.output and "MIT" in info.output

    listed = runner.invoke(cli, ["model", "list"], env=env)
    row = next(line for line in listed.output.splitlines() if line.startswith(ISNET.name))
    assert row.split()[1:3] == ["*", "yes"]  # the default, installed


def test_importing_a_tampered_model_fails_and_keeps_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "isnet.onnx"
    fake.write_bytes(b"not the model" * 1000)
    env = {"ALPHAMATTE_HOME": str(tmp_path / "home")}
    done = CliRunner().invoke(cli, ["model", "import", str(fake)], env=env)
    assert done.exit_code == 1
    assert "expected 88,188,479" in done.output and "not kept" in done.output
    assert "--like" in done.output  # and how to run a file that is no catalogue model
    assert list((tmp_path / "home" / "models").glob("*.onnx")) == []
