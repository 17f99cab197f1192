"""Raylets on this machine: a private Ray cluster of one or more nodes for `batch --ray`.

``ray start --head`` and ``ray start --address …`` with a token private to the cluster, one
raylet per node, each with its own node-manager port so that one node's processes can be found
(and, in the fault tests, killed). What the bulk tests and benchmarks run their jobs on, and a
way to try a multi-node job on one computer. Everything listens on loopback; :meth:`stop` ends
it.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
NODE_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` until it holds; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up in {timeout:.0f} s")


class RayCluster:
    """Raylets started with the ``ray`` CLI; ``env`` is what a driver needs to join it."""

    def __init__(self, base_env: dict[str, str], cpus_per_node: int = 2) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cpus = cpus_per_node
        # Ray's token authentication, with a token private to this cluster.
        self.env = {
            **base_env,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.node_ports: list[int] = []
        self.last_error = ""
        self._ray(
            "start",
            "--head",
            f"--port={self.port}",
            "--include-dashboard=false",
            *self._node_args(),
        )

    def _node_args(self) -> list[str]:
        port = free_port()
        self.node_ports.append(port)
        return [f"--num-cpus={self.cpus}", f"--node-manager-port={port}", "--disable-usage-stats"]

    def _ray(self, *args: str, env: dict[str, str] | None = None) -> None:
        subprocess.run(
            [str(BIN / "ray"), *args],
            check=True,
            env=env or self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=180,
        )

    def add_node(self, **extra_env: str) -> int:
        """Another raylet joining the head; returns its node-manager port."""
        env = self.env | extra_env
        self._ray("start", f"--address={self.address}", *self._node_args(), env=env)
        port = self.node_ports[-1]
        self.last_error = ""
        wait_for(
            lambda: self.alive_nodes() >= len(self.node_ports),
            f"the new Ray node ({self.last_error})",
        )
        return port

    def alive_nodes(self) -> int:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import ray; ray.init(address='auto', logging_level='ERROR');"
                "print(sum(n['Alive'] for n in ray.nodes()));"
                "print([(n['Alive'], n['NodeManagerPort']) for n in ray.nodes()])",
            ],
            env=self.env | {"RAY_ADDRESS": self.address},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            self.last_error = result.stderr[-2000:]
            return 0
        self.last_error = result.stdout.strip().splitlines()[-1]
        return int(result.stdout.strip().splitlines()[-2])

    def raylet(self, node_port: int) -> Any:
        """The raylet process (psutil) of one node."""
        import psutil

        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            wanted = f"--node_manager_port={node_port}" in cmdline
            if wanted and "raylet" in (process.info["name"] or ""):
                return process
        raise LookupError(f"no raylet with node-manager port {node_port}")

    def workers(self, node_port: int) -> list[Any]:
        """The worker processes (tasks and actors) of one node, not its agents: Ray stops a
        raylet whose dashboard or runtime-environment agent dies, so killing those is killing
        the node (an earlier version of this test did, and the job hung)."""
        return [
            child
            for child in self.raylet(node_port).children(recursive=True)
            if " ".join(child.cmdline()).startswith("ray::")
            and not child.name().startswith(NODE_AGENTS)
        ]

    def kill_workers(self, node_port: int) -> int:
        import psutil

        killed = 0
        for worker in self.workers(node_port):
            try:
                worker.send_signal(signal.SIGKILL)
                killed += 1
            except psutil.NoSuchProcess:
                pass
        return killed

    def stop_node(self, node_port: int) -> None:
        """Stop one raylet (and with it that node's workers)."""
        raylet = self.raylet(node_port)
        for child in raylet.children(recursive=True):
            child.kill()
        raylet.kill()
        self.node_ports.remove(node_port)

    def stop(self) -> None:
        subprocess.run(
            [str(BIN / "ray"), "stop", "--force"],
            env=self.env,
            capture_output=True,
            timeout=120,
        )
