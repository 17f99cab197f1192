"""``auto`` measures: fake CPUs, fake timings and fake runtimes, never the host's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from alphamatte.cli.main import cli
from alphamatte.engine import loader
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.errors import BackendUnavailableError
from alphamatte.engine.runtimes import selection
from alphamatte.engine.runtimes.selection import (
    REFERENCE,
    Candidate,
    Capabilities,
    Selection,
    Trial,
    budget_verdicts,
    measure,
    pick,
    pinned,
    runnable,
    select,
)

AVX2 = Capabilities(openvino=True, bf16=False, cuda=False)
AMX = Capabilities(openvino=True, bf16=True, cuda=False)
INPUTS = [np.full((1, 3, 8, 8), 0.25, np.float32), np.full((1, 3, 4, 4), -0.25, np.float32)]


class FakeClock:
    """Time advances only when a fake runtime "computes"."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_runtimes(
    clock: FakeClock, seconds: dict[str, float], offset: dict[str, float] | None = None
) -> tuple[Callable[[Candidate], Callable[[np.ndarray], np.ndarray]], list[str]]:
    """Runners that take ``seconds[name]`` per canvas and return a matte ``offset`` away from
    the reference's; and the log of what was opened."""
    opened: list[str] = []
    offset = offset or {}

    def open_runner(candidate: Candidate) -> Callable[[np.ndarray], np.ndarray]:
        name = str(candidate)
        opened.append(name)
        if name not in seconds:
            raise RuntimeError(f"{name} does not compile here")

        def run(batch: np.ndarray) -> np.ndarray:
            clock.now += seconds[name]
            return np.full(batch.shape[2:], 0.5 + offset.get(name, 0.0), np.float32)

        return run

    return open_runner, opened


def test_only_what_the_cpu_runs_is_a_candidate() -> None:
    names = {str(c) for c in runnable(AVX2)}
    assert names == {"onnxruntime f32", "onnxruntime int8", "openvino f32", "openvino int8"}
    assert "openvino bf16" in {str(c) for c in runnable(AMX)}
    without = runnable(Capabilities(openvino=False, bf16=True, cuda=False))
    assert {c.backend for c in without} == {"onnxruntime"}


def test_pins_narrow_the_candidates() -> None:
    every = runnable(AMX)
    assert {str(c) for c in pinned(every, "openvino", "auto")} == {
        "openvino f32",
        "openvino bf16",
        "openvino int8",
    }
    assert pinned(every, "auto", "int8") == [
        Candidate("onnxruntime", "int8"),
        Candidate("openvino", "int8"),
    ]
    assert pinned(every, "onnxruntime", "bf16") == []


def test_the_fastest_within_the_budget_wins_not_the_fastest() -> None:
    clock = FakeClock()
    times = {
        "onnxruntime f32": 1.0,
        "onnxruntime int8": 0.4,
        "openvino f32": 0.9,
        "openvino bf16": 0.5,
        "openvino int8": 0.3,
    }
    open_runner, _ = fake_runtimes(clock, times)
    verdicts = {
        "onnxruntime int8": False,
        "openvino int8": False,
        "openvino bf16": True,
        "openvino f32": True,
    }
    trials = measure(runnable(AMX), open_runner, INPUTS, verdicts=verdicts, clock=clock)
    choice, reason = pick(trials)
    assert choice == "openvino bf16"
    assert "openvino int8, outside the precision budget" in reason
    rows = {t.candidate: t for t in trials}
    assert rows["openvino bf16"].note == "picked"
    assert rows["onnxruntime f32"].seconds == pytest.approx(2.0)  # two canvases of 1.0 s
    assert rows["openvino f32"].note == "1.80x the time"


def test_a_candidate_that_disagrees_with_f32_here_is_dropped() -> None:
    """A kernel that miscomputes on this CPU (say, saturating int8) is never the default,
    however fast and whatever the budget measured elsewhere."""
    clock = FakeClock()
    times = {"onnxruntime f32": 1.0, "onnxruntime int8": 0.4, "openvino f32": 0.8}
    open_runner, _ = fake_runtimes(clock, times, offset={"onnxruntime int8": 0.2})
    verdicts = {"onnxruntime int8": True, "openvino f32": True}
    trials = measure(runnable(AVX2)[:3], open_runner, INPUTS, verdicts=verdicts, clock=clock)
    choice, _ = pick(trials)
    assert choice == "openvino f32"
    assert {t.candidate: t.note for t in trials}["onnxruntime int8"].startswith("disagrees")


def test_a_candidate_that_fails_to_run_is_a_row_not_a_crash() -> None:
    clock = FakeClock()
    open_runner, _ = fake_runtimes(clock, {"onnxruntime f32": 1.0})
    trials = measure(
        [REFERENCE, Candidate("openvino", "f32")],
        open_runner,
        INPUTS,
        verdicts={"openvino f32": True},
        clock=clock,
    )
    assert pick(trials)[0] == "onnxruntime f32"
    assert trials[1].note.startswith("failed: openvino f32 does not compile")


