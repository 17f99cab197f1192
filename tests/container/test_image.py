"""The CPU image, built from our Dockerfile and run: what a `docker compose up` user gets.

No Docker daemon runs here, so the image is built and run with buildah (chroot isolation, the
host's network) on a Debian base made by mmdebstrap: Debian's python3 is 3.11, like the slim
Python image the Dockerfile defaults to. The machine's package-index settings and CA bundle go
in as build secrets, never into a layer. Containers serve on loopback, against the PostgreSQL
and Redis the scale-out tests start, two of them behind nginx.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alphamatte.config import Settings, default_home
from alphamatte.server.loopback import free_port, serving, wait_ready
from tests.scaleout.topology import Replica, Topology
from tests.services import Postgres, Redis, missing

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT.parent / "shared" / "eval"
BASE = "localhost/alphamatte-base:bookworm"
IMAGE = "localhost/alphamatte:test"
USER = 10001  # the image's non-root user (Dockerfile)
PINNED = {"ALPHAMATTE_BACKEND": "onnxruntime", "ALPHAMATTE_CPU_PRECISION": "int8"}


def _buildah(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        ["buildah", *args], check=True, capture_output=True, text=True, timeout=timeout
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("buildah") is None or shutil.which("mmdebstrap") is None:
        missing("buildah and mmdebstrap (apt-get install buildah mmdebstrap)")
    if os.geteuid() != 0:
        pytest.skip("building images with buildah needs root here")
    listed = subprocess.run(["buildah", "images", "-q", BASE], capture_output=True, timeout=60)
    if listed.returncode != 0 or not listed.stdout.strip():  # "image not known" is an error
        with tempfile.TemporaryDirectory() as tmp:
            rootfs = Path(tmp) / "base.tar"
            packages = "--include=python3,python3-venv,ca-certificates"
            subprocess.run(
                ["mmdebstrap", "--variant=minbase", packages, "bookworm", str(rootfs)],
                check=True,
                capture_output=True,
                timeout=900,
            )
            container = _buildah("from", "scratch")
            _buildah("add", container, str(rootfs), "/", timeout=300)
            _buildah("commit", "-q", container, BASE, timeout=300)
            _buildah("rm", container)
    secrets = []
    for name, path in (
        ("pipconf", "/etc/pip.conf"),
        ("cacert", "/etc/ssl/certs/ca-certificates.crt"),
    ):
        if Path(path).is_file():
            secrets += ["--secret", f"id={name},src={path}"]
    for attempt in (1, 2):  # a registry that drops a connection once should not fail CI
        try:
            _buildah(
                "build", "--isolation", "chroot", "--network", "host", "--layers",
                "--format", "docker", "--build-arg", f"BASE={BASE}", *secrets,
                "-t", IMAGE, str(ROOT),
                timeout=1800,
            )  # fmt: skip
            break
        except subprocess.CalledProcessError as exc:
            if attempt == 2:
                raise AssertionError(f"the image did not build:\n{exc.stderr[-4000:]}") from exc
    return IMAGE


@dataclass
class Container:
    name: str
    replica: Replica
    log: Path

    def server_pid(self) -> int:
        """The server process inside (not buildah's): what `docker stop` would signal."""
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = b"serve" in args and str(self.replica.port).encode() in args
            if ours and args[0].endswith(b"python3"):
                return int(entry.name)
        raise LookupError("no server process")


def start(image: str, cache: Path, env: dict[str, str] | None = None) -> Container:
    """A container of ``image`` serving on a free loopback port, ``cache`` as its volume."""
    name = _buildah("from", image)
    port = free_port()
    log = cache.parent / f"{name}.log"
    command = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
    command += ["-v", f"{cache}:/var/lib/alphamatte"]
    for key, value in (env or {}).items():
        command += ["--env", f"{key}={value}"]
    command += [name, "--", "/opt/alphamatte/entrypoint.sh"]
    command += ["alphamatte", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    return Container(name, Replica(port, process), log)


def stop(container: Container) -> None:
    container.replica.stop()
    subprocess.run(["buildah", "rm", container.name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared volume: owned by the image's user, as a fresh named volume would be."""
    volume = tmp_path_factory.mktemp("container") / "cache"
    volume.mkdir()
    os.chown(volume, USER, USER)
    return volume


@pytest.fixture(scope="module")
def first_start(image: str, cache: Path) -> Iterator[Container]:
    container = start(image, cache)
    try:
        wait_ready(container.replica.url, timeout=600)
        yield container
    finally:
        stop(container)


def _choice(log: str) -> str:
    found = re.search(r"model \S+ on (\w+) \(CPU, (\w+)", log)
    assert found, log[-2000:]
    return f"{found.group(1)} {found.group(2)}"


def test_the_image_is_small_and_its_first_start_measures_the_machine(
    image: str, first_start: Container
) -> None:
    listed = json.loads(_buildah("images", "--json", image))[0]["size"]  # e.g. "1.39 GB"
    number, unit = listed.split()
    size = float(number) * {"kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
    print(f"image size {listed}")
    assert 0 < size <= 1.5e9
    log = first_start.log.read_text()
    assert "measured" in log  # `auto` timed the candidates on this CPU, inside the container
    print(f"container's auto pick: {_choice(log)}")


def test_a_second_start_on_the_shared_cache_does_not_measure_again(
    image: str, cache: Path, first_start: Container
) -> None:
    started = time.monotonic()
    second = start(image, cache)
    try:
        wait_ready(second.replica.url, timeout=300)
        print(f"second container ready in {time.monotonic() - started:.1f} s")
        log = second.log.read_text()
        assert "measured" not in log
        assert _choice(log) == _choice(first_start.log.read_text())
    finally:
        stop(second)


@dataclass
class Fleet:
    topology: Topology
    containers: list[Container]

    @property
    def url(self) -> str:
        return self.topology.url

    @property
    def database_url(self) -> str:
        return self.topology.database_url


@pytest.fixture(scope="module")
def replicas(
    image: str, cache: Path, first_start: Container, postgres: Postgres, redis_server: Redis
) -> Iterator[Fleet]:
    """Two containers on PostgreSQL and Redis behind nginx, the backend pinned (as a fleet of
    one CPU type would) so that a host server with the same pin writes the same bytes."""
    redis_server.flush()
    topology = Topology(cache, postgres.new_database(), redis_server.url)
    env = {"ALPHAMATTE_DATABASE_URL": topology.database_url, **PINNED}
    env["ALPHAMATTE_REDIS_URL"] = topology.redis_url
    containers = [start(image, cache, env) for _ in range(2)]
    try:
        for container in containers:
            wait_ready(container.replica.url, timeout=300)
        topology.replicas = [c.replica for c in containers]
        topology.start_nginx(topology.replicas)
        yield Fleet(topology, containers)
    finally:
        if topology.nginx is not None:
            topology.nginx.terminate()
            topology.nginx.wait(10)
        for container in containers:
            stop(container)


def _key(database_url: str) -> str:
    from alphamatte.server.accounting.keys import create_key
    from alphamatte.server.storage.database import make_engine

    engine = make_engine(database_url)
    try:
        _, raw = create_key(engine, credits=20, rate_limit="1000/minute")
    finally:
        engine.dispose()
    return raw


def _photo(name: str) -> bytes:
    found = sorted(EVAL.glob(f"*/images/{name}.*"))
    if not found:
        pytest.skip("../shared/eval is not present")
    return found[0].read_bytes()


def test_replicas_behind_nginx_serve_both_dialects_with_the_hosts_bytes(
    replicas: Fleet, tmp_path: Path
) -> None:
    photo = _photo("GT05")
    headers = {"X-API-Key": _key(replicas.database_url)}
    with httpx.Client(base_url=replicas.url, headers=headers, timeout=120) as nginx:
        matte = nginx.post("/v1.0/alpha-channel", files={"file": ("GT05.png", photo)})
        assert matte.status_code == 200, matte.text
        preview = nginx.post(
            "/v1.0/removebg", data={"size": "preview"}, files={"image_file": ("GT05.png", photo)}
        )
    assert preview.status_code == 200 and preview.headers["X-Credits-Charged"] == "0.25"
    # The same request to a server on the host, same pin: the same bytes.
    (tmp_path / "models").symlink_to(default_home() / "models")
    host = Settings(home=tmp_path, backend="onnxruntime", cpu_precision="int8")
    with serving(host) as live:
        here = httpx.post(
            f"{live.url}/v1.0/alpha-channel",
            headers={"X-API-Key": live.new_key(credits=1)},
            files={"file": ("GT05.png", photo)},
            timeout=120,
        )
    assert hashlib.sha256(here.content).digest() == hashlib.sha256(matte.content).digest()


def test_sigterm_lets_the_request_in_flight_finish(replicas: Fleet) -> None:
    key = _key(replicas.database_url)
    photo = _photo("cat_01")  # a large photo: a cutout that takes a few seconds
    container = replicas.containers[0]
    answer: list[httpx.Response] = []

    def send() -> None:
        answer.append(
            httpx.post(
                f"{container.replica.url}/v1.0/image-without-background",
                headers={"X-API-Key": key},
                files={"file": ("cat.jpg", photo)},
                timeout=120,
            )
        )

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.0)  # uploaded and in the model by now
    os.kill(container.server_pid(), signal.SIGTERM)  # what `docker stop` sends
    sender.join(120)
    assert answer and answer[0].status_code == 200, answer
    assert container.replica.process.wait(60) is not None  # and then the container exits
