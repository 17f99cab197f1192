"""Where model files live, and confinement of user-given model paths to that place."""

from __future__ import annotations

import os
from pathlib import Path

from alphamatte.engine.errors import ModelPathError


def home_dir() -> Path:
    """``$ALPHAMATTE_HOME``, defaulting to ``~/.cache/alphamatte``."""
    configured = os.environ.get("ALPHAMATTE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "alphamatte"


def models_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / "models"


def confined_model_path(name: str, directory: Path) -> Path:
    """Resolve ``name`` inside ``directory``; refuse anything that escapes it (``..``, links)."""
    root = directory.resolve()
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root) or candidate == root:
        raise ModelPathError(f"Model path {name!r} must be a file inside {root}.")
    if candidate.suffix != ".onnx":
        raise ModelPathError(f"Model path {name!r} must name an .onnx file.")
    if not candidate.is_file():
        raise ModelPathError(f"Model file {candidate} does not exist.")
    return candidate
