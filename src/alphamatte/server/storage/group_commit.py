"""Group commit: the SQLite writes of concurrent requests share one transaction.

SQLite takes one writer at a time, and this process reaches it through one pooled connection.
Each request's reservation and charge used to be a transaction of its own, and under load the
connection became the queue: held 1-1.6 ms per transaction (median; p90 3-4 ms) against
0.3-0.5 ms alone, because its thread gave up the GIL at every statement and waited to get it
back, and the other workers waited for the connection meanwhile.

Here the writes queue up instead. The thread at the head of the queue runs every write queued
behind it in one transaction (one BEGIN, one COMMIT, one fsync), then wakes their threads with
their results; a thread that arrives meanwhile waits for the next batch. Nobody returns before
the COMMIT that holds their write: each caller sees exactly what a transaction of its own
would have given it. If a write of a batch raises, the batch is rolled back and each of its
writes runs again alone, so one failure never takes another request's write with it; if the
transaction itself fails (BEGIN or COMMIT), each caller in it gets that error.

Processes (`serve --workers N`) take turns through a lock file beside the database
(``<database>-writers.lock``) before BEGIN. Without it they met in SQLite's busy handler, which
polls with growing sleeps: two processes writing from three threads each (1,200 writes per
process, four alternating runs on a 2-core AMD EPYC) waited 18-64 ms at p99 and up to
0.08-0.76 s; queued on the lock, where the kernel wakes the next at once, 4-21 ms at p99 and
11-37 ms at most, and the same writes took 0.8-0.9x the time. Other writers (admin, reaper)
still meet the busy handler; they are rare.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from alphamatte.server.storage.driver import driver_transaction

try:
    import fcntl
except ImportError:  # Windows: processes fall back to SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
Write = Callable[[Any], T]  # given the transaction's sqlite3 cursor

# A batch's length bounds how long its first caller waits for the others' statements.
MAX_BATCH = 32


class _Pending(Generic[T]):
    __slots__ = ("error", "finished", "result", "woken", "write")

    def __init__(self, write: Write[T]) -> None:
        self.write = write
        # Set once: the write is finished, or it has reached the head of the queue.
        self.woken = threading.Event()
        self.finished = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs writes on ``engine`` (SQLite, through storage.driver) a batch per transaction."""

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Pending[Any]] = deque()
        self.transactions = 0  # committed or not; for tests and benchmarks
        database = engine.url.database
        file_backed = engine.dialect.name == "sqlite" and database and database != ":memory:"
        self.lock_path = f"{database}-writers.lock" if file_backed and fcntl else None
        self._lock_file: tuple[int, int] | None = None  # (pid, descriptor), opened on first use

    @property
    def pending(self) -> int:
        """Writes queued or running now."""
        with self._lock:
            return len(self._queue)

    def run(self, write: Write[T]) -> T:
        """``write(cursor)`` inside a committed transaction; its result, or what it raised.

        ``write`` may run twice (alone again after its batch failed) and runs on whichever
        thread leads its batch: it must only run statements on the cursor and compute its
        result from them, never write through this queue itself (it would wait for itself).
        """
        pending = _Pending(write)
        with self._lock:
            self._queue.append(pending)
            leads = self._queue[0] is pending
        if not leads:
            pending.woken.wait()
            if pending.finished:
                return pending.outcome()
        with self._lock:
            batch = list(islice(self._queue, self._max_batch))
        try:
            self._commit(batch)
        finally:
            with self._lock:
                for _ in batch:
                    self._queue.popleft()
                following = self._queue[0] if self._queue else None
            for done in batch:
                if not done.finished:  # the leader itself was interrupted
                    done.error = RuntimeError("The database write was interrupted.")
                    done.finished = True
                done.woken.set()
            if following is not None:
                following.woken.set()  # the next batch's leader
        return pending.outcome()

    @contextmanager
    def _other_processes_wait(self) -> Iterator[None]:
        """Hold the lock file that this database's writing processes take turns on."""
        if self.lock_path is None:
            yield
            return
        if self._lock_file is None or self._lock_file[0] != os.getpid():
            # A forked child opens its own: a descriptor shared with the parent would share
            # its lock too.
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, os.close, descriptor)
            self._lock_file = (os.getpid(), descriptor)
        descriptor = self._lock_file[1]
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # waits without the GIL
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _commit(self, batch: list[_Pending[Any]]) -> None:
        self.transactions += 1
        write_failed = False
        try:
            with self._other_processes_wait(), driver_transaction(self._engine) as cursor:
                results = []
                for pending in batch:
                    try:
                        results.append(pending.write(cursor))
                    except Exception:
                        write_failed = True
                        raise
        except Exception as exc:
            if write_failed and len(batch) > 1:
                for pending in batch:  # find the write that failed; the others still commit
                    self._commit([pending])
                return
            # The write's own error, or the transaction's (BEGIN or COMMIT failed: the database
            # is locked past its busy timeout, or the disk failed), which is everyone's: running
            # each write again alone would only make each caller wait that long again.
            for pending in batch:
                pending.error, pending.finished = exc, True
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result, pending.finished = result, True


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit:
    """The one queue of ``engine``'s writes in this process."""
    with _BY_ENGINE_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = GroupCommit(engine)
        return found
