"""Fetching a client's ``image_url``: only from allow-listed hosts, never into the private
network by accident, within size, time and redirect limits.

Off unless ``ALPHAMATTE_REMOVEBG_URL_HOSTS`` lists hosts (comma-separated; ``*.example.com``
covers subdomains). A host's addresses are resolved first, and a private, loopback, link-local,
multicast, reserved or unspecified address is refused unless that very address is on the list
(``127.0.0.1`` for a test server, say): a public name that resolves inside the network is not
enough. Every redirect is checked the same way. Limitation: the address is checked, then
connected to by name, so a DNS answer that changes in between (rebinding) is not caught; list
hosts you control.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from time import monotonic
from urllib.parse import urljoin, urlsplit

import anyio.to_thread
import httpx

from alphamatte.server.errors import ApiError

MAX_REDIRECTS = 3
MAX_URL_CHARS = 2048
CHUNK = 64 * 1024


def allowed_hosts(setting: str) -> list[str]:
    return [host.strip().lower() for host in setting.split(",") if host.strip()]


def _listed(host: str, hosts: Iterable[str]) -> bool:
    for entry in hosts:
        if entry.startswith("*.") and (host.endswith(entry[1:]) or host == entry[2:]):
            return True
        if host == entry:
            return True
    return False


def _refused(code: str, detail: str) -> ApiError:
    return ApiError(400, detail, code=code)


def _host_and_port(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; 400 for anything malformed, or carrying
    credentials (they would be sent to the host, and again after a redirect)."""
    invalid = _refused("invalid_image_url", "image_url must be a valid http or https URL.")
    if len(url) > MAX_URL_CHARS or not url.isascii() or not url.isprintable() or " " in url:
        raise invalid
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # brackets that do not close, a port past 65535, two ports...
        raise invalid from exc
    if parts.scheme not in ("http", "https") or not host:
        raise invalid
    if "@" in parts.netloc:
        raise _refused("invalid_image_url", "image_url must not carry a user name or password.")
    return host.lower(), port or (443 if parts.scheme == "https" else 80)


async def check_target(url: str, hosts: list[str]) -> None:
    """Refuse ``url`` unless its scheme, host and every address it resolves to are allowed."""
    host, port = _host_and_port(url)
    if not _listed(host, hosts):
        raise _refused("url_not_allowed", f"{host} is not on this server's list of image hosts.")
    try:
        found = await anyio.to_thread.run_sync(
            lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )
    except OSError as exc:
        raise _refused("url_fetch_failed", f"{host} cannot be resolved.") from exc
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        inside = (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )
        if inside and str(ip) not in hosts:
            raise _refused(
                "url_not_allowed", f"{host} resolves to an internal address ({ip}); refused."
            )


async def fetch_image(url: str, *, hosts: list[str], max_bytes: int, timeout_s: float) -> bytes:
    """The bytes at ``url``, following at most :data:`MAX_REDIRECTS` checked redirects, within
    ``max_bytes`` and ``timeout_s`` in all."""
    deadline = monotonic() + timeout_s
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s) as client:
        for _ in range(MAX_REDIRECTS + 1):
            await check_target(url, hosts)
            try:
                with anyio.fail_after(max(0.01, deadline - monotonic())):
                    async with client.stream("GET", url) as response:
                        if response.is_redirect:
                            location = response.headers.get("location", "")
                            try:
                                url = urljoin(url, location)
                            except ValueError as exc:
                                raise _refused(
                                    "url_fetch_failed", "image_url redirected to a bad URL."
                                ) from exc
                            continue
                        if response.status_code != 200:
                            raise _refused(
                                "url_fetch_failed",
                                f"image_url answered {response.status_code}.",
                            )
                        declared = response.headers.get("content-length", "")
                        if declared.isdigit() and int(declared) > max_bytes:
                            raise _too_large(max_bytes)
                        body = bytearray()
                        async for chunk in response.aiter_bytes(CHUNK):
                            body += chunk
                            if len(body) > max_bytes:
                                raise _too_large(max_bytes)
                        return bytes(body)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise _refused("url_timeout", f"image_url took over {timeout_s:g} s.") from exc
            except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, ValueError) as exc:
                raise _refused("url_fetch_failed", "image_url could not be fetched.") from exc
    raise _refused("url_fetch_failed", f"image_url redirected more than {MAX_REDIRECTS} times.")


def _too_large(max_bytes: int) -> ApiError:
    return _refused("file_too_large", f"The image at image_url is larger than {max_bytes:,} bytes.")
