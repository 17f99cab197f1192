"""Closing a connection so that the client reads the answer: a lingering close.

An early refusal (a bad key, a rate limit) is sent with ``Connection: close`` before the
request's body has been read. Closing a socket with unread bytes in its receive buffer makes
the kernel send a reset instead of an orderly end, and a reset can make the client drop the
answer it already received: remove.bg's npm client, piping a large file, reported
``ECONNRESET`` instead of our 403. So, as web servers do, a closing connection first ends its
sending side (the client sees the whole answer, then end of stream), then reads and discards
whatever the client still sends until it closes too, for at most :data:`LINGER_S` and
:data:`LINGER_BYTES` (a client that keeps pouring its upload in without reading is cut off).

uvicorn has no such option; this wraps its own HTTP protocol (httptools or h11, whichever it
picks) around a transport whose ``close`` lingers. ``alphamatte serve`` and the loopback test
server both run it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

LINGER_S = 2.0  # the longest a closed connection keeps reading what its client still sends
LINGER_BYTES = 1024 * 1024  # ... and the most it reads


class LingeringTransport:
    """A transport whose :meth:`close` ends the sending side first (see the module doc)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.lingering = False
        self.drained = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        transport = self._transport
        if self.lingering or transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        transport.write_eof()  # after what is buffered: the answer, then end of stream
        transport.resume_reading()  # drain what the client still sends (and drop it)
        asyncio.get_running_loop().call_later(LINGER_S, transport.close)


class LingeringHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol over a :class:`LingeringTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._lingering = LingeringTransport(transport)
        super().connection_made(self._lingering)

    def data_received(self, data: bytes) -> None:
        lingering = self._lingering
        if not lingering.lingering:
            super().data_received(data)
            return
        lingering.drained += len(data)  # after the answer, the rest is dropped
        if lingering.drained > LINGER_BYTES:
            lingering.close()

    def eof_received(self) -> bool | None:
        if self._lingering.lingering:
            self._lingering.close()  # the client is done too: close for good
            return None
        result: bool | None = super().eof_received()
        return result
