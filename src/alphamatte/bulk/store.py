"""Folders and object stores behind one interface (fsspec): listing, reading, atomic writes.

A location is a local folder or a URL fsspec knows (``s3://bucket/prefix`` through s3fs, with
the usual ``AWS_*`` settings: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, …). Inputs are named
by their path relative to the location, so the folder layout carries over to the output side.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from alphamatte.files import IMAGE_SUFFIXES, write_atomic

# How many keys one listing batch carries downstream (a folder larger than this streams out
# in several batches).
LIST_BATCH = 256


@dataclass(frozen=True)
class Location:
    """Where inputs are read from or outputs written to."""

    url: str

    @cached_property
    def _resolved(self) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(self.url)
        return fs, str(root).rstrip("/")

    @property
    def fs(self) -> Any:
        return self._resolved[0]

    @property
    def root(self) -> str:
        return self._resolved[1]

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    def path(self, key: str) -> str:
        return posixpath.join(self.root, key)

    def display(self, key: str) -> str:
        """How a user names the file: a local path, or the URL with its scheme."""
        if self.is_local:
            return self.path(key)
        return f"{_protocols(self.fs)[0]}://{self.path(key)}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def read(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self.path(key))
        return data

    def write(self, key: str, data: bytes) -> None:
        """Never visible half-written: a local file is renamed into place, an object store's
        PUT (or completed multipart upload) only appears whole."""
        if self.is_local:
            write_atomic(Path(self.path(key)), data)
        else:
            self.fs.pipe_file(self.path(key), data)

    def shards(self) -> list[tuple[str, bool]]:
        """What listing tasks split the tree by: each first-level folder (listed recursively by
        its own task) and the first level's own files (one task, not recursive). The driver
        holds only these names, never the whole listing."""
        if not self.fs.isdir(self.root):
            raise FileNotFoundError(f"{self.url} is not a folder or prefix")
        entries = self.fs.ls(self.root, detail=True)
        folders = sorted(e["name"] for e in entries if e["type"] == "directory")
        shards = [(self._relative(name), True) for name in folders]
        return [("", False), *shards]

    def list_shard(self, prefix: str, recursive: bool) -> Iterator[list[str]]:
        """Keys of the images under ``prefix`` (relative to the root), in batches."""
        top = self.path(prefix) if prefix else self.root
        if recursive:
            walked: Iterator[tuple[str, Any, Any]] = self.fs.walk(top)
        else:
            walked = iter([(top, None, [e["name"] for e in self._files(top)])])
        batch: list[str] = []
        for folder, _, files in walked:
            for name in sorted(files):
                if posixpath.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                batch.append(self._relative(posixpath.join(folder, posixpath.basename(name))))
                if len(batch) >= LIST_BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _files(self, folder: str) -> list[dict[str, Any]]:
        return [e for e in self.fs.ls(folder, detail=True) if e["type"] == "file"]

    def _relative(self, name: str) -> str:
        name = name.rstrip("/")
        # fsspec returns object-store names without their scheme, local ones as absolute paths.
        return posixpath.relpath(name, self.root)


def output_key(key: str) -> str:
    """The output's key: the input's, with a .png suffix (as the local batch names them)."""
    return posixpath.splitext(key)[0] + ".png"


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
