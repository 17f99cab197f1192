"""The `alphamatte` command."""

from __future__ import annotations

import click

from alphamatte import __version__
from alphamatte.cli.batch import batch
from alphamatte.cli.composite import composite
from alphamatte.cli.database import db
from alphamatte.cli.evaluate import eval_command
from alphamatte.cli.improve import improve
from alphamatte.cli.info import info
from alphamatte.cli.keys import keys
from alphamatte.cli.local import cutout, matte
from alphamatte.cli.model import model
from alphamatte.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alphamatte")
def cli() -> None:
    """alphamatte: alpha mattes from photos, locally or as a withoutbg-compatible server."""


cli.add_command(model)
cli.add_command(matte)
cli.add_command(cutout)
cli.add_command(composite)
cli.add_command(batch)
cli.add_command(eval_command)
cli.add_command(serve)
cli.add_command(keys)
cli.add_command(db)
cli.add_command(improve)
cli.add_command(info)


def main() -> None:
    cli()
