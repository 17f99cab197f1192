"""A real Ray cluster of several raylets on this machine, and a real S3-compatible server.

``ray start --head`` and ``ray start --address …`` (one raylet per node, each with its own
node-manager port so that a test can find one node's processes and kill them); ``moto_server``
as the object store, reached over HTTP by boto through s3fs. Everything runs on loopback and
is stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from alphamatte.bulk.raylets import wait_for
from alphamatte.server.loopback import free_port

BIN = Path(sys.executable).parent
NODE_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


class S3Server:
    """``moto_server`` on a loopback port: a real S3 wire protocol, in memory."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, "moto_server")
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "alphamatte-test",
            "AWS_SECRET_ACCESS_KEY": "alphamatte-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def _up(self) -> bool:
        try:
            return httpx.get(self.endpoint, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    def filesystem(self):  # type: ignore[no-untyped-def]
        import s3fs

        return s3fs.S3FileSystem(
            key=self.env["AWS_ACCESS_KEY_ID"],
            secret=self.env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
