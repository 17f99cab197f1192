"""Real models that break on disk: a derived graph that no longer loads is made again from
the verified source; a source that no longer matches its sha256 makes that model answer 503 in
both dialects (never a 500) while the other model keeps serving. Pinned to ONNX Runtime f32:
what is tested is the loading, not the choice of a runtime."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import U2NETP
from alphamatte.engine.loader import load_matter
from alphamatte.engine.preparation.rewrite import generic_path
from alphamatte.server.accounting.keys import create_key
from alphamatte.server.loopback import serving
from tests.conftest import image_bytes

pytestmark = pytest.mark.slow
PHOTO = np.zeros((96, 128, 3), np.uint8)
PHOTO[24:72, 32:96] = 230
PNG = image_bytes(Image.fromarray(PHOTO), "PNG")


def _models_beside(real: Path, target: Path, *, copy: tuple[str, ...]) -> None:
    """``target`` holding the real models: ``copy`` as copies (to be damaged), the rest as
    links; none of their derived graphs, so that the test's own are made here."""
    target.mkdir(parents=True)
    for entry in real.iterdir():
        if entry.is_dir() or ".prepared" in entry.name or ".generic" in entry.name:
            continue
        if entry.name in copy:
            shutil.copy(entry, target / entry.name)
        else:
            (target / entry.name).symlink_to(entry)


def test_a_derived_graph_that_does_not_load_is_remade_from_the_source(
    models_dir: Path, tmp_path: Path
) -> None:
    if not (models_dir / U2NETP.filename).is_file():
        pytest.skip("u2netp is not fetched (`alphamatte model fetch u2netp`)")
    here = tmp_path / "models"
    _models_beside(models_dir, here, copy=(U2NETP.filename,))
    source = here / U2NETP.filename
    before = source.read_bytes()
    graph = generic_path(source)
    graph.write_bytes(b"\x08\x07" + b"truncated" * 100)  # a graph cut short by a full disk
    matter = load_matter(
        "u2netp", directory=here, fetch=False, backend="onnxruntime", precisions=("f32", "f32")
    )
    alpha = matter.predict(PHOTO)
    assert alpha.shape == PHOTO.shape[:2] and alpha[48, 64] > alpha[2, 2]
    assert graph.stat().st_size > 100_000  # made again
    assert source.read_bytes() == before  # from the source, which was not fetched again


def test_a_corrupt_model_answers_503_and_the_other_keeps_serving(
    models_dir: Path, tmp_path: Path
) -> None:
    if not (models_dir / U2NETP.filename).is_file():
        pytest.skip("u2netp is not fetched (`alphamatte model fetch u2netp`)")
    _models_beside(models_dir, tmp_path / "models", copy=(U2NETP.filename,))
    source = tmp_path / "models" / U2NETP.filename
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])  # truncated
    settings = Settings(
        home=tmp_path,
        models="isnet-general-use,u2netp",
        backend="onnxruntime",
        cpu_precision="f32",
        result_cache_mb=0,
        rate_limit="1000/minute",
    )
    with serving(settings) as live:
        _, key = create_key(live.state.db, credits=10)
        headers = {"X-API-Key": key}
        files = {"file": ("p.png", PNG, "image/png")}
        broken = httpx.post(
            f"{live.url}/v1.0/alpha-channel?model=u2netp", files=files, headers=headers, timeout=120
        )
        assert broken.status_code == 503 and int(broken.headers["retry-after"]) > 0
        remove = httpx.post(
            f"{live.url}/v1.0/removebg",
            files={"image_file": ("p.png", PNG, "image/png")},
            data={"model": "u2netp", "size": "preview"},
            headers=headers,
            timeout=120,
        )
        assert remove.status_code == 503
        assert remove.json()["errors"][0]["code"] == "model_unavailable"
        served = httpx.post(
            f"{live.url}/v1.0/alpha-channel", files=files, headers=headers, timeout=120
        )
        assert served.status_code == 200 and served.headers["x-model"] == "isnet-general-use"
        ready = httpx.get(f"{live.url}/ready", timeout=30)
        assert ready.status_code == 200 and ready.json()["models"]["unavailable"] == ["u2netp"]
    assert source.stat().st_size < 3_000_000  # still the truncated copy: nothing was fetched
