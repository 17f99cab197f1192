"""Every error the engine raises, under one root.

Callers catch :class:`EngineError` once: the server answers it with 503 and ``Retry-After`` in
each dialect's shape (server/errors.py), the CLI prints its message and exits with status 3.
The message says what happened and what to do, without a stack.
"""

from __future__ import annotations


class EngineError(Exception):
    """The engine cannot do what was asked."""

    # Whether trying again could help: False while a retry might (a derived graph remade, a
    # download that may succeed later); True when nothing changes without the operator.
    final = False


class ModelFetchError(EngineError):
    """The model could not be acquired (downloaded, unpacked, checked)."""


class ModelPathError(EngineError, ValueError):
    """A user-given model path points outside the model cache, or to nothing."""


class ModelUnavailableError(EngineError):
    """The model is missing or broken and could not be (re)acquired."""

    final = True  # loading it again, even with its derived graphs remade, changes nothing


class BackendUnavailableError(EngineError):
    """The runtime asked for is not installed or cannot run here."""

    final = True
