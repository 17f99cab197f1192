"""Which optional install each command needs, and one clear line when it is missing."""

from __future__ import annotations

from importlib.util import find_spec

import click

# The modules whose absence means the extra was not installed (see pyproject.toml).
EXTRAS: dict[str, tuple[str, ...]] = {
    "edges": ("pymatting",),
    "local": ("onnxruntime", "onnx", "cv2", "scipy", "pydantic_settings"),
    "ray": ("ray", "fsspec", "pyarrow"),
    "server": (
        "fastapi",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "limits",
        "prometheus_client",
        "pydantic_settings",
    ),
}


def has_extra(extra: str) -> bool:
    return all(find_spec(module) is not None for module in EXTRAS[extra])


def require(extra: str, what: str) -> None:
    """Exit with one line naming the extra to install, before any import can fail."""
    if not has_extra(extra):
        raise click.ClickException(
            f"{what} needs the '{extra}' extra: pip install 'alphamatte[{extra}]'"
        )
