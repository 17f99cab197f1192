"""API keys: random, shown once, stored only as a hash, looked up in constant work."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache
from sqlalchemy import Engine, bindparam, insert, select, update

from alphamatte.server.accounting.amounts import Credits, from_milli, to_milli
from alphamatte.server.accounting.ledger import Actor, Kind, post
from alphamatte.server.storage.schema import api_keys

KEY_PREFIX = "am_"
_TOKEN_BYTES = 24  # 192 bits of randomness


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    milli: int  # the balance in thousandths of a credit (accounting.amounts)
    expires_at: datetime | None
    rate_limit: str | None
    revoked: bool
    created_at: datetime
    removebg_rate_limit: str | None = None  # megapixels per window on remove.bg's endpoints
    default_model: str | None = None  # None: the server's default model
    allowed_models: tuple[str, ...] | None = None  # None: every model the server serves

    @property
    def credits(self) -> Credits:
        return from_milli(self.milli)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def _row_to_key(row: object) -> ApiKey:
    mapping = row._mapping  # type: ignore[attr-defined]
    return ApiKey(
        id=mapping["id"],
        name=mapping["name"],
        prefix=mapping["prefix"],
        milli=int(mapping["credits"]),
        expires_at=mapping["expires_at"],
        rate_limit=mapping["rate_limit"],
        revoked=bool(mapping["revoked"]),
        created_at=mapping["created_at"],
        removebg_rate_limit=mapping["removebg_rate_limit"],
        default_model=mapping["default_model"],
        allowed_models=split_models(mapping["allowed_models"]),
    )


def split_models(text: str | None) -> tuple[str, ...] | None:
    """A key's stored allow-list ("a,b") as names; None (or empty) allows every model."""
    if not text:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip()) or None


def create_key(
    engine: Engine,
    *,
    name: str = "",
    credits: int = 0,
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
    removebg_rate_limit: str | None = None,
    default_model: str | None = None,
    allowed_models: tuple[str, ...] | None = None,
    validity: timedelta | None = None,
    actor: Actor = Actor.CLI,
) -> tuple[ApiKey, str]:
    """Store a new key; return it with the raw secret, which is never stored or shown again.

    The credits it starts with are a "grant" on the ledger. Without ``expires_at`` they expire
    ``validity`` from now (ALPHAMATTE_CREDIT_VALIDITY_DAYS), if given, like a top-up's.
    """
    raw = new_raw_key()
    now = datetime.now().replace(microsecond=0)
    expires_at = local_naive(expires_at)
    if expires_at is None and validity is not None and credits > 0:
        expires_at = now + validity
    with engine.begin() as conn:
        result = conn.execute(
            insert(api_keys).values(
                name=name,
                prefix=raw[:10],
                key_hash=hash_key(raw),
                credits=to_milli(credits),
                expires_at=expires_at,
                rate_limit=rate_limit,
                removebg_rate_limit=removebg_rate_limit,
                default_model=default_model,
                allowed_models=",".join(allowed_models) if allowed_models else None,
                revoked=False,
                created_at=now,
            )
        )
        primary_key = result.inserted_primary_key
        assert primary_key is not None
        key_id = int(primary_key[0])
        post(conn, key_id, Kind.GRANT, to_milli(credits), actor, expires_at=expires_at, now=now)
    key = get_key(engine, key_id)
    assert key is not None
    return key, raw


_DUMMY_HASH = hash_key(new_raw_key())


_BY_HASH = select(api_keys).where(api_keys.c.key_hash == bindparam("candidate"))  # built once


def authenticate(engine: Engine, raw: str | None) -> ApiKey | None:
    """The live key for ``raw``, or None. Unknown, empty and revoked keys cost the same work."""
    candidate = hash_key(raw or "")
    with engine.connect() as conn:
        row = conn.execute(_BY_HASH, {"candidate": candidate}).first()
    stored = str(row._mapping["key_hash"]) if row is not None else _DUMMY_HASH
    # The index lookup is on a hash of the secret, so it reveals nothing about the key; the
    # constant-time comparison guards the final decision all the same.
    matched = hmac.compare_digest(stored, candidate)
    if row is None or not matched or not raw:
        return None
    key = _row_to_key(row)
    return None if key.revoked else key


