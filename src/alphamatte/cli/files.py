"""Expanding CLI inputs into files and naming their outputs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from alphamatte.files import IMAGE_SUFFIXES


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
