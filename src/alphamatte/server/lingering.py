"""Closing a connection so that the client reads the answer: a lingering close.

An early refusal (a bad key, a rate limit, a body declared too large) is sent with
``Connection: close`` before the request's body has been read. Closing a socket while the
client is still sending makes the kernel answer with a reset, and a reset makes the client
drop the answer it already received: python-requests, which sends the whole body before it
reads anything, reported ``Broken pipe`` instead of our 403 once the server closed under it.

So a closing connection first ends its sending side (the client sees the whole answer, then
end of stream), then reads and discards what the client still sends:

- **what it declared**: a ``Content-Length`` body is drained to its last byte, at most
  :attr:`Linger.max_bytes` (twice the largest body the server accepts, so a client told 413
  for a body somewhat over the limit still reads it); a client that sends more than it
  declared is cut off at once; a chunked body, whose length is unknown, until the client ends
  its side or the whole body reaches the largest the server accepts;
- **while it keeps sending**: :attr:`Linger.idle_s` without a byte ends the drain (a client
  that stalls is cut off), and no drain lasts longer than :attr:`Linger.total_s` (the server's
  body timeout: a body that could not have been uploaded is not drained either);
- **a few at a time**: at most :attr:`Linger.connections` connections of a process drain a
  declared body at once; the others get the short drain (:data:`SHORT_S`, :data:`SHORT_BYTES`)
  that a client which reads while it sends needs, so an attacker holding many connections open
  makes the server read at most ``connections × max_bytes`` for nothing at a time, and only as
  fast as it sends (nothing read is kept).

A client that sends ``Expect: 100-continue`` is answered without the ``100`` (uvicorn writes
it only when the application first reads the body), so it sends nothing.

uvicorn has no such option; this wraps its own HTTP protocol (httptools or h11, whichever it
picks) around a transport whose ``close`` lingers. ``alphamatte serve`` and the loopback test
server both run it, configured from the settings by :func:`lingering_protocol`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from alphamatte.config import Settings
from alphamatte.server.body import MARGIN, base64_body_limit

SHORT_S = 2.0  # the drain of a connection past the concurrent limit, or with nothing declared
SHORT_BYTES = 1024 * 1024
# A request's head (request line and headers) may be at most this large and have at most this
# many headers, else 431 and the connection is closed: neither uvicorn nor httptools bounds
# them, and a 50 MB header was held in memory whole. nginx's default is 4 x 8 KB buffers.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100


@dataclass(frozen=True)
class Linger:
    """How long and how much a closing connection drains (see the module doc)."""

    max_bytes: int = 64 * 1024 * 1024
    idle_s: float = 5.0
    total_s: float = 60.0
    connections: int = 32


class _Draining:
    """How many connections of this process are draining a declared body now."""

    count = 0


class LingeringTransport:
    """A transport whose :meth:`close` ends the sending side first (see the module doc)."""

    def __init__(
        self, transport: asyncio.Transport, linger: Linger, undelivered: Callable[[], int | None]
    ) -> None:
        self._transport = transport
        self._linger = linger
        self._undelivered = undelivered
        self.lingering = False
        self.drained = 0
        self.allowed = 0  # bytes the client may still send before it is cut off
        self._long = False
        self._idle: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        """Called by uvicorn to end the connection: end the sending side, then drain what the
        current request still declares (unknown for a chunked body: until the client ends)."""
        transport = self._transport
        if self.lingering or transport.is_closing() or not transport.can_write_eof():
            self.finish()
            return
        remaining = self._undelivered()
        self.lingering = True
        linger = self._linger
        wanted = linger.max_bytes if remaining is None else min(remaining, linger.max_bytes)
        if wanted > SHORT_BYTES and _Draining.count < linger.connections:
            _Draining.count += 1
            self._long = True
            self.allowed, total_s = wanted, linger.total_s
        else:
            self.allowed, total_s = min(wanted, SHORT_BYTES), SHORT_S
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(total_s, self.finish)
        self._idle = loop.call_later(min(linger.idle_s, total_s), self.finish)
        transport.write_eof()  # after what is buffered: the answer, then end of stream
        transport.resume_reading()  # drain what the client still sends (and drop it)

    def received(self, size: int) -> None:
        """``size`` bytes arrived while lingering: dropped; cut off past what was declared."""
        self.drained += size
        if self.drained >= self.allowed:  # all it declared arrived, or more: nothing to wait for
            self.finish()
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = asyncio.get_running_loop().call_later(self._linger.idle_s, self.finish)

    def finish(self) -> None:
        """Close for good: the drain is over (or there was none to do)."""
        for timer in (self._idle, self._deadline):
            if timer is not None:
                timer.cancel()
        self._idle = self._deadline = None
        if self._long:
            self._long = False
            _Draining.count -= 1
        self._transport.close()


class LingeringHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol over a :class:`LingeringTransport`."""

    def __init__(self, *args: Any, linger: Linger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.linger = linger or Linger()

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._lingering = LingeringTransport(transport, self.linger, self._undelivered)
        self._body_seen = 0
        self._headers = 0
        self._in_head, self._head_bytes = True, 0
        super().connection_made(self._lingering)

    def _undelivered(self) -> int | None:
        """Body bytes the current request declared and the server has not received yet. A
        chunked body's length is not known: it may go on to the largest body the server
        accepts (half the drain's cap), counted from its first byte."""
        scope = getattr(self, "scope", None)
        if not scope:
            return 0
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"transfer-encoding":
                return max(0, self.linger.max_bytes // 2 - self._body_seen)
            if name == b"content-length" and value.strip().isdigit():
                length = int(value)
        return 0 if length is None else max(0, length - self._body_seen)

    # httptools' callbacks: count the body received so far (h11 has no such hook; there the
    # whole declared length is allowed, a little more than the exact rest), and the head's
    # headers (h11 bounds a head itself: uvicorn's h11_max_incomplete_event_size).
    def on_message_begin(self) -> None:
        self._body_seen = 0
        self._headers = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._headers <= MAX_HEADERS:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_seen += len(body)
        if self._headers <= MAX_HEADERS:  # else the request never started: 431 follows
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0  # the next request's head starts
        if self._headers <= MAX_HEADERS:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        lingering = self._lingering
        if lingering.lingering:
            lingering.received(len(data))  # after the answer, the rest is dropped
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        too_many = self._headers > MAX_HEADERS
        if (self._in_head and self._head_bytes > MAX_HEAD_BYTES) or too_many:
            self._refuse_head(too_many)

    def _refuse_head(self, too_many: bool) -> None:
        """431, written here: no application ever sees such a request."""
        if self._lingering.is_closing():
            return
        what = f"more than {MAX_HEADERS} headers" if too_many else "a head over 64 KiB"
        body = f'{{"detail":"Request header fields too large: {what}."}}'.encode()
        self._lingering.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self._in_head = False
        self._lingering.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering.lingering:
            self._lingering.finish()  # frees its place among the draining connections
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        if self._lingering.lingering:
            self._lingering.finish()  # the client is done too
            return None
        result: bool | None = super().eof_received()
        return result


def lingering_protocol(settings: Settings) -> Any:
    """The protocol class for uvicorn's ``http=``, draining up to twice the largest body the
    server accepts, for as long as a body may take to arrive."""
    largest = base64_body_limit(max(settings.max_input_bytes, settings.removebg_max_input_bytes))
    linger = Linger(max_bytes=2 * (largest + MARGIN), total_s=settings.body_timeout_s)
    # A partial, not a new class: uvicorn pickles it into each worker process.
    return functools.partial(LingeringHTTPProtocol, linger=linger)
