"""What each stage of a bulk job does to a batch of rows (Ray Data's numpy batch format).

A row carries a photo from stage to stage: its ``key`` (path relative to IN), its ``status``
(``todo`` until it is ``done``, ``skipped`` or ``failed``), the ``error`` that failed it, the
``seconds`` spent on it so far, and the pixels the next stage needs. A photo that cannot be
read, decoded or matted becomes a ``failed`` row that flows on to the manifest: one bad file
never fails a task, so Ray's retries are left for lost workers and nodes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from alphamatte.bulk.store import Location, output_key

Batch = dict[str, np.ndarray]
Row = dict[str, Any]  # one photo between stages
# Rows without pixels (skipped, failed) carry this so that every row of a column has one type.
NO_PIXELS = np.zeros((1, 1, 3), dtype=np.uint8)
NO_MATTE = np.zeros((1, 1), dtype=np.float32)
NO_OPACITY = np.zeros((0, 0), dtype=np.uint8)


def _column(values: list[Any]) -> np.ndarray:
    """A batch column: stacked when the arrays share a shape, else an object array (Ray stores
    it as a variable-shaped tensor)."""
    if values and isinstance(values[0], np.ndarray):
        if all(v.shape == values[0].shape for v in values):
            return np.stack(values)
    elif not (values and isinstance(values[0], bytes)):
        return np.asarray(values)
    # Objects, not NumPy's fixed-width bytes, which would drop a profile's trailing zeros.
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _rows(batch: Batch) -> Iterator[Row]:
    names = list(batch)
    for i in range(len(batch[names[0]]) if names else 0):
        yield {name: batch[name][i] for name in names}


def _batch(rows: list[Row], columns: tuple[str, ...]) -> Batch:
    return {name: _column([row[name] for row in rows]) for name in columns}


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def list_inputs(batch: Batch, *, source: str) -> Iterator[Batch]:
    """Shards (``prefix``, ``recursive``) → batches of input keys, streamed as found."""
    location = Location(source)
    for prefix, recursive in zip(batch["prefix"], batch["recursive"], strict=True):
        for keys in location.list_shard(str(prefix), bool(recursive)):
            yield {"key": np.asarray(keys, dtype=object)}


DECODED = ("key", "status", "error", "seconds", "image", "orientation", "icc", "opacity")


def decode_one(key: str, inputs: Location, outputs: Location, overwrite: bool) -> Row:
    """Skip a photo whose output exists (the resume), else read and decode it upright."""
    from alphamatte.imaging.decode import decode_local

    started = time.perf_counter()
    row: Row = {
        "key": key,
        "status": "todo",
        "error": "",
        "image": NO_PIXELS,
        "orientation": 1,
        "icc": b"",  # the photo's colour profile; empty: sRGB
        "opacity": NO_OPACITY,  # the photo's own alpha, upright; empty: opaque
    }
    try:
        if not overwrite and outputs.exists(output_key(key)):
            row["status"] = "skipped"
        else:
            image = decode_local(inputs.read(key))
            row["image"], row["orientation"] = image.upright(), image.orientation
            row["icc"] = image.icc_profile or b""
            opacity = image.upright_opacity()
            row["opacity"] = NO_OPACITY if opacity is None else opacity
    except Exception as exc:
        row["status"], row["error"] = "failed", _failure(exc)
    row["seconds"] = time.perf_counter() - started
    return row


def read_and_decode(batch: Batch, *, source: str, target: str, overwrite: bool) -> Batch:
    """The decode stage: :func:`decode_one` for each key of ``batch``."""
    inputs, outputs = Location(source), Location(target)
    rows = [decode_one(str(key), inputs, outputs, overwrite) for key in batch["key"]]
    return _batch(rows, DECODED)


@dataclass(frozen=True)
class EngineOptions:
    """What the CLI's --model, --quality and --max-side asked for; unset: the node's own
    ALPHAMATTE_* settings."""

    model: str | None = None
    quality: str | None = None
    max_side: int | None = None

    def settings(self) -> Any:
        from alphamatte.runtime import settings_with

        return settings_with(**vars(self))


class ModelUnverifiedError(RuntimeError):
    """The node's model file is missing or is not the one the job was started with."""


