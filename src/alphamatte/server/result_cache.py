"""Finished PNGs keyed by a hash of the uploaded bytes: the same photo again costs no inference.

One process keeps a byte-bounded LRU in memory; with ``ALPHAMATTE_REDIS_URL`` the replicas share
one cache in Redis with a time-to-live. A hit is still charged: the API promises one result per
call, and the cache only makes it faster. The key covers everything that changes the output
(product, model, quality, max side, pixel limit), so a settings change never serves a stale
answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Protocol

from alphamatte.config import Settings

log = logging.getLogger("alphamatte.cache")
CACHE_VERSION = "v1"  # bump when the pipeline's output changes for the same settings


class ResultCache(Protocol):
    blocking: bool  # True when a lookup is network I/O and belongs off the event loop
    enabled: bool  # False: skip hashing the upload altogether

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


def result_key(settings: Settings, product: str, digest: str, model: str | None = None) -> str:
    """The cache key for an upload whose sha256 hex digest is ``digest``, made by ``model``
    (unset: the settings' model)."""
    parts = (
        CACHE_VERSION,
        product,
        model or settings.model,
        settings.quality,
        str(settings.max_side),
        str(settings.max_pixels),
        digest,
    )
    return "alphamatte:result:" + ":".join(parts)


class MemoryResultCache:
    """Least-recently-used entries go first once the stored bytes pass ``max_bytes``."""

    blocking = False
    enabled = True

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._entries[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)


class RedisResultCache:
    """Shared between replicas. A Redis outage turns the cache off, never a request into a 500."""

    blocking = True
    enabled = True

    def __init__(self, url: str, ttl_seconds: int, max_entry_bytes: int) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._ttl = ttl_seconds
        self._max_entry = max_entry_bytes

    def get(self, key: str) -> bytes | None:
        try:
            value = self._redis.get(key)
        except Exception as exc:  # redis.RedisError and socket errors alike
            log.warning("result cache unavailable: %s", exc)
            return None
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self._max_entry:
            return
        try:
            self._redis.set(key, value, ex=self._ttl)
        except Exception as exc:
            log.warning("result cache unavailable: %s", exc)


class NoResultCache:
    blocking = False
    enabled = False

    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, value: bytes) -> None:
        return None


def make_result_cache(settings: Settings) -> ResultCache:
    budget = settings.result_cache_mb * 1024 * 1024
    if budget <= 0:
        return NoResultCache()
    if settings.redis_url:
        return RedisResultCache(settings.redis_url, settings.result_cache_ttl_s, budget // 8)
    return MemoryResultCache(budget)
