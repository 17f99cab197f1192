"""The in-process rate-limit window: same answers as limits' memory storage, no thread churn."""

from __future__ import annotations

import threading
import time

from alphamatte.server.ratelimit import InProcessStorage, RateLimiter


def test_spaced_hits_start_no_threads_and_the_limit_still_holds() -> None:
    limiter = RateLimiter("5/second")
    time.sleep(0.05)  # the storage's constructor starts one timer of its own
    before = threading.active_count()
    allowed, threads = [], []
    for _ in range(8):
        allowed.append(limiter.hit(1, None).allowed)
        threads.append(threading.active_count())
        time.sleep(0.015)  # longer than the stock storage's 10 ms expiry timer
    # The stock storage starts a timer thread on every one of these hits.
    assert max(threads) <= before, threads
    assert allowed[:5] == [True] * 5 and allowed[5:] == [False] * 3
    time.sleep(1.05)
    assert limiter.hit(1, None).allowed  # the window moved on


def test_expire_drops_entries_once_their_window_has_passed() -> None:
    limiter = RateLimiter("100/second")
    for key_id in range(3):
        limiter.hit(key_id, None)
    storage = limiter._in_process
    assert isinstance(storage, InProcessStorage)
    assert len(storage.events) == 3
    limiter.expire()
    assert len(storage.events) == 3  # still inside their window
    time.sleep(1.05)
    limiter.expire()
    assert storage.events == {}
