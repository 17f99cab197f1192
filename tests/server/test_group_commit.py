"""Concurrent SQLite writes share a transaction (storage.group_commit), and each caller still
gets exactly its own result or its own error."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from alphamatte.server.accounting.credits import Reservation, charge, reserve
from alphamatte.server.accounting.keys import create_key
from alphamatte.server.accounting.ledger import totals
from alphamatte.server.storage import group_commit as group_commit_module
from alphamatte.server.storage.database import make_engine, migrate
from alphamatte.server.storage.driver import driver_transaction
from alphamatte.server.storage.group_commit import GroupCommit, group_commit
from alphamatte.server.storage.schema import api_keys, usage


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'group.db'}")
    migrate(made)
    create_key(made, credits=0)  # the ledger rows below belong to it
    yield made
    made.dispose()


def note(request_id: str, fail: bool = False) -> Callable[[Any], str]:
    """A write that adds a ledger row (and then fails, if asked)."""

    def write(cursor: Any) -> str:
        cursor.execute(
            "INSERT INTO usage (key_id, endpoint, request_id, credits, state, created_at,"
            " kind, actor) VALUES ((SELECT MIN(id) FROM api_keys), '/t', ?, 0, 'charged',"
            " '2026-01-01 00:00:00.000000', 'charge', 'server')",
            (request_id,),
        )
        if fail:
            raise ValueError(f"{request_id} failed")
        return request_id

    return write


def queue_behind_a_held_leader(
    commits: GroupCommit, writes: list[Callable[[Any], str]]
) -> list[Future[str]]:
    """Start a leader whose write waits, queue ``writes`` behind it, then let it go: the
    queued writes become the next batch, all at once."""
    go = threading.Event()

    def held(cursor: Any) -> str:
        go.wait(10)
        return note("leader")(cursor)

    pool = ThreadPoolExecutor(len(writes) + 1)
    futures = [pool.submit(commits.run, held)]
    while commits.pending < 1:
        time.sleep(0.001)
    futures += [pool.submit(commits.run, write) for write in writes]
    while commits.pending < len(writes) + 1:
        time.sleep(0.001)
    go.set()
    pool.shutdown(wait=True)
    return futures


def ledger_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(usage.c.request_id).where(usage.c.endpoint == "/t"))
        return set(rows.scalars())


def test_writes_queued_together_commit_in_one_transaction_with_their_own_results(
    engine: Engine,
) -> None:
    commits = GroupCommit(engine)
    futures = queue_behind_a_held_leader(commits, [note(f"w{i}") for i in range(6)])
    assert [future.result() for future in futures] == ["leader", *(f"w{i}" for i in range(6))]
    assert commits.transactions == 2  # the leader's alone, then the six queued behind it
    assert ledger_ids(engine) == {"leader", *(f"w{i}" for i in range(6))}
    assert commits.pending == 0


def test_one_failing_write_does_not_take_the_others_with_it(engine: Engine) -> None:
    commits = GroupCommit(engine)
    writes = [note("a"), note("b", fail=True), note("c")]
    futures = queue_behind_a_held_leader(commits, writes)
    assert futures[1].result() == "a"
    assert futures[3].result() == "c"
    with pytest.raises(ValueError, match="b failed"):
        futures[2].result()
    # b's row went with its own rollback; everyone else's was committed.
    assert ledger_ids(engine) == {"leader", "a", "c"}


def test_a_failed_transaction_fails_its_whole_batch_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The leader's transaction works; the next one cannot begin (as when another process has
    # held the database past the busy timeout). Each queued caller gets that error at once,
    # rather than each waiting for a transaction of its own to fail the same way.
    opened = 0

    @contextmanager
    def second_fails(target: Engine) -> Iterator[Any]:
        nonlocal opened
        opened += 1
        if opened == 2:
            raise sqlite3.OperationalError("database is locked")
        with driver_transaction(target) as cursor:
            yield cursor

    monkeypatch.setattr(group_commit_module, "driver_transaction", second_fails)
    commits = GroupCommit(engine)
    futures = queue_behind_a_held_leader(commits, [note(f"w{i}") for i in range(3)])
    assert futures[0].result() == "leader"
    for future in futures[1:]:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            future.result()
    assert opened == 2 and commits.transactions == 2
    assert ledger_ids(engine) == {"leader"}


def test_a_batch_larger_than_the_limit_is_split(engine: Engine) -> None:
    commits = GroupCommit(engine, max_batch=4)
    futures = queue_behind_a_held_leader(commits, [note(f"w{i}") for i in range(10)])
    assert all(future.exception() is None for future in futures)
    assert commits.transactions == 4  # 1 + 4 + 4 + 2
    assert len(ledger_ids(engine)) == 11


def test_concurrent_requests_never_overspend_a_key(engine: Engine) -> None:
    key, _ = create_key(engine, credits=25)
    before = group_commit(engine).transactions

    def spend(i: int) -> Reservation:
        outcome = reserve(engine, key.id, f"r{i}", "/v1.0/alpha-channel")
        if outcome is Reservation.OK:
            assert charge(engine, f"r{i}")
        return outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(spend, range(60)))
    assert outcomes.count(Reservation.OK) == 25
    assert outcomes.count(Reservation.NO_CREDIT) == 35
    with engine.connect() as conn:
        left = conn.execute(select(api_keys.c.credits).where(api_keys.c.id == key.id))
        assert left.scalar_one() == 0
    found = totals(engine, key.id)
    assert found is not None and found[0] == found[1] == 0  # balance == ledger sum
    # Eight threads at once did share transactions.
    assert group_commit(engine).transactions - before < 25 + 60


def test_processes_take_turns_on_a_lock_file_beside_the_database(
    engine: Engine, tmp_path: Path
) -> None:
    commits = GroupCommit(engine)
    assert commits.lock_path == f"{tmp_path / 'group.db'}-writers.lock"
    other = os.open(commits.lock_path, os.O_RDWR | os.O_CREAT)  # as another process would
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(commits.run, note("after"))
            time.sleep(0.3)
            assert not waiting.done()  # it waits for the other process, not in SQLite
            assert ledger_ids(engine) == set()
            fcntl.flock(other, fcntl.LOCK_UN)
            assert waiting.result(timeout=10) == "after"
    finally:
        os.close(other)
    assert ledger_ids(engine) == {"after"}
    assert GroupCommit(create_engine("sqlite://")).lock_path is None  # in memory: one process


SPENDER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from alphamatte.server.accounting.credits import Reservation, charge, reserve
from alphamatte.server.storage.database import make_engine

engine = make_engine(sys.argv[1])
name = sys.argv[3]

def spend(i):
    outcome = reserve(engine, int(sys.argv[2]), f"{name}-{i}", "/v1.0/alpha-channel")
    if outcome is Reservation.OK:
        assert charge(engine, f"{name}-{i}")
    return outcome is Reservation.OK

with ThreadPoolExecutor(4) as pool:
    print(sum(pool.map(spend, range(40))))
"""


def test_two_processes_spending_one_key_stop_at_its_credit(engine: Engine) -> None:
    # `serve --workers 2` on SQLite: each process has its own queue, and both write the file.
    key, _ = create_key(engine, credits=30)
    url = str(engine.url)
    spenders = [
        subprocess.Popen(
            [sys.executable, "-c", SPENDER, url, str(key.id), name], stdout=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    granted = [int(process.communicate(timeout=120)[0]) for process in spenders]
    assert all(process.returncode == 0 for process in spenders)
    assert sum(granted) == 30
    found = totals(engine, key.id)
    assert found is not None and found[0] == found[1] == 0
