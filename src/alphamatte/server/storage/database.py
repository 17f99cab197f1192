"""Engine creation and migrations, for SQLite (default) and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Connection, Engine, create_engine, event

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
# pg_advisory_xact_lock's key for "the schema is being migrated": any fixed 64-bit number that
# nothing else in the database uses ("alphamat" in ASCII).
MIGRATION_LOCK_KEY = 0x616C7068616D6174


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection: threads of this process queue for it in order rather than
        # meeting in SQLite's busy handler and its back-off sleeps (SQLite allows one writer
        # anyway). Other processes (`serve --workers N`) take turns on a lock file for the
        # requests' writes (storage.group_commit) and on the busy timeout for the rest.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            # No ping before each checkout: a file database does not drop connections, and
            # the ping was a third of the statements of a charged request.
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; a busy timeout makes concurrent writers wait for
    # the lock instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN: a deferred transaction that reads and then writes can fail
    # at once with "database is locked" when another process writes, busy timeout or not.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest revision this code knows."""
    head: str | None = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database's schema is at (None: never migrated)."""
    with engine.connect() as connection:
        return _revision(connection)


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """Processes that start together (replicas, `serve --workers N`) migrate one at a time.

    A SQLite file is guarded by a lock file beside it. PostgreSQL is guarded inside the
    migrating transaction (see :func:`migrate`); nothing to do here.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with FileLock(f"{database}-migrate.lock"):
        yield


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest revision; True when this call changed it.

    Idempotent and safe to call from many processes at once: the first to arrive migrates
    while the others wait, then find the schema at head and do nothing. On PostgreSQL the
    wait is a transaction-scoped advisory lock taken before Alembic reads the schema's
    revision, so it is released by the same COMMIT that publishes the new schema (or by the
    ROLLBACK of a failed migration, or by the server when a migrating process dies).
    """
    config = _alembic_config()
    with _one_migrator(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        before = _revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        return _revision(connection) != before


def _revision(connection: Connection) -> str | None:
    revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return revision
