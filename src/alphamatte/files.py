"""Files on disk, for every part that reads photos from folders or writes results: which
names are photos, and writing a result so that it is never seen half-written."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".heic",
    ".heif",
    ".hif",
    ".avif",
}


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` for a writer that takes a path (ONNX, the quantiser,
    a download); it replaces ``target`` in one rename when the block succeeds and is removed
    when it fails, so nothing ever reads half a file at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_atomic(target: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so an interrupted run never leaves half a PNG
    that a resumed run would take for finished work.

    The temporary file is created with mode 0666 and the kernel applies the user's umask, so
    the output gets the permissions a plain ``open()`` would give it (``tempfile.mkstemp``
    would make it 0600, unreadable to a web server or a colleague). Thread-safe: the umask is
    never changed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
