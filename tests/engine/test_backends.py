"""Backend requests, and every backend and precision this machine runs against ONNX Runtime fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from alphamatte.cli.main import cli
from alphamatte.config import default_models_dir
from alphamatte.engine.errors import BackendUnavailableError
from alphamatte.engine.loader import load_matter
from alphamatte.engine.runtimes import backends, cuda, openvino
from alphamatte.engine.runtimes.backends import describe, requested_backend
from alphamatte.engine.runtimes.selection import REFERENCE, Capabilities, runnable
from alphamatte.eval.dataset import discover, load_pair
from alphamatte.runtime import settings_with


def test_explicit_and_environment_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert requested_backend("onnxruntime") == "onnxruntime"
    assert requested_backend("ONNXRuntime") == "onnxruntime"
    monkeypatch.setenv("ALPHAMATTE_BACKEND", "onnxruntime")
    assert requested_backend() == "auto"  # the engine reads no environment of its own...
    assert requested_backend(settings_with().backend) == "onnxruntime"  # ...Settings does
    monkeypatch.delenv("ALPHAMATTE_BACKEND")
    assert requested_backend(settings_with().backend) == "auto"  # measured (selection.py)
    with pytest.raises(BackendUnavailableError, match="Unknown backend 'tensorflow'"):
        requested_backend("tensorflow")


def test_asking_for_a_missing_openvino_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "openvino_installed", lambda: False)
    with pytest.raises(BackendUnavailableError, match=r"alphamatte\[openvino\]"):
        requested_backend("openvino")


def test_a_gpu_needs_both_the_gpu_runtime_and_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cuda, "_ort_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(cuda, "gpu_present", lambda: True)
    assert not cuda.cuda_usable()
    monkeypatch.setattr(cuda, "_ort_providers", lambda: ["CUDAExecutionProvider"])
    monkeypatch.setattr(cuda, "gpu_present", lambda: False)
    assert not cuda.cuda_usable()
    monkeypatch.setattr(cuda, "gpu_present", lambda: True)
    assert cuda.cuda_usable()


def test_asking_for_cuda_without_a_gpu_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "cuda_usable", lambda: False)
    with pytest.raises(BackendUnavailableError, match=r"NVIDIA GPU.*alphamatte\[gpu\]"):
        requested_backend("cuda")


def _runnable_here() -> list[object]:
    has_openvino = openvino.openvino_installed()
    here = runnable(Capabilities(has_openvino, has_openvino and openvino.openvino_bf16(), False))
    params: list[object] = [
        pytest.param(c.backend, c.precision, id=f"{c.backend}-{c.precision}")
        for c in here
        if c != REFERENCE
    ]
    if cuda.cuda_usable():
        params += [pytest.param("cuda", p, id=f"cuda-{p}") for p in ("fp16", "f32")]
    return params


@pytest.mark.parametrize(("backend", "precision"), _runnable_here())
def test_every_backend_and_precision_here_keeps_onnxruntime_fp32_mattes(
    models_dir: Path, eval_dir: Path, backend: str, precision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each (backend, precision) this machine can run, forced, against ONNX Runtime f32."""
    reference = load_matter(
        directory=default_models_dir(),
        backend="onnxruntime",
        fetch=False,
        precisions=("f32", "fp16"),
    )
    asked = (
        precision if backend != "cuda" else "auto",
        precision if backend == "cuda" else "fp16",
    )
    other = load_matter(
        directory=default_models_dir(), backend=backend, fetch=False, precisions=asked
    )
    runtime = describe(other.session)
    assert (runtime.backend in (backend, "tensorrt"), runtime.precision) == (True, precision)
    # int8 and half precisions move mattes by up to ~0.02-0.05 at a pixel (measured), f32 by
    # rounding only; an inverted or empty matte is off by ~0.3-0.5 on average.
    bound_max, bound_mean = (0.01, 0.0005) if precision == "f32" else (0.5, 0.01)
    for name in ("GT05", "GT18"):
        rgb, _ = load_pair(next(p for p in discover(eval_dir) if p.name == name))
        difference = np.abs(other.predict_float(rgb) - reference.predict_float(rgb))
        assert difference.max() < bound_max and difference.mean() < bound_mean, name


@pytest.mark.parametrize(("asked", "shown"), [("f32", "f32"), ("int8", "int8")])
def test_info_prints_backend_device_precision_and_threads(
    models_dir: Path, asked: str, shown: str
) -> None:
    env = {"ALPHAMATTE_BACKEND": "onnxruntime", "ALPHAMATTE_CPU_PRECISION": asked}
    result = CliRunner().invoke(cli, ["info"], env=env)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if "  " in line)
    assert lines["backend"].startswith("onnxruntime")
    assert lines["precision"].strip() == shown
    assert int(lines["threads"]) >= 1


def test_an_unknown_cpu_precision_is_refused() -> None:
    with pytest.raises(BackendUnavailableError, match="Unknown CPU precision 'int4'"):
        backends.checked_precision("int4", backends.CPU_PRECISIONS, "CPU")
    result = CliRunner().invoke(cli, ["info"], env={"ALPHAMATTE_CPU_PRECISION": "int4"})
    assert result.exit_code == 1
    assert (
        "ALPHAMATTE_CPU_PRECISION: Input should be 'auto', 'f32', 'int8' or 'bf16'" in result.output
    )


def test_an_unknown_backend_is_a_one_line_error(models_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["info"], env={"ALPHAMATTE_BACKEND": "tpu"})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "ALPHAMATTE_BACKEND: Input should be 'auto', 'onnxruntime', 'openvino' or 'cuda'" in (
        result.output
    )
