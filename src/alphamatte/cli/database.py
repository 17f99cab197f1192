"""`alphamatte db upgrade|current`: the schema, for operators who migrate as a separate step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from alphamatte.cli.extras import require

if TYPE_CHECKING:
    from sqlalchemy import Engine


@click.group("db")
def db() -> None:
    """The database schema (ALPHAMATTE_DATABASE_URL). Servers also migrate when they start."""
    require("server", "`alphamatte db`")


def _engine_and_url() -> tuple[Engine, str]:
    from alphamatte.config import Settings
    from alphamatte.server.storage.database import make_engine

    url = Settings().resolved_database_url
    return make_engine(url), url.split("@")[-1]


@db.command("upgrade")
def upgrade() -> None:
    """Bring the schema to this version's head. Safe beside starting replicas: they wait for
    each other, and whoever comes later finds the schema current."""
    from alphamatte.server.storage.database import current_revision, migrate

    engine, where = _engine_and_url()
    changed = migrate(engine)
    revision = current_revision(engine)
    engine.dispose()
    click.echo(f"{where}: {'upgraded to' if changed else 'already at'} {revision}")


@db.command("current")
def current() -> None:
    """Print the schema's revision and this version's head; exit 1 when they differ."""
    from alphamatte.server.storage.database import current_revision, head_revision

    engine, where = _engine_and_url()
    revision, head = current_revision(engine), head_revision()
    engine.dispose()
    click.echo(f"{where}: at {revision or 'nothing (never migrated)'}, head {head}")
    if revision != head:
        raise SystemExit(1)