class RecentKeys:
    """Keys that authenticated in the last ``ttl_s`` seconds, by the hash of their secret.

    The image endpoints use a key's id and rate limit only, and their reservation re-checks
    revocation, expiry and balance in its own transaction; trusting a recent lookup saves them
    a database read and a hop to a thread (~0.6 ms of CPU a request on a 2-core EPYC). Whatever
    reads the balance (/available-credit) authenticates afresh. Used from the event loop only.
    """

    def __init__(self, ttl_s: float, max_keys: int = 10_000) -> None:
        self._keys: TTLCache[str, ApiKey] | None = (
            TTLCache(maxsize=max_keys, ttl=ttl_s) if ttl_s > 0 else None
        )

    def get(self, raw: str | None) -> ApiKey | None:
        if self._keys is None or not raw:
            return None
        return self._keys.get(hash_key(raw))

    def put(self, raw: str, key: ApiKey) -> None:
        if self._keys is not None:
            self._keys[hash_key(raw)] = key

    def forget_all(self) -> None:
        """After a revocation in this process: it takes effect at once."""
        if self._keys is not None:
            self._keys.clear()


def get_key(engine: Engine, key_id: int) -> ApiKey | None:
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    return _row_to_key(row) if row is not None else None


def list_keys(engine: Engine) -> list[ApiKey]:
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).fetchall()
    return [_row_to_key(row) for row in rows]


def local_naive(moment: datetime | None) -> datetime | None:
    """Times are stored as naive local time (the server's ``datetime.now()``); an aware time
    from a client is converted to it first, so comparisons never mix the two."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


class PastExpiryError(ValueError):
    """An expiry date that has already passed was asked for."""


def next_expiry(
    current: datetime | None, requested: datetime | None, validity: timedelta | None, now: datetime
) -> datetime | None:
    """The expiry after a top-up, by the rule the 403 message promises.

    Credits that have expired are reactivated: they take the date asked for, else ``validity``
    from now, else no expiry at all. Credits still live keep their date unless a later one is
    asked for: a top-up never shortens an expiry, and no expiry (``None``) is the latest.
    """
    wanted = requested if requested is not None else (now + validity if validity else None)
    if current is None:
        return None
    if current <= now:
        return wanted
    if wanted is None:
        return current
    return max(current, wanted)


def top_up(
    engine: Engine,
    key_id: int,
    credits: int,
    *,
    expires_at: datetime | None = None,
    validity: timedelta | None = None,
    actor: Actor = Actor.CLI,
) -> ApiKey | None:
    """Add credits and move the expiry (see ``next_expiry``) in one transaction, on the ledger.

    The balance is changed in the database (never read-modify-write in Python), and the key's
    row is locked while the expiry is decided, so concurrent reservations and top-ups neither
    lose nor double a credit. ``credits`` may be 0 to move the expiry alone.
    """
    now = datetime.now().replace(microsecond=0)
    expires_at = local_naive(expires_at)
    if expires_at is not None and expires_at <= now:
        raise PastExpiryError(f"The expiry {expires_at:%Y-%m-%d %H:%M:%S} has already passed.")
    with engine.begin() as conn:
        current = conn.execute(
            select(api_keys.c.expires_at).where(api_keys.c.id == key_id).with_for_update()
        ).first()
        if current is None:
            return None
        new_expiry = next_expiry(current[0], expires_at, validity, now)
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(credits=api_keys.c.credits + to_milli(credits), expires_at=new_expiry)
        )
        if credits or new_expiry != current[0]:
            kind = Kind.TOPUP if credits else Kind.EXPIRY
            post(conn, key_id, kind, to_milli(credits), actor, expires_at=new_expiry, now=now)
    return get_key(engine, key_id)


def revoke(engine: Engine, key_id: int) -> bool:
    with engine.begin() as conn:
        result = conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked=True))
    return result.rowcount == 1


def set_models(
    engine: Engine,
    key_id: int,
    *,
    default_model: str | None,
    allowed_models: tuple[str, ...] | None,
) -> ApiKey | None:
    """Set a key's default model and allow-list (None: the server's default / every model)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(
                default_model=default_model,
                allowed_models=",".join(allowed_models) if allowed_models else None,
            )
        )
    return get_key(engine, key_id) if done.rowcount == 1 else None
