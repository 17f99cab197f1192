"""Top-ups reactivate expired credits; every credit movement is on the ledger (both backends)."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from alphamatte.cli.main import cli
from alphamatte.config import Settings
from alphamatte.server.accounting.credits import charged_total, refund, reserve
from alphamatte.server.accounting.keys import (
    PastExpiryError,
    authenticate,
    next_expiry,
    top_up,
)
from alphamatte.server.accounting.ledger import entries, totals
from alphamatte.server.app import reap
from alphamatte.server.storage.schema import api_keys, usage
from tests.server.live import LiveServer, running
from tests.server.test_money_and_admin import ADMIN, balance, matte

NOW = datetime(2026, 6, 1, 12, 0, 0)
DAY = timedelta(days=1)


def key_id(live: LiveServer, raw: str) -> int:
    found = authenticate(live.state.db, raw)
    assert found is not None
    return found.id


def assert_ledger_explains_every_balance(live: LiveServer) -> None:
    with live.state.db.connect() as conn:
        ids = [row[0] for row in conn.execute(select(api_keys.c.id))]
    for each in ids:
        found = totals(live.state.db, each)
        assert found is not None
        balance_now, ledger_sum = found
        assert balance_now == ledger_sum, f"key {each}: balance {balance_now} != {ledger_sum}"


# -- the expiry rule ----------------------------------------------------------------------


def test_expired_credits_take_the_requested_date_else_the_validity_else_none() -> None:
    expired = NOW - 30 * DAY
    assert next_expiry(expired, NOW + 5 * DAY, 90 * DAY, NOW) == NOW + 5 * DAY
    assert next_expiry(expired, None, 90 * DAY, NOW) == NOW + 90 * DAY
    assert next_expiry(expired, None, None, NOW) is None


def test_a_top_up_never_shortens_a_later_expiry() -> None:
    later = NOW + 100 * DAY
    assert next_expiry(later, NOW + 5 * DAY, None, NOW) == later
    assert next_expiry(later, None, 30 * DAY, NOW) == later
    assert next_expiry(later, None, None, NOW) == later
    assert next_expiry(later, NOW + 200 * DAY, None, NOW) == NOW + 200 * DAY
    assert next_expiry(None, NOW + 5 * DAY, 30 * DAY, NOW) is None  # never expiring is latest


# -- the promise of the 403 ---------------------------------------------------------------


def test_a_top_up_reactivates_expired_credits(live: LiveServer) -> None:
    raw = live.new_key(credits=5, expires_at=datetime(2020, 1, 1))
    refused = matte(live, raw)
    assert refused.status_code == 403 and "expired" in refused.json()["detail"].lower()
    assert balance(live, raw) == 5

    top_up(live.state.db, key_id(live, raw), 10)
    again = matte(live, raw)
    assert again.status_code == 200 and again.headers["X-Credits-Charged"] == "1"
    credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": raw}).json()
    assert credit == {"credit": 14, "expiration_date": None}
    assert charged_total(live.state.db, key_id(live, raw)) == 1
    assert_ledger_explains_every_balance(live)


def test_a_zero_credit_top_up_with_a_date_only_moves_the_date(live: LiveServer) -> None:
    raw = live.new_key(credits=3, expires_at=datetime(2020, 1, 1))
    assert matte(live, raw).status_code == 403
    new_date = (datetime.now() + 30 * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    key = top_up(live.state.db, key_id(live, raw), 0, expires_at=new_date)
    assert key is not None and key.credits == 3 and key.expires_at == new_date
    assert matte(live, raw).status_code == 200
    credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": raw}).json()
    assert credit == {"credit": 2, "expiration_date": new_date.strftime("%Y-%m-%d %H:%M:%S")}
    kinds = [row.kind for row in entries(live.state.db, key_id(live, raw))]
    assert kinds == ["grant", "expiry", "charge"]


def test_an_expiry_in_the_past_is_refused(live: LiveServer) -> None:
    raw = live.new_key(credits=1)
    with pytest.raises(PastExpiryError):
        top_up(live.state.db, key_id(live, raw), 5, expires_at=datetime(2021, 1, 1))
    assert balance(live, raw) == 1


# -- the ledger ---------------------------------------------------------------------------


def test_refunds_and_the_reaper_are_on_the_ledger(live: LiveServer) -> None:
    raw = live.new_key(credits=4)
    ident = key_id(live, raw)
    assert matte(live, raw).status_code == 200
    reserve(live.state.db, ident, "failed-request", "/v1.0/alpha-channel")
    refund(live.state.db, "failed-request")
    reserve(live.state.db, ident, "dead-request", "/v1.0/alpha-channel")
    with live.state.db.begin() as conn:  # its process died 20 minutes ago
        conn.execute(
            update(usage)
            .where(usage.c.request_id == "dead-request")
            .values(created_at=datetime.now() - timedelta(minutes=20))
        )
    reap(live.state)
    rows = entries(live.state.db, ident)
    summary = [(r.kind, r.credits, r.state, r.actor) for r in rows]
    assert summary == [
        ("grant", 4, "posted", "cli"),
        ("charge", -1, "charged", "server"),
        ("charge", -1, "refunded", "server"),
        ("refund", 1, "posted", "server"),
        ("charge", -1, "refunded", "server"),
        ("refund", 1, "posted", "reaper"),
    ]
    assert balance(live, raw) == 3
    assert_ledger_explains_every_balance(live)


def test_top_ups_racing_requests_never_lose_or_double_a_credit(live: LiveServer) -> None:
    raw = live.new_key(credits=5)
    ident = key_id(live, raw)
    codes: list[int] = []
    lock = threading.Lock()

    def spend() -> None:
        for _ in range(6):
            code = matte(live, raw).status_code
            with lock:
                codes.append(code)

    def add() -> None:
        for _ in range(5):
            top_up(live.state.db, ident, 2)
            threading.Event().wait(random.uniform(0, 0.02))

    threads = [threading.Thread(target=spend) for _ in range(6)]
    threads += [threading.Thread(target=add) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(codes) <= {200, 402}, codes
    served = codes.count(200)
    assert served >= 5
    assert balance(live, raw) == 5 + 2 * 5 * 2 - served >= 0
    assert charged_total(live.state.db, ident) == served
    assert_ledger_explains_every_balance(live)


# -- the operator's tools -----------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_live(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    settings = Settings(
        home=tmp_path_factory.mktemp("ledger-admin"),
        admin_token=ADMIN["Authorization"].split()[1],
        credit_validity_days=30,
    )
    with running(settings) as server:
        yield server  # type: ignore[misc]


def test_admin_top_up_reactivates_and_the_ledger_pages(admin_live: LiveServer) -> None:
    url = admin_live.url
    created = httpx.post(
        f"{url}/admin/keys",
        headers=ADMIN,
        json={"credits": 2, "expires_at": "2020-01-01T00:00:00", "name": "old"},
    ).json()
    raw, ident = created["key"], created["id"]
    assert matte(admin_live, raw).status_code == 403

    topped = httpx.post(f"{url}/admin/keys/{ident}/topup", headers=ADMIN, json={"credits": 3})
    assert topped.status_code == 200
    expires = datetime.fromisoformat(topped.json()["expires_at"])
    assert abs(expires - (datetime.now() + 30 * DAY)) < timedelta(minutes=1)  # the validity
    for _ in range(3):
        assert matte(admin_live, raw).status_code == 200

    past = httpx.post(
        f"{url}/admin/keys/{ident}/topup", headers=ADMIN, json={"expires": "2021-01-01"}
    )
    assert past.status_code == 422 and "passed" in past.json()["detail"]
    empty = httpx.post(f"{url}/admin/keys/{ident}/topup", headers=ADMIN, json={"credits": 0})
    assert empty.status_code == 400

    pages: list[dict[str, object]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{url}/admin/keys/{ident}/ledger",
            headers=ADMIN,
            params={"after": after, "limit": 2},
        ).json()
        assert page["balance"] == page["ledger_sum"] == 2
        pages.extend(page["entries"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert [(e["kind"], e["credits"], e["actor"]) for e in pages] == [
        ("grant", 2, "admin-api"),
        ("topup", 3, "admin-api"),
        ("charge", -1, "server"),
        ("charge", -1, "server"),
        ("charge", -1, "server"),
    ]
    assert pages[2]["endpoint"] == "/v1.0/alpha-channel-base64"
    fresh = httpx.post(f"{url}/admin/keys", headers=ADMIN, json={"credits": 1}).json()
    fresh_expiry = datetime.fromisoformat(fresh["expires_at"])
    assert abs(fresh_expiry - (datetime.now() + 30 * DAY)) < timedelta(minutes=1)
    missing = httpx.get(f"{url}/admin/keys/99999/ledger", headers=ADMIN)
    assert missing.status_code == 404
    assert httpx.get(f"{url}/admin/keys/{ident}/ledger").status_code == 401


def test_cli_topup_reactivates_and_usage_shows_the_history(tmp_path: Path) -> None:
    env = {"ALPHAMATTE_HOME": str(tmp_path)}
    runner = CliRunner()
    created = runner.invoke(
        cli, ["keys", "create", "--credits", "5", "--expires", "2020-01-01"], env=env
    )
    assert created.exit_code == 0, created.output
    raw = created.stdout.strip().splitlines()[-1]
    with running(Settings(home=tmp_path)) as live:
        ident = key_id(live, raw)
        assert matte(live, raw).status_code == 403

        later = (datetime.now() + 60 * DAY).strftime("%Y-%m-%d")
        topped = runner.invoke(
            cli, ["keys", "topup", str(ident), "10", "--expires", later], env=env
        )
        assert topped.exit_code == 0, topped.output
        assert f"credits=15 expires={later} 00:00:00" in topped.output

        served = matte(live, raw)
        assert served.status_code == 200 and served.headers["X-Credits-Charged"] == "1"
        credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": raw}).json()
        assert credit == {"credit": 14, "expiration_date": f"{later} 00:00:00"}

    usage = runner.invoke(cli, ["keys", "usage", str(ident)], env=env)
    assert usage.exit_code == 0, usage.output
    lines = usage.output.strip().splitlines()
    assert [line.split("\t")[2:4] for line in lines[1:-1]] == [
        ["grant", "+5"],
        ["topup", "+10"],
        ["charge", "-1"],
    ]
    assert lines[-1] == "balance=14 ledger_sum=14"
    listed = runner.invoke(cli, ["keys", "list"], env=env)
    assert "credits=14" in listed.output and "live" in listed.output

    nothing = runner.invoke(cli, ["keys", "topup", str(ident), "0"], env=env)
    assert nothing.exit_code == 2 and "--expires" in nothing.output
    past = runner.invoke(
        cli, ["keys", "topup", str(ident), "1", "--expires", "2021-01-01"], env=env
    )
    assert past.exit_code == 2 and "passed" in past.output
    after = runner.invoke(cli, ["keys", "usage", str(ident)], env=env)
    assert after.output.strip().splitlines()[-1] == "balance=14 ledger_sum=14"


def test_expiry_dates_with_a_time_zone_are_understood(admin_live: LiveServer) -> None:
    url = admin_live.url
    created = httpx.post(
        f"{url}/admin/keys",
        headers=ADMIN,
        json={"credits": 1, "expires_at": "2020-01-01T00:00:00+05:00"},
    )
    assert created.status_code == 201
    raw, ident = created.json()["key"], created.json()["id"]
    assert matte(admin_live, raw).status_code == 403
    topped = httpx.post(
        f"{url}/admin/keys/{ident}/topup",
        headers=ADMIN,
        json={"credits": 1, "expires": "2999-01-01T00:00:00Z"},
    )
    assert topped.status_code == 200, topped.text
    assert matte(admin_live, raw).status_code == 200


def test_an_expiry_with_no_local_time_is_refused_as_input(admin_live: LiveServer) -> None:
    # Year 1 at a positive offset falls before the first representable local time: a bad
    # request like any other (it was a 500 once), and nothing is created or changed.
    url, past = admin_live.url, "0001-01-01T00:00:00+00:01"
    before = httpx.get(f"{url}/admin/keys", headers=ADMIN).json()
    created = httpx.post(f"{url}/admin/keys", headers=ADMIN, json={"expires_at": past})
    assert (created.status_code, created.json()) == (400, {"detail": "Invalid request."})
    assert httpx.get(f"{url}/admin/keys", headers=ADMIN).json() == before
    raw = admin_live.new_key(credits=1)
    ident = key_id(admin_live, raw)
    topped = httpx.post(
        f"{url}/admin/keys/{ident}/topup", headers=ADMIN, json={"credits": 1, "expires": past}
    )
    assert (topped.status_code, topped.json()) == (400, {"detail": "Invalid request."})
    assert balance(admin_live, raw) == 1
