"""``auto``: the backend and precision that run fastest on this machine within one budget.

CPU flags say what a CPU can do, not what runs fastest on it: on a Zen 4 EPYC with AVX-512
BF16 the old rule ("OpenVINO where the CPU has bf16") picked OpenVINO bf16 at 0.51 s per 1024²
while ONNX Runtime int8 took 0.38 s and OpenVINO int8 0.28 s. So when a model is prepared
(``model fetch``/``model import``, or the first start), every candidate this machine can run
is timed on the same few canvases, and the fastest one whose precision is within
:data:`BUDGET` is kept. Which precisions are within it was measured against the ground truth of
the shared eval photos by ``benchmarks/precision.py`` and ships as ``precision_budget.json``;
a candidate outside the budget is never the default, on any CPU, however fast (it can still be
pinned). Each candidate's mattes on the timing canvases must also agree with ONNX Runtime f32's
on this machine (:data:`AGREEMENT`): a kernel that computes something else here is dropped.

The result is cached beside the model, keyed by the model's hash, the CPU, the thread count and
the runtimes' versions: a different machine or an upgraded runtime measures again.
``ALPHAMATTE_BACKEND`` and ``ALPHAMATTE_CPU_PRECISION`` pin a choice (either or both); a pin
that leaves one candidate needs no measurement. A usable NVIDIA GPU is taken without timing
(it was 35-90x any CPU candidate where measured, docs/gpu.md), in ``ALPHAMATTE_GPU_PRECISION``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.files import replacing

log = logging.getLogger(__name__)

SELECTION_VERSION = 1  # bump when what is timed or how it is judged changes
# The precision budget: against ONNX Runtime f32 on the shared eval photos with ground truth,
# SAD and gradient error at most this ratio, on both size regimes, by mean and by median.
BUDGET = 1.02
# On this machine, a candidate's mattes on the timing canvases against ONNX Runtime f32's:
# mean absolute difference at most this. Qualified precisions measured 0.001-0.004 on photos;
# a kernel that miscomputes (a saturating int8 path, a broken bf16 emulation) is far above it.
AGREEMENT = 0.01
# The canvases timed: the square every photo above 1024 px and every letterboxed photo runs
# at, and the 3/4 view of ``best``. Two rounds after a warm-up run; the median counts.
CANVASES = (1024, 1024, 768)
ROUNDS = 3
REFERENCE_NAME = "onnxruntime f32"


@dataclass(frozen=True)
class Candidate:
    backend: str  # onnxruntime | openvino | cuda
    precision: str  # f32 | int8 | bf16 | fp16

    def __str__(self) -> str:
        return f"{self.backend} {self.precision}"

    @classmethod
    def parse(cls, text: str) -> Candidate:
        backend, precision = text.split()
        return cls(backend, precision)


REFERENCE = Candidate("onnxruntime", "f32")
CPU_CANDIDATES = (
    REFERENCE,
    Candidate("onnxruntime", "int8"),
    Candidate("openvino", "f32"),
    Candidate("openvino", "bf16"),
    Candidate("openvino", "int8"),
)
CPU_PRECISIONS = ("auto", "f32", "int8", "bf16")


@dataclass(frozen=True)
class Capabilities:
    """What this machine can run at all (faked in tests)."""

    openvino: bool
    bf16: bool  # OpenVINO reports BF16 among the CPU's optimisation capabilities
    cuda: bool


def runnable(capabilities: Capabilities) -> list[Candidate]:
    """The CPU candidates this machine can run."""
    found = []
    for candidate in CPU_CANDIDATES:
        if candidate.backend == "openvino" and not capabilities.openvino:
            continue
        if candidate.precision == "bf16" and not capabilities.bf16:
            continue
        found.append(candidate)
    return found


@dataclass
class Trial:
    """One candidate's row: its time on the canvases, its agreement with f32, the verdict."""

    candidate: str
    seconds: float | None = None  # median over the rounds of one pass over CANVASES
    agreement: float | None = None  # mean |matte - f32's matte| over the canvases
    within_budget: bool = False
    note: str = ""  # why it was not picked, or "picked"


@dataclass
class Selection:
    choice: str
    reason: str
    trials: list[Trial] = field(default_factory=list)
    key: dict[str, object] = field(default_factory=dict)
    measured_at: str = ""

    @property
    def candidate(self) -> Candidate:
        return Candidate.parse(self.choice)


def budget_verdicts() -> dict[str, bool]:
    """Which candidates' mattes are within :data:`BUDGET`, as ``benchmarks/precision.py``
    measured and wrote them. The reference is within it by definition; an unmeasured
    candidate is not."""
    text = (resources.files("alphamatte.engine.runtimes") / "precision_budget.json").read_text()
    measured = json.loads(text)["candidates"]
    verdicts = {name: bool(entry["within_budget"]) for name, entry in measured.items()}
    verdicts[REFERENCE_NAME] = True
    return verdicts


def pinned(candidates: Iterable[Candidate], backend: str, precision: str) -> list[Candidate]:
    """The candidates left by ``ALPHAMATTE_BACKEND`` and ``ALPHAMATTE_CPU_PRECISION``."""
    return [
        c
        for c in candidates
        if backend in ("auto", c.backend) and precision in ("auto", c.precision)
    ]


