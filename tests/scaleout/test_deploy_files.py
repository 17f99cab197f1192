"""The operator files: the compose topology, nginx config and Dockerfile agree with the code.

Docker cannot run on these machines; the same topology runs natively in test_replicas.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from alphamatte.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def test_compose_runs_replicas_behind_nginx_on_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "nginx"}
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2
    env = api["environment"]
    assert env["ALPHAMATTE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["ALPHAMATTE_DATABASE_URL"]
    assert env["ALPHAMATTE_REDIS_URL"].startswith("redis://redis:")
    assert set(api["depends_on"]) == {"migrate", "postgres", "redis"}
    assert "8080:80" in services["nginx"]["ports"]


def test_compose_migrates_once_before_the_replicas_start() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["alphamatte", "db", "upgrade"]
    assert migrate.get("deploy", {}).get("replicas", 1) == 1
    url = services["api"]["environment"]["ALPHAMATTE_DATABASE_URL"]
    assert migrate["environment"]["ALPHAMATTE_DATABASE_URL"] == url
    assert services["api"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_every_setting_in_compose_exists() -> None:
    fields = {f"ALPHAMATTE_{name.upper()}" for name in Settings.model_fields}
    env = compose()["services"]["api"]["environment"]
    assert set(env) <= fields, set(env) - fields


def test_nginx_proxies_to_the_api_and_lets_a_full_size_upload_through() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server api:8000" in conf and "proxy_pass http://alphamatte;" in conf
    limit = re.search(r"client_max_body_size\s+(\d+)m;", conf)
    assert limit is not None
    base64_of_10_mb = 10 * 1024 * 1024 * 4 / 3 / 1024 / 1024
    assert int(limit.group(1)) > base64_of_10_mb
    assert "X-Forwarded-For" in conf


def test_dockerfile_bakes_the_model_in_and_serves() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "alphamatte model fetch" in text
    assert re.search(r"^USER (?!root)", text, re.M)  # not as root
    assert '"alphamatte", "serve"' in text and "0.0.0.0" in text
    assert "/ready" in text
    assert "ARG EXTRAS=server,openvino" in text  # the server and the runtimes `auto` measures
