"""Options shared by the commands that run the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alphamatte.cli.extras import require

if TYPE_CHECKING:
    from alphamatte.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(func: F) -> F:
    """--model, --quality and --max-side, defaulting to the ALPHAMATTE_* environment."""
    func = click.option(
        "--model",
        default=None,
        help="A catalogue or imported model (`alphamatte model list`), or an .onnx file in the "
        "model cache; with --api, the server's model.",
    )(func)
    func = click.option(
        "--quality",
        type=click.Choice(["fast", "best"]),
        default=None,
        help="fast: ALPHAMATTE_MODEL (default); best: the strongest model installed.",
    )(func)
    func = click.option(
        "--max-side",
        type=click.IntRange(32, 1024),
        default=None,
        help="Long side of the image the model sees (default 1024).",
    )(func)
    return func


def settings_with(
    model: object = None, quality: object = None, max_side: object = None
) -> Settings:
    """``Settings`` with the command's options; a bad ALPHAMATTE_* variable is one line."""
    from pydantic import ValidationError

    from alphamatte.runtime import settings_with as with_overrides

    try:
        return with_overrides(model=model, quality=quality, max_side=max_side)
    except ValidationError as exc:  # a bad ALPHAMATTE_* variable: one line, no traceback
        problems = "; ".join(
            f"ALPHAMATTE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise click.ClickException(problems) from exc


class EngineFailure(click.ClickException):
    """The engine could not run: its message, and exit status 3 (1 is a file that failed, 2 a
    usage error)."""

    exit_code = 3


def load_matter_or_exit(model: object = None, quality: object = None, max_side: object = None):  # type: ignore[no-untyped-def]
    require("local", "Running the model on this computer (without --api)")
    from alphamatte.engine.errors import EngineError
    from alphamatte.runtime import load_engine

    settings = settings_with(model, quality, max_side)
    try:
        return load_engine(settings)
    except EngineError as exc:
        raise EngineFailure(str(exc)) from exc
