"""OpenVINO sets the C locale to "C" while it reads or compiles a graph and then restores
what it saw: two compiles at once (a server loading two models, a CLI's background load)
used to leave the whole process in "C", so every later text decode was ASCII."""

from __future__ import annotations

import locale
import threading
from pathlib import Path

import onnx
import pytest

from alphamatte.engine.runtimes import openvino
from tests.engine.test_contracts import channel_mean_graph


@pytest.mark.skipif(not openvino.openvino_installed(), reason="OpenVINO is not installed")
def test_compiles_on_several_threads_leave_the_locale_alone(tmp_path: Path) -> None:
    path = tmp_path / "mean.onnx"
    onnx.save(onnx.helper.make_model(channel_mean_graph(None)), str(path))
    before = locale.setlocale(locale.LC_ALL)

    def compile_many(worker: int) -> None:
        for step in range(20):
            session = openvino.OpenVinoSession(path, dynamic=True, threads=1)
            session.compile_for((1, 3, 32 * (1 + (worker * 20 + step) % 16), 64))

    workers = [threading.Thread(target=compile_many, args=(n,)) for n in range(4)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        after = locale.setlocale(locale.LC_ALL)
        encoding = locale.getpreferredencoding(False)
    finally:
        locale.setlocale(locale.LC_ALL, before)  # a failure here must not spoil later tests
    assert after == before
    assert "€".encode().decode(encoding) == "€"
