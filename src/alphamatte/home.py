"""Where alphamatte keeps its files: ``$ALPHAMATTE_HOME``, else ``~/.cache/alphamatte``.

Standard library only, so that the light install (the SDK, the model-free commands) can ask;
``config.Settings`` uses the same default.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """``$ALPHAMATTE_HOME``, else ``~/.cache/alphamatte``: where models, the database and the
    caches live. Read here, in configuration; the engine is handed its directories."""
    configured = os.environ.get("ALPHAMATTE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "alphamatte"


def default_models_dir() -> Path:
    """The model cache under :func:`default_home`."""
    return default_home() / "models"
