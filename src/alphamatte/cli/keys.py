"""`alphamatte keys ...`: API keys, their credits, models and usage, in the server's database."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from alphamatte.cli.extras import require

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from alphamatte.config import Settings


def _settings() -> Settings:
    from alphamatte.config import Settings

    return Settings()


def migrated_engine() -> Engine:
    from alphamatte.server.storage.database import make_engine, migrate

    engine = make_engine(_settings().resolved_database_url)
    migrate(engine)
    return engine


def _rate(value: str | None) -> str | None:
    from alphamatte.server.ratelimit import valid_rate_limit

    if value is not None and not valid_rate_limit(value):
        raise click.BadParameter(f"{value!r} is not a rate like '7/minute' or '100/hour'.")
    return value


@click.group()
def keys() -> None:
    """Manage API keys and credits in the configured database."""
    require("server", "`alphamatte keys`")


@keys.command("create")
@click.option("--name", default="", help="A label for the key.")
@click.option("--credits", default=0, type=click.IntRange(min=0), show_default=True)
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Credits expire at the start of this day (YYYY-MM-DD).",
)
@click.option("--rate-limit", default=None, help="Per-key override, e.g. '7/minute'.")
@click.option(
    "--removebg-rate-limit",
    default=None,
    help="Per-key megapixels on remove.bg's endpoints, e.g. '500/minute'.",
)
@click.option("--model", "default_model", default=None, help="The key's default model.")
@click.option(
    "--allow-models", default=None, help="Comma-separated models the key may use (default: all)."
)
def create(
    name: str,
    credits: int,
    expires: datetime | None,
    rate_limit: str | None,
    removebg_rate_limit: str | None,
    default_model: str | None,
    allow_models: str | None,
) -> None:
    """Create a key. The key itself is printed once, as the last line.

    Without --expires, credits expire after ALPHAMATTE_CREDIT_VALIDITY_DAYS when that is set.
    """
    from alphamatte.server.accounting.keys import create_key

    default_model, allowed_models = _models(default_model, allow_models)
    key, raw = create_key(
        migrated_engine(),
        name=name,
        credits=credits,
        expires_at=expires,
        rate_limit=_rate(rate_limit),
        removebg_rate_limit=_rate(removebg_rate_limit),
        default_model=default_model,
        allowed_models=allowed_models,
        validity=_settings().credit_validity,
    )
    click.echo(
        f"created key id={key.id} name={key.name!r} credits={key.credits} "
        f"expires={_day(key.expires_at)}",
        err=True,
    )
    click.echo(raw)


def _models(default: str | None, allowed: str | None) -> tuple[str | None, tuple[str, ...] | None]:
    """The default model and the allow-list from their options, made consistent: a key with
    an allow-list that leaves out the server's default model gets its first allowed model as
    its default (else every request naming no model would be refused)."""
    from alphamatte.server.accounting.keys import split_models
    from alphamatte.server.models import served_models

    names = split_models(allowed)
    if default and names and default not in names:
        raise click.BadParameter("the default model must be allowed", param_hint="--model")
    settings = _settings()
    if names and not default and served_models(settings, settings.model)[0] not in names:
        default = names[0]
        click.echo(f"default model: {default} (the first allowed; the server's is not)", err=True)
    return default, names


@keys.command("models")
@click.argument("key_id", type=int)
@click.option("--model", "default_model", default=None, help="Default model (unset: server's).")
@click.option("--allow-models", default=None, help="Comma-separated; unset: every model.")
def models_command(key_id: int, default_model: str | None, allow_models: str | None) -> None:
    """Set key KEY_ID's default model and the models it may use."""
    from alphamatte.server.accounting.keys import set_models

    default_model, allowed_models = _models(default_model, allow_models)
    key = set_models(
        migrated_engine(), key_id, default_model=default_model, allowed_models=allowed_models
    )
    if key is None:
        raise click.ClickException(f"No key with id {key_id}.")
    allowed = ",".join(key.allowed_models) if key.allowed_models else "all"
    click.echo(f"key {key.id}: model={key.default_model or 'default'} allowed={allowed}")


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "never"


@keys.command("list")
def list_command() -> None:
    """List keys (never their secrets)."""
    from alphamatte.server.accounting.keys import list_keys

    now = datetime.now()
    for key in list_keys(migrated_engine()):
        expires = key.expires_at.date().isoformat() if key.expires_at else "-"
        if key.revoked:
            status = "revoked"
        elif key.expires_at is not None and key.expires_at <= now:
            status = "expired"
        else:
            status = "live"
        click.echo(
            f"{key.id}\t{key.prefix}…\t{key.name or '-'}\tcredits={key.credits}\t"
            f"expires={expires}\trate={key.rate_limit or 'default'}\t"
            f"model={key.default_model or 'default'}\t{status}"
        )


@keys.command("topup")
@click.argument("key_id", type=int)
@click.argument("credits", type=click.IntRange(min=0))
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="New expiry: the start of this day (a top-up never shortens a later one).",
)
def topup(key_id: int, credits: int, expires: datetime | None) -> None:
    """Add CREDITS to key KEY_ID; expired credits become usable again.

    The new expiry is --expires, else ALPHAMATTE_CREDIT_VALIDITY_DAYS from now when that is set,
    else none; a top-up never shortens a later expiry. 0 credits with --expires moves the date.
    """
    from alphamatte.server.accounting.keys import PastExpiryError, top_up

    if credits == 0 and expires is None:
        raise click.BadParameter("0 credits only makes sense with --expires.", param_hint="CREDITS")
    try:
        key = top_up(
            migrated_engine(),
            key_id,
            credits,
            expires_at=expires,
            validity=_settings().credit_validity,
        )
    except PastExpiryError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    if key is None:
        raise click.ClickException(f"No key with id {key_id}.")
    click.echo(f"key {key.id}: credits={key.credits} expires={_day(key.expires_at)}")


@keys.command("usage")
@click.argument("key_id", type=int)
@click.option("--after", default=0, type=click.IntRange(min=0), help="Rows after this row id.")
@click.option("--limit", default=1000, type=click.IntRange(1, 100_000), show_default=True)
def usage_command(key_id: int, after: int, limit: int) -> None:
    """Every credit movement of key KEY_ID (the ledger), then its balance."""
    from alphamatte.server.accounting.ledger import entries, totals

    engine = migrated_engine()
    found = totals(engine, key_id)
    if found is None:
        raise click.ClickException(f"No key with id {key_id}.")
    click.echo("id\twhen\tkind\tcredits\tstate\tactor\twhat")
    for row in entries(engine, key_id, after=after, limit=limit):
        what = row.endpoint or (f"expires {_day(row.expires_at)}" if row.kind != "refund" else "")
        if row.model:
            what = f"{what} ({row.model})"
        click.echo(
            f"{row.id}\t{row.created_at:%Y-%m-%d %H:%M:%S}\t{row.kind}\t{_signed(row.credits)}\t"
            f"{row.state}\t{row.actor or '-'}\t{what or row.reference}"
        )
    balance, ledger_sum = found
    click.echo(f"balance={balance} ledger_sum={ledger_sum}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke_command(key_id: int) -> None:
    """Revoke key KEY_ID; it stops working at once."""
    from alphamatte.server.accounting.keys import revoke

    if not revoke(migrated_engine(), key_id):
        raise click.ClickException(f"No key with id {key_id}.")
    click.echo(f"key {key_id}: revoked")


def _signed(credits: float) -> str:
    """+3, -1, -0.25: a ledger amount with its sign."""
    return f"+{credits}" if credits >= 0 else str(credits)
