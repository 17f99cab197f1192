"""An opt-in, size-bounded disk cache of mattes, so one photo costs one API call."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


def default_cache_dir() -> Path:
    home = os.environ.get("ALPHAMATTE_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "alphamatte") / "mattes"


class MatteCache:
    """Matte PNGs keyed by a content hash; the least recently used go first when it is full.

    Writes are atomic (temporary file, then rename), so several processes may share a folder
    and a crash never leaves a half-written entry behind.
    """

    def __init__(self, directory: str | Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES):
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.max_bytes = max_bytes

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("cache keys are hex digests")
        return self.directory / f"{key}.png"

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: last to be evicted
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self._path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._evict()

    def _evict(self) -> None:
        entries = []
        for path in self.directory.glob("*.png"):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.png")) if self.directory.is_dir() else 0