def pick(trials: Sequence[Trial]) -> tuple[str, str]:
    """The fastest trial that ran, is within the budget and agrees with f32; and why.

    When nothing qualifies (a pin to a precision outside the budget), the fastest that ran."""
    ran = [t for t in trials if t.seconds is not None]
    if not ran:
        raise RuntimeError(
            "no candidate ran: " + "; ".join(f"{t.candidate}: {t.note}" for t in trials)
        )
    eligible = [
        t for t in ran if t.within_budget and t.agreement is not None and t.agreement <= AGREEMENT
    ]
    pool = eligible or ran
    best = min(pool, key=lambda t: t.seconds or 0.0)
    for trial in trials:
        if trial is best:
            trial.note = "picked"
        elif not trial.note:
            if trial.seconds is None:
                trial.note = "did not run"
            elif not trial.within_budget:
                trial.note = "outside the precision budget"
            elif trial.agreement is None or trial.agreement > AGREEMENT:
                trial.note = f"disagrees with {REFERENCE_NAME} here"
            else:
                trial.note = f"{(trial.seconds or 0) / (best.seconds or 1):.2f}x the time"
    if not eligible:
        return best.candidate, "no candidate left by the pins is within the budget: the fastest"
    faster = [t for t in ran if (t.seconds or 0) < (best.seconds or 0) and t is not best]
    reason = "the fastest within the precision budget"
    if faster:
        reason += (
            " (faster but left out: " + ", ".join(f"{t.candidate}, {t.note}" for t in faster) + ")"
        )
    return best.candidate, reason


Runner = Callable[[np.ndarray], np.ndarray]


def measure(
    candidates: Sequence[Candidate],
    open_runner: Callable[[Candidate], Runner],
    inputs: Sequence[np.ndarray],
    *,
    verdicts: dict[str, bool],
    clock: Callable[[], float] = perf_counter,
    rounds: int = ROUNDS,
) -> list[Trial]:
    """Time each candidate on ``inputs`` (one warm-up pass, then ``rounds`` passes, the median
    kept) and compare its outputs with the reference's. Candidates run one after the other, so
    only one model is in memory at a time; the reference runs first (its outputs are the
    yardstick), also when it is not a candidate itself."""
    order = [REFERENCE, *(c for c in candidates if c != REFERENCE)]
    reference_outputs: list[np.ndarray] = []
    trials: list[Trial] = []
    for candidate in order:
        trial = Trial(str(candidate), within_budget=verdicts.get(str(candidate), False))
        try:
            run = open_runner(candidate)
            outputs = [run(batch) for batch in inputs]  # warm-up: compiles, allocates
            passes = []
            for _ in range(rounds):
                start = clock()
                for batch in inputs:
                    run(batch)
                passes.append(clock() - start)
            del run
        except Exception as exc:  # a candidate that cannot run here is a row, not a failure
            if candidate == REFERENCE:
                raise
            log.warning("%s did not run: %s", candidate, exc)
            trial.note = f"failed: {exc}"[:200]
            trials.append(trial)
            continue
        trial.seconds = statistics.median(passes)
        if candidate == REFERENCE:
            reference_outputs = outputs
        trial.agreement = float(
            np.mean(
                [
                    np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean()
                    for a, b in zip(outputs, reference_outputs, strict=True)
                ]
            )
        )
        if candidate in candidates:
            trials.append(trial)
    return trials


def machine_key(model_hash: str, threads: int, versions: dict[str, str]) -> dict[str, object]:
    """What a measurement holds for: change any of it and the machine is measured again."""
    return {
        "version": SELECTION_VERSION,
        "model": model_hash,
        "cpu": cpu_model(),
        "flags": cpu_flags_digest(),
        "threads": threads,
        "runtimes": versions,
    }


def cpu_model() -> str:
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU's feature flags, sorted (empty where /proc/cpuinfo has none)."""
    flags = next((ln.split(":", 1)[1] for ln in _cpuinfo() if ln.startswith("flags")), "")
    return sorted(flags.split())


def cpu_flags_digest() -> str:
    """A short digest of the CPU's feature flags (two CPUs with one model name can differ in
    what a hypervisor passes through)."""
    return hashlib.sha256(" ".join(cpu_flags()).encode()).hexdigest()[:16]


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _digest(key: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def cache_path(directory: Path, model_stem: str) -> Path:
    return directory / f"{model_stem}.selection.json"


def load_cached(path: Path, key: dict[str, object]) -> Selection | None:
    try:
        entries = json.loads(path.read_text())
        entry = entries[_digest(key)]
        trials = [Trial(**row) for row in entry.pop("trials")]
        return Selection(trials=trials, **entry)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(path: Path, selection: Selection) -> None:
    """Add ``selection`` to the cache file atomically (other machines' entries are kept: a
    model directory can be shared between hosts of different CPUs)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        entries = {}
    entries[_digest(selection.key)] = asdict(selection)
    with replacing(path) as partial:
        partial.write_text(json.dumps(entries, indent=1))


def select(
    candidates: Sequence[Candidate],
    open_runner: Callable[[Candidate], Runner],
    inputs: Callable[[], Sequence[np.ndarray]],
    *,
    key: dict[str, object],
    cache: Path,
    verdicts: dict[str, bool] | None = None,
    clock: Callable[[], float] = perf_counter,
) -> Selection:
    """The cached selection for ``key``, or a new measurement of ``candidates`` on the
    canvases ``inputs()`` makes (made only when measuring), stored for next time."""
    full_key = {**key, "candidates": sorted(str(c) for c in candidates)}
    cached = load_cached(cache, full_key)
    if cached is not None:
        return cached
    verdicts = budget_verdicts() if verdicts is None else verdicts
    started = perf_counter()
    trials = measure(candidates, open_runner, inputs(), verdicts=verdicts, clock=clock)
    choice, reason = pick(trials)
    selection = Selection(
        choice,
        reason,
        trials,
        full_key,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    log.info(
        "measured %d candidates in %.0f s: %s (%s)",
        len(trials),
        perf_counter() - started,
        choice,
        reason,
    )
    store(cache, selection)
    return selection
