"""Request ids, the JSON access log and request metrics, as plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: that one runs every response through an
extra task and memory stream, a measurable cost per request at a few hundred requests/s.
"""

from __future__ import annotations

import json
import logging
import uuid
from time import perf_counter
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alphamatte.server.state import Metrics

log = logging.getLogger("alphamatte.access")


def new_request_id() -> str:
    return uuid.uuid4().hex


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        start = perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if 300 <= status < 400:  # the router's trailing-slash redirect
                    headers = [(n, _relative(v) if n == b"location" else v) for n, v in headers]
                headers.append((b"x-request-id", request_id.encode()))
                # Browsers must not guess a type: an uploaded "image" served back as HTML.
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 1),
                        "key_id": state.get("key_id"),
                    }
                )
            )


def _relative(location: bytes) -> bytes:
    """A redirect's target without scheme and host: Starlette builds it from the request's
    ``Host`` header, which a client chooses (a redirect to anywhere)."""
    parts = urlsplit(location.decode("latin-1"))
    path = "/" + parts.path.lstrip("/")  # never "//host": a browser would leave the site
    return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
