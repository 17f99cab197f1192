"""`alphamatte improve list|export`: remove.bg's "improve" submissions, for the operator."""

from __future__ import annotations

from pathlib import Path

import click

from alphamatte.cli.extras import require
from alphamatte.cli.keys import migrated_engine


@click.group("improve")
def improve() -> None:
    """Images clients sent to POST /v1.0/improve (in the configured database)."""
    require("server", "`alphamatte improve`")


@improve.command("list")
def list_command() -> None:
    """One line per submission: id, key, size, file name, tag, time."""
    from alphamatte.server.accounting.improvements import listed

    for each in listed(migrated_engine()):
        click.echo(
            f"{each.id}\tkey={each.key_id}\t{each.size:,} B\t{_shown(each.filename)}\t"
            f"{_shown(each.tag)}\t{each.created_at:%Y-%m-%d %H:%M:%S}"
        )


def _shown(text: str) -> str:
    """A client's text as it can be printed safely: a newline could forge a row and an escape
    sequence drive the terminal, so what is not printable is written as its escape."""
    if not text:
        return "-"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


@improve.command("export")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def export_command(out: Path) -> None:
    """Write them as OUT/improve/images/<id>.<ext> with submissions.json; draw each one's
    ground truth as OUT/improve/alpha/<id>.png, then `alphamatte eval OUT`."""
    from alphamatte.server.accounting.improvements import export

    count = export(migrated_engine(), out)
    click.echo(f"{count} submissions in {out / 'improve'}; add alpha/<id>.png, then eval {out}")
