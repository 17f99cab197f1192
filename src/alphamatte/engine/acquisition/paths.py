"""Confinement of user-given model paths to the model directory (which the caller names)."""

from __future__ import annotations

from pathlib import Path

from alphamatte.engine.errors import ModelPathError


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
