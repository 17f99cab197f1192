"""The web playground: one static page at `/`, its script and style under `/static`."""

from __future__ import annotations

import re
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_STATIC = resources.files("alphamatte.server") / "static"
# The page may only talk to this server: no inline script, no third-party origins.
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)


_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # no NUL, no path, no dot file


def _asset(name: str) -> bytes:
    return (_STATIC / name).read_bytes()


@router.api_route("/", methods=["GET", "HEAD"])
def page() -> HTMLResponse:
    return HTMLResponse(
        _asset("index.html"),
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def asset(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in _TYPES or not _NAME.fullmatch(name):
        raise HTTPException(404, "Not found")
    try:
        body = _asset(name)
    except FileNotFoundError as exc:
        raise HTTPException(404, "Not found") from exc
    return Response(body, media_type=_TYPES[suffix], headers={"Cache-Control": "no-cache"})
