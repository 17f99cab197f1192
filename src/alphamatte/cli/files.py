"""Expanding CLI inputs into files and naming their outputs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def expand_inputs(inputs: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(file, the folder it was found under) for every file or image inside a folder."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            found += [
                (path, item)
                for path in sorted(item.rglob("*"))
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
            ]
        else:
            found.append((item, item.parent))
    return found


def output_path(
    source: Path,
    base: Path,
    *,
    out: Path | None,
    out_dir: Path | None,
    suffix: str,
    extension: str = "png",
) -> Path:
    if out is not None:
        return out
    if out_dir is not None:
        relative = source.relative_to(base) if source.is_relative_to(base) else Path(source.name)
        return out_dir / relative.with_suffix(f".{extension}")
    return source.with_name(f"{source.stem}.{suffix}.{extension}")


def check_destinations(count: int, out: Path | None, out_dir: Path | None) -> None:
    if out is not None and out_dir is not None:
        raise click.UsageError("Use either -o/--output or --out-dir, not both.")
    if out is not None and count != 1:
        raise click.UsageError("-o/--output takes one input; use --out-dir for several.")


def write_atomic(target: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so an interrupted run never leaves half a PNG
    that a resumed run would take for finished work.

    The temporary file is created with mode 0666 and the kernel applies the user's umask, so
    the output gets the permissions a plain ``open()`` would give it (``tempfile.mkstemp``
    would make it 0600, unreadable to a web server or a colleague). Thread-safe: the umask is
    never changed.
    """
    import os
    import secrets

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
