"""The job's record: one JSON line per input, and the summary printed at the end."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

Status = Literal["done", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("done", "skipped", "failed")


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def photos_per_second(self) -> float:
        """Photos matted per second of the whole job (skipped ones are not work done)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"batch: {self.done} done, {self.skipped} skipped, {self.failed} failed "
            f"in {self.seconds:.1f} s ({self.photos_per_second:.2f} photos/s)"
        )


class Manifest:
    """Appends records as results arrive, flushed per line so that a killed driver leaves a
    readable file with everything that had finished."""

    def __init__(self, path: Path):
        self.path = path
        self.summary = Summary()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("w", encoding="utf-8")

    def add(self, record: dict[str, Any]) -> None:
        status = record["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        setattr(self.summary, status, getattr(self.summary, status) + 1)
        line = {key: record.get(key) for key in ("input", "output", "status", "error", "seconds")}
        self._handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> Summary:
        self.summary.finished = time.monotonic()
        self._handle.close()
        return self.summary

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._handle.closed:
            self.close()


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
