"""Several `alphamatte serve` processes behind nginx, sharing PostgreSQL and Redis.

The replicas run the real CLI and the real ONNX Runtime on a tiny stand-in model (built here
with onnx.helper), so a request costs milliseconds instead of a second; a slow variant (a
stack of wide convolutions) keeps a request in flight long enough to kill its process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from alphamatte.server.loopback import free_port, wait_ready
from tests.services import missing


def tiny_model(path: Path, *, layers: int = 0, width: int = 32) -> None:
    """1x3xHxW → 1x1xHxW: brightness through a sigmoid, optionally after ``layers`` of
    width x width 3x3 convolutions that only cost time."""
    nodes, inits = [], []
    current = "input"
    if layers:
        rng = np.random.default_rng(0)
        channels = 3
        for i in range(layers):
            weight = (rng.standard_normal((width, channels, 3, 3)) * 0.01).astype(np.float32)
            inits.append(numpy_helper.from_array(weight, f"w{i}"))
            nodes.append(helper.make_node("Conv", [current, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
            current, channels = f"c{i}", width
        zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
        inits.append(zero)
        nodes.append(helper.make_node("ReduceMean", [current], ["busy"], axes=[1], keepdims=1))
        nodes.append(helper.make_node("Mul", ["busy", "zero"], ["nothing"]))
        nodes.append(helper.make_node("ReduceMean", ["input"], ["light"], axes=[1], keepdims=1))
        nodes.append(helper.make_node("Add", ["light", "nothing"], ["mean"]))
    else:
        nodes.append(helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1], keepdims=1))
    inits.append(numpy_helper.from_array(np.array([8.0], np.float32), "gain"))
    nodes.append(helper.make_node("Mul", ["mean", "gain"], ["scaled"]))
    nodes.append(helper.make_node("Sigmoid", ["scaled"], ["output"]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "h", "w"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


# A replica's start: migrations, the model's load and warm-up; with margin for a loaded machine.
READY_WINDOW_S = 300.0


@dataclass
class Replica:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> None:
        """Until /ready answers 200; RuntimeError at once if the process exits first."""
        wait_ready(self.url, timeout, alive=lambda: self.process.poll() is None)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Topology:
    home: Path
    database_url: str
    redis_url: str
    replicas: list[Replica] = field(default_factory=list)
    nginx: subprocess.Popen[bytes] | None = None
    nginx_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def env(self, model: str, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "ALPHAMATTE_HOME": str(self.home),
            "ALPHAMATTE_MODEL": model,
            "ALPHAMATTE_MAX_SIDE": "256",
            "ALPHAMATTE_DATABASE_URL": self.database_url,
            "ALPHAMATTE_REDIS_URL": self.redis_url,
            "ALPHAMATTE_QUEUE_SIZE": "256",
            # Measuring `auto` is not what these tests are about, and on a busy 2-core machine
            # it took ~100 s of a replica's start (the slow model): pinned.
            "ALPHAMATTE_BACKEND": "onnxruntime",
            **extra,
        }

    def start_replica(self, model: str = "tiny.onnx", **extra: str) -> Replica:
        port = free_port()
        binary = Path(sys.executable).parent / "alphamatte"
        process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=self.env(model, **extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        replica = Replica(port, process)
        self.replicas.append(replica)  # stopped by stop() even if it never becomes ready
        try:
            replica.wait_ready(READY_WINDOW_S)
        except RuntimeError:
            replica.stop()
            raise
        return replica

    def start_nginx(self, replicas: list[Replica]) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            missing("nginx (apt-get install nginx)")
        self.nginx_port = free_port()
        prefix = Path(tempfile.mkdtemp(prefix="alphamatte-nginx-"))
        upstream = "\n".join(f"    server 127.0.0.1:{r.port};" for r in replicas)
        (prefix / "nginx.conf").write_text(
            f"""
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  client_max_body_size 20m;
  client_body_buffer_size 20m;
  upstream alphamatte {{
{upstream}
  }}
  server {{
    listen 127.0.0.1:{self.nginx_port};
    location / {{
      proxy_pass http://alphamatte;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_read_timeout 120s;
    }}
  }}
}}
"""
        )
        self.nginx = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        """Stop everything started, whatever failed on the way (each stop is tried)."""
        try:
            if self.nginx is not None and self.nginx.poll() is None:
                self.nginx.terminate()
                try:
                    self.nginx.wait(10)
                except subprocess.TimeoutExpired:
                    self.nginx.kill()
        finally:
            for replica in self.replicas:
                replica.stop()