def verify_model(options: EngineOptions, expected_sha256: str) -> str:
    """The node's model path after checking its sha256 against the driver's; raises
    :class:`ModelUnverifiedError` with what to do when it is missing or different."""
    import socket

    from alphamatte.engine.acquisition.download import sha256_of
    from alphamatte.engine.loader import resolve_spec

    settings = options.settings()
    host = socket.gethostname()
    try:
        _, path = resolve_spec(settings.model, settings.models_dir)
    except ValueError as exc:  # a custom model outside or absent from this node's cache
        raise ModelUnverifiedError(f"{host}: {exc}") from exc
    if not path.is_file():
        raise ModelUnverifiedError(
            f"{host}: model {settings.model} is not in {settings.models_dir}; run "
            "`alphamatte model fetch` on this node or point ALPHAMATTE_HOME at a shared cache"
        )
    found = sha256_of(path)
    if found != expected_sha256:
        raise ModelUnverifiedError(
            f"{host}: {path} has sha256 {found[:12]}…, the job's model has "
            f"{expected_sha256[:12]}…; fetch the same model on every node"
        )
    return str(path)


MATTED = (*DECODED, "alpha", "photo")


class ModelStage:
    """One per actor: the model is verified and loaded once, then mattes batch after batch.

    ``threads``: the session's threads, when several actors share a node's cores; the backend
    is still the one ``auto`` picks for the node's all-core run, so the bytes are the local
    batch's.
    """

    def __init__(self, options: EngineOptions, expected_sha256: str, threads: int | None = None):
        from alphamatte.engine.runtimes.session import default_threads
        from alphamatte.runtime import load_engine

        verify_model(options, expected_sha256)
        settings = options.settings()
        self.matter = load_engine(
            settings,
            threads=threads,
            fetch=False,  # no hub at run time: a node has the model or the job refuses it
            choose_for=settings.threads or default_threads(),
        )

    def matte_one(self, row: Row) -> Row:
        """``row`` with the coarse matte (``alpha``) and the photo it was made from."""
        row["alpha"], row["photo"] = NO_MATTE, NO_PIXELS
        if row["status"] == "todo":
            started = time.perf_counter()
            try:
                from alphamatte.imaging.colour import to_srgb

                coarse = self.matter.coarse(to_srgb(row["image"], bytes(row["icc"]) or None))
                row["alpha"], row["photo"] = coarse.alpha, coarse.photo
            except Exception as exc:
                row["status"], row["error"] = "failed", _failure(exc)
            row["seconds"] += time.perf_counter() - started
        return row

    def __call__(self, batch: Batch) -> Batch:
        return _batch([self.matte_one(row) for row in _rows(batch)], MATTED)


RECORD = ("input", "output", "status", "error", "seconds")


def finish_one(row: Row, kind: str, inputs: Location, outputs: Location) -> Row:
    """Full size, encode and write a matted photo; the row leaves as its manifest record."""
    from alphamatte.engine.inference.matting import CoarseMatte
    from alphamatte.product.matte import finished_product

    key, started = str(row["key"]), time.perf_counter()
    status, error = str(row["status"]), str(row["error"])
    if status == "todo":
        try:
            coarse = CoarseMatte(row["alpha"], row["photo"])
            icc = bytes(row["icc"]) or None
            opacity = row["opacity"] if row["opacity"].size else None
            orientation = int(row["orientation"])
            png = finished_product(kind, row["image"], orientation, coarse, icc, opacity)
            outputs.write(output_key(key), png)
            status = "done"
        except Exception as exc:
            status, error = "failed", _failure(exc)
    return {
        "input": inputs.display(key),
        "output": outputs.display(output_key(key)) if status != "failed" else "",
        "status": status,
        "error": error,
        "seconds": round(float(row["seconds"]) + time.perf_counter() - started, 4),
    }


def finish_and_write(batch: Batch, *, kind: str, source: str, target: str) -> Batch:
    """The post-processing stage: :func:`finish_one` for each row of ``batch``."""
    inputs, outputs = Location(source), Location(target)
    return _batch([finish_one(row, kind, inputs, outputs) for row in _rows(batch)], RECORD)


class PhotoStage:
    """Every stage of one photo in one actor: read and decode, the model, full size, encode
    and write. On CPU nodes this is how a job runs (one actor per two cores, a two-thread
    model, a few photos at once): handing a decoded photo from process to process costs more
    CPU than the stage does (docs/bulk.md), and the cores are shared by stages anyway."""

    def __init__(
        self,
        options: EngineOptions,
        expected_sha256: str,
        *,
        threads: int,
        kind: str,
        source: str,
        target: str,
        overwrite: bool,
    ):
        self.model = ModelStage(options, expected_sha256, threads=threads)
        self.inputs, self.outputs = Location(source), Location(target)
        self.kind, self.overwrite = kind, overwrite

    def __call__(self, batch: Batch) -> Batch:
        records = []
        for key in batch["key"]:
            row = decode_one(str(key), self.inputs, self.outputs, self.overwrite)
            row = self.model.matte_one(row)
            records.append(finish_one(row, self.kind, self.inputs, self.outputs))
        return _batch(records, RECORD)
