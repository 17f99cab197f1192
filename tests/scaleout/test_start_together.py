"""Replicas started at the same instant on a fresh database: compose and Kubernetes do this.

Each round starts four `alphamatte serve` processes together on a database nobody migrated
yet (a new PostgreSQL database, or a new SQLite file they share). All four must come up, none
may log a traceback, and the schema must be at head exactly once. The model directory is shared
too, and `alphamatte info` processes started together on a fresh one prepare the real graph
once and never open a half-written file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.preparation.rewrite import prepared_path
from alphamatte.server.loopback import free_port
from alphamatte.server.storage.database import head_revision, make_engine
from tests.scaleout.topology import tiny_model
from tests.services import Postgres

pytestmark = pytest.mark.slow

REPLICAS = 4
ROUNDS = 3
ALPHAMATTE = Path(sys.executable).parent / "alphamatte"


def start_together(
    home: Path, database_url: str, logs: Path
) -> list[tuple[int, subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "ALPHAMATTE_HOME": str(home),
        "ALPHAMATTE_MODEL": "tiny.onnx",
        "ALPHAMATTE_MAX_SIDE": "256",
        "ALPHAMATTE_DATABASE_URL": database_url,
    }
    env.pop("ALPHAMATTE_REDIS_URL", None)
    started = []
    for index in range(REPLICAS):
        port = free_port()
        log = (logs / f"replica-{index}.log").open("wb")
        process = subprocess.Popen(
            [str(ALPHAMATTE), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((port, process))
    return started


def wait_all(started: list[tuple[int, subprocess.Popen[bytes]]], timeout: float = 90) -> list[str]:
    """Each replica's state once all have settled: 'ready', or why not."""
    states = ["starting"] * len(started)
    deadline = time.monotonic() + timeout
    while "starting" in states and time.monotonic() < deadline:
        for index, (port, process) in enumerate(started):
            if states[index] != "starting":
                continue
            if process.poll() is not None:
                states[index] = f"exited with {process.returncode}"
                continue
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    states[index] = "ready"
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    return states


def stop(started: list[tuple[int, subprocess.Popen[bytes]]]) -> None:
    for _, process in started:
        if process.poll() is None:
            process.terminate()
    for _, process in started:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def check_round(home: Path, database_url: str, logs: Path) -> None:
    started = start_together(home, database_url, logs)
    try:
        states = wait_all(started)
    finally:
        stop(started)
    output = {p.name: p.read_text(errors="replace") for p in sorted(logs.glob("*.log"))}
    assert states == ["ready"] * REPLICAS, (states, output)
    for name, log in output.items():
        assert "Traceback" not in log and "ERROR" not in log, (name, log)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        tables = connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    engine.dispose()
    assert [row[0] for row in versions] == [head_revision()]
    assert tables == 0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    tiny_model(tmp_path / "models" / "tiny.onnx")
    return tmp_path


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_four_replicas_start_together_on_a_fresh_postgres(
    postgres: Postgres, home: Path, tmp_path_factory: pytest.TempPathFactory, round_: int
) -> None:
    logs = tmp_path_factory.mktemp(f"pg-round-{round_}")
    check_round(home, postgres.new_database(), logs)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_four_replicas_start_together_on_a_fresh_sqlite_file(
    home: Path, tmp_path_factory: pytest.TempPathFactory, round_: int
) -> None:
    logs = tmp_path_factory.mktemp(f"sqlite-round-{round_}")
    check_round(home, f"sqlite:///{home / 'shared.db'}", logs)


def test_db_upgrade_migrates_once_and_reports_it(tmp_path: Path) -> None:
    env = {**os.environ, "ALPHAMATTE_DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}"}
    current = [str(ALPHAMATTE), "db", "current"]
    before = subprocess.run(current, env=env, capture_output=True, text=True)
    assert before.returncode == 1 and "never migrated" in before.stdout
    upgrades = [
        subprocess.Popen(
            [str(ALPHAMATTE), "db", "upgrade"], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    said = sorted(process.communicate(timeout=120)[0].split(": ", 1)[1] for process in upgrades)
    assert all(p.returncode == 0 for p in upgrades)
    head = head_revision()
    assert said == [f"already at {head}\n"] * 2 + [f"upgraded to {head}\n"]
    after = subprocess.run(current, env=env, capture_output=True, text=True)
    assert after.returncode == 0 and f"at {head}, head {head}" in after.stdout


def test_processes_sharing_a_fresh_model_directory_prepare_it_once(
    models_dir: Path, tmp_path: Path
) -> None:
    """The real weights, pinned to ONNX Runtime f32 so that only the graph rewrite runs."""
    fresh = tmp_path / "home"
    (fresh / "models").mkdir(parents=True)
    shutil.copyfile(models_dir / ISNET.filename, fresh / "models" / ISNET.filename)
    for sidecar in models_dir.glob(f"{ISNET.filename}.*.json"):
        shutil.copyfile(sidecar, fresh / "models" / sidecar.name)
    env = {
        **os.environ,
        "ALPHAMATTE_HOME": str(fresh),
        "ALPHAMATTE_BACKEND": "onnxruntime",
        "ALPHAMATTE_CPU_PRECISION": "f32",
    }
    infos = [
        subprocess.Popen(
            [str(ALPHAMATTE), "info"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=300)[0] for process in infos]
    assert [p.returncode for p in infos] == [0, 0, 0], outputs
    assert all("onnxruntime" in out and "Traceback" not in out for out in outputs)
    files = sorted(p.name for p in (fresh / "models").iterdir())
    assert prepared_path(fresh / "models" / ISNET.filename).name in files
    assert not [name for name in files if name.endswith(".partial")]