def test_a_pin_outside_the_budget_is_honoured() -> None:
    """ALPHAMATTE_CPU_PRECISION=int8 asks for int8, in or out of the budget."""
    clock = FakeClock()
    open_runner, _ = fake_runtimes(
        clock, {"onnxruntime f32": 1.0, "onnxruntime int8": 0.5, "openvino int8": 0.3}
    )
    int8 = pinned(runnable(AVX2), "auto", "int8")
    trials = measure(int8, open_runner, INPUTS, verdicts={}, clock=clock)
    choice, reason = pick(trials)
    assert choice == "openvino int8"
    assert "no candidate left by the pins is within the budget" in reason
    assert [t.candidate for t in trials] == ["onnxruntime int8", "openvino int8"]


def test_a_measurement_is_cached_per_machine(tmp_path: Path) -> None:
    clock = FakeClock()
    times = {"onnxruntime f32": 1.0, "onnxruntime int8": 0.5}
    open_runner, opened = fake_runtimes(clock, times)
    verdicts = {"onnxruntime int8": True}
    cache = tmp_path / "model.selection.json"
    key = {"model": "abc", "cpu": "Zen 4", "threads": 2}
    candidates = runnable(AVX2)[:2]

    def run(key: dict[str, object]) -> Selection:
        return select(
            candidates,
            open_runner,
            lambda: INPUTS,
            key=key,
            cache=cache,
            verdicts=verdicts,
            clock=clock,
        )

    first = run(key)
    assert first.choice == "onnxruntime int8" and len(opened) == 2
    again = run(dict(key))
    assert again.choice == first.choice and len(opened) == 2  # read, not measured
    assert [t.seconds for t in again.trials] == [t.seconds for t in first.trials]
    run({**key, "cpu": "Sapphire Rapids"})  # another CPU on a shared model directory
    assert len(opened) == 4
    assert len(json.loads(cache.read_text())) == 2  # both machines' entries kept
    cache.write_text("{ torn")
    assert run(key).choice == "onnxruntime int8" and len(opened) == 6  # measured again


def test_the_shipped_verdicts_cover_every_cpu_candidate() -> None:
    verdicts = budget_verdicts()
    assert verdicts["onnxruntime f32"] is True
    for candidate in runnable(AMX):
        assert str(candidate) in verdicts, candidate


def test_pins_that_leave_one_candidate_measure_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(loader, "cuda_usable", lambda: False)
    monkeypatch.setattr(loader, "openvino_installed", lambda: True)
    monkeypatch.setattr(loader, "openvino_bf16", lambda: True)

    def no_measuring(*_: object, **__: object) -> Selection:
        raise AssertionError("measured")

    monkeypatch.setattr(loader, "select", no_measuring)
    bf16 = ("bf16", "fp16")
    chosen = loader.choose_runtime(ISNET, tmp_path / ISNET.filename, "auto", precisions=bf16)
    assert chosen.choice == "openvino bf16" and "pinned" in chosen.reason
    f32 = ("f32", "fp16")
    assert loader.choose_runtime(
        ISNET, tmp_path / "m.onnx", "onnxruntime", precisions=f32
    ).choice == ("onnxruntime f32")
    monkeypatch.setattr(loader, "openvino_bf16", lambda: False)  # an AVX2-only CPU
    with pytest.raises(BackendUnavailableError, match="cannot compute in"):
        loader.choose_runtime(ISNET, tmp_path / "m.onnx", "auto", precisions=bf16)


def test_a_usable_gpu_is_taken_without_timing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(loader, "cuda_usable", lambda: True)
    chosen = loader.choose_runtime(ISNET, tmp_path / ISNET.filename, "auto")
    assert chosen.choice == "cuda fp16"
    wide = loader.choose_runtime(
        ISNET, tmp_path / ISNET.filename, "auto", precisions=("auto", "f32")
    )
    assert wide.choice == "cuda f32"


def test_info_prints_the_table_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    """On whatever CPU runs this: the measured table from the cache `model fetch` wrote."""
    result = CliRunner().invoke(
        cli, ["info"], env={"ALPHAMATTE_BACKEND": None, "ALPHAMATTE_CPU_PRECISION": None}
    )
    assert result.exit_code == 0, result.output
    assert "chosen because" in result.output
    assert "onnxruntime f32" in result.output  # the reference is always a row
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if "  " in line)
    picked = [ln for ln in result.output.splitlines() if ln.rstrip().endswith("picked")]
    assert len(picked) == 1
    assert picked[0].split()[0] == lines["backend"].split()[0]
    assert lines["precision"].strip() == picked[0].split()[1]


def test_selection_rows_round_trip(tmp_path: Path) -> None:
    row = Trial("openvino int8", 0.25, 0.002, True, "picked")
    chosen = Selection("openvino int8", "why", [row], {"cpu": "x"}, "2026-12-03")
    selection.store(tmp_path / "s.json", chosen)
    assert selection.load_cached(tmp_path / "s.json", {"cpu": "x"}) == chosen
