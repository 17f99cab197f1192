"""`alphamatte serve`: the HTTP API on uvicorn."""

from __future__ import annotations

import logging

import click

from alphamatte.cli.extras import require


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Processes; each holds one model and uses every core for it.",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API (settings from ALPHAMATTE_* environment variables)."""
    require("server", "`alphamatte serve`")
    import uvicorn

    from alphamatte.config import Settings
    from alphamatte.server.lingering import lingering_protocol

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings()
    click.echo(f"alphamatte: database {settings.resolved_database_url.split('@')[-1]}", err=True)
    click.echo("alphamatte: create a key with `alphamatte keys create --credits 100`", err=True)
    uvicorn.run(
        "alphamatte.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=30,
        http=lingering_protocol(settings),  # early refusals reach clients still uploading
    )
