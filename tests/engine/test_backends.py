"""Backend choice by rule, and every installed backend's mattes against ONNX Runtime fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from alphamatte.cli.main import cli
from alphamatte.engine import backends
from alphamatte.engine.backends import BackendUnavailableError, choose, describe
from alphamatte.engine.loader import load_matter
from alphamatte.eval.dataset import discover, load_pair


def test_explicit_and_environment_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose("onnxruntime") == "onnxruntime"
    monkeypatch.setenv("ALPHAMATTE_BACKEND", "ONNXRuntime")
    assert choose() == "onnxruntime"
    with pytest.raises(BackendUnavailableError, match="Unknown backend 'tensorflow'"):
        choose("tensorflow")


@pytest.mark.parametrize(
    ("installed", "bf16", "picked"),
    [(False, False, "onnxruntime"), (True, False, "onnxruntime"), (True, True, "openvino")],
)
def test_auto_takes_openvino_only_where_it_has_bf16(
    monkeypatch: pytest.MonkeyPatch, installed: bool, bf16: bool, picked: str
) -> None:
    monkeypatch.setattr(backends, "cuda_usable", lambda: False)
    monkeypatch.setattr(backends, "openvino_installed", lambda: installed)
    monkeypatch.setattr(backends, "_openvino_bf16", lambda: bf16)
    assert choose("auto") == picked


def test_asking_for_a_missing_openvino_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "openvino_installed", lambda: False)
    with pytest.raises(BackendUnavailableError, match=r"alphamatte\[openvino\]"):
        choose("openvino")


def test_auto_takes_a_usable_gpu_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "cuda_usable", lambda: True)
    monkeypatch.setattr(backends, "openvino_installed", lambda: True)
    monkeypatch.setattr(backends, "_openvino_bf16", lambda: True)
    assert choose("auto") == "cuda"


def test_a_gpu_needs_both_the_gpu_runtime_and_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_ort_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(backends, "gpu_present", lambda: True)
    assert not backends.cuda_usable()
    monkeypatch.setattr(backends, "_ort_providers", lambda: ["CUDAExecutionProvider"])
    monkeypatch.setattr(backends, "gpu_present", lambda: False)
    assert not backends.cuda_usable()
    monkeypatch.setattr(backends, "gpu_present", lambda: True)
    assert backends.cuda_usable()


def test_asking_for_cuda_without_a_gpu_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "cuda_usable", lambda: False)
    with pytest.raises(BackendUnavailableError, match=r"NVIDIA GPU.*alphamatte\[gpu\]"):
        choose("cuda")


INSTALLED = [
    pytest.param(
        "openvino",
        marks=pytest.mark.skipif(
            not backends.openvino_installed(), reason="OpenVINO is not installed"
        ),
    ),
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not backends.cuda_usable(), reason="no usable GPU")
    ),
]


@pytest.mark.parametrize("backend", INSTALLED)
def test_every_backend_matches_onnxruntime_fp32_on_real_photos(
    models_dir: Path, eval_dir: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPHAMATTE_CPU_PRECISION", "f32")
    reference = load_matter(backend="onnxruntime", fetch=False)
    other = load_matter(backend=backend, fetch=False)
    runtime = describe(other.session)
    assert runtime.precision in ("f32", "bf16", "fp16")
    # Half precisions move mattes by up to ~0.02 (measured for bf16); f32 by rounding only.
    bound_max, bound_mean = (0.1, 0.003) if runtime.precision != "f32" else (0.01, 0.0005)
    for name in ("GT05", "GT18"):
        rgb, _ = load_pair(next(p for p in discover(eval_dir) if p.name == name))
        difference = np.abs(other.predict_float(rgb) - reference.predict_float(rgb))
        assert difference.max() < bound_max and difference.mean() < bound_mean, name


@pytest.mark.parametrize(("asked", "shown"), [(None, "int8"), ("f32", "f32"), ("int8", "int8")])
def test_info_prints_backend_device_precision_and_threads(
    models_dir: Path, asked: str | None, shown: str
) -> None:
    env = {"ALPHAMATTE_BACKEND": "onnxruntime", "ALPHAMATTE_CPU_PRECISION": asked}
    result = CliRunner().invoke(cli, ["info"], env=env)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if "  " in line)
    assert lines["backend"].startswith("onnxruntime")
    assert lines["precision"].strip() == shown
    assert int(lines["threads"]) >= 1


def test_an_unknown_cpu_precision_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAMATTE_CPU_PRECISION", "int4")
    with pytest.raises(BackendUnavailableError, match="Unknown CPU precision 'int4'"):
        backends.cpu_int8()
    result = CliRunner().invoke(cli, ["info"], env={"ALPHAMATTE_CPU_PRECISION": "int4"})
    assert result.exit_code == 1
    assert "ALPHAMATTE_CPU_PRECISION: Input should be 'int8' or 'f32'" in result.output


def test_an_unknown_backend_is_a_one_line_error(models_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["info"], env={"ALPHAMATTE_BACKEND": "tpu"})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "ALPHAMATTE_BACKEND: Input should be 'auto', 'onnxruntime', 'openvino' or 'cuda'" in (
        result.output
    )
