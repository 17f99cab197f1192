"""Real weights under contracts: IS-Net re-exported to BiRefNet's contract must give IS-Net's
mattes back when imported ``--like birefnet-general``; ``u2netp`` under its family's contract
must be no worse than that contract written out as the family's own code runs it.
``benchmarks/contracts.py`` runs the same on every photo of both sets (docs/models.md)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from alphamatte.cli.main import cli
from alphamatte.engine.catalogue.entries import REGISTRY
from alphamatte.engine.catalogue.families import ISNET, U2NETP
from alphamatte.engine.catalogue.installed import spec_to_toml
from alphamatte.engine.catalogue.spec import GENERIC
from alphamatte.engine.loader import load_matter
from alphamatte.eval.contracts import u2net_reference, wrap_like_birefnet
from alphamatte.eval.dataset import discover, load_pair
from alphamatte.eval.metrics import sad
from alphamatte.imaging.resize import to_uint8

pytestmark = pytest.mark.slow
SETS = ("alphamatting_lowres", "icm58_hires")


def _photos(eval_dir: Path, per_set: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    chosen: list[tuple[str, np.ndarray, np.ndarray]] = []
    for source in SETS:
        pairs = [p for p in discover(eval_dir) if p.source == source][:per_set]
        chosen += [(source, *load_pair(pair)) for pair in pairs]
    return chosen


def test_isnet_wrapped_as_birefnet_gives_isnets_mattes(
    eval_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    wrapped = wrap_like_birefnet(models_dir / ISNET.filename, tmp_path / "wrapped.onnx")
    home = tmp_path / "home"
    result = CliRunner().invoke(
        cli,
        ["model", "import", str(wrapped), "--name", "wrapped", "--like", "birefnet-general"],
        env={"ALPHAMATTE_HOME": str(home), "ALPHAMATTE_BACKEND": "onnxruntime"},
    )
    assert result.exit_code == 0, result.output
    directory = home / "models"
    as_birefnet = load_matter("wrapped", directory=directory, backend="onnxruntime", fetch=False)
    assert as_birefnet.spec.output.logits and as_birefnet.spec.input.std[0] < 0.5
    # IS-Net under its own contract in BiRefNet's size regime (stretched to 1024²).
    shutil.copyfile(models_dir / ISNET.filename, directory / ISNET.filename)
    own = replace(ISNET, name="own", input=replace(ISNET.input, resize="stretch"))
    (directory / "own.model.toml").write_text(spec_to_toml(replace(own, preparation=GENERIC)))
    isnet = load_matter("own", directory=directory, backend="onnxruntime", fetch=False)
    totals = {source: [0.0, 0.0] for source in SETS}
    for source, rgb, gt in _photos(eval_dir, 2):
        totals[source][0] += sad(as_birefnet.predict(rgb), gt)
        totals[source][1] += sad(isnet.predict(rgb), gt)
    for source, (wrapped_sad, own_sad) in totals.items():
        assert abs(wrapped_sad / own_sad - 1) <= 0.005, (source, wrapped_sad, own_sad)


def test_isnet_wrapped_as_birefnet_under_isnets_contract_is_far_off(
    eval_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    """The check above can fail: the same file under the wrong contract gives other mattes."""
    wrapped = wrap_like_birefnet(models_dir / ISNET.filename, tmp_path / "wrapped.onnx")
    home = tmp_path / "home"
    result = CliRunner().invoke(
        cli,
        ["model", "import", str(wrapped), "--name", "wrong", "--like", "isnet", "--no-prepare"],
        env={"ALPHAMATTE_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    wrong = load_matter("wrong", directory=home / "models", backend="onnxruntime", fetch=False)
    shutil.copyfile(models_dir / ISNET.filename, home / "models" / ISNET.filename)
    own = replace(ISNET, name="own", input=replace(ISNET.input, resize="stretch"))
    (home / "models" / "own.model.toml").write_text(spec_to_toml(replace(own, preparation=GENERIC)))
    isnet = load_matter("own", directory=home / "models", backend="onnxruntime", fetch=False)
    for _, rgb, gt in _photos(eval_dir, 1):
        wrong_sad, own_sad = sad(wrong.predict(rgb), gt), sad(isnet.predict(rgb), gt)
        assert abs(wrong_sad / own_sad - 1) > 0.02


def test_u2netp_is_no_worse_than_its_familys_own_contract(eval_dir: Path, models_dir: Path) -> None:
    import onnxruntime as ort

    if not (models_dir / U2NETP.filename).is_file():
        pytest.skip("u2netp is not fetched (`alphamatte model fetch u2netp`)")
    matter = load_matter("u2netp", directory=models_dir, backend="onnxruntime", fetch=False)
    assert matter.spec.output.minmax and matter.spec.input == REGISTRY["u2netp"].input
    raw = ort.InferenceSession(str(models_dir / U2NETP.filename))
    totals = {source: [0.0, 0.0] for source in SETS}
    for source, rgb, gt in _photos(eval_dir, 100):
        totals[source][0] += sad(matter.predict(rgb), gt)
        totals[source][1] += sad(to_uint8(u2net_reference(raw, rgb)), gt)
    for source, (ours, reference) in totals.items():
        assert ours <= reference, (source, ours, reference)
