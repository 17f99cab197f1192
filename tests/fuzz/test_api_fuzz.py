"""Schemathesis against our own OpenAPI schema, on a real server: zero 5xx, errors as JSON in
each endpoint's dialect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from alphamatte.config import Settings
from alphamatte.server.errors import REMOVEBG_PATHS
from tests.server.live import LiveServer, running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(
        home=home,
        max_pixels=4_000_000,
        queue_size=64,
        admin_token="fuzz-admin",
        auth_failure_limit="100000/minute",
    )
    with running(settings_) as server:
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_makes_a_server_error(fuzz_server: LiveServer, mode: GenerationMode) -> None:
    """Every operation, with schema-valid (positive) and schema-breaking (negative) inputs:
    wrong types, missing fields, odd headers and paths, huge numbers, hostile strings."""
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    api_key = fuzz_server.new_key(credits=1_000_000, rate_limit="1000000/minute")
    headers = {"X-API-Key": api_key, "Authorization": "Bearer fuzz-admin"}
    seen: set[int] = set()

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=fuzz_server.url, headers=headers, timeout=60)
        seen.add(response.status_code)
        assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
        if response.status_code >= 400:
            body = response.json()
            if case.path in REMOVEBG_PATHS:  # remove.bg's dialect
                (error,) = body["errors"]
                assert error["code"] and isinstance(error["detail"], str) and error["detail"]
            else:
                assert isinstance(body.get("detail"), str) and body["detail"]

    call()
    print(f"{mode.value}: statuses seen {sorted(seen)}")
    assert seen and max(seen) < 500
