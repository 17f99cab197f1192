"""Sending a request at a real network's pace, as most HTTP clients do: the whole body first,
then the answer. On loopback at full speed the kernel's buffers take a whole upload at once and
hide what a server does to a client that is still sending; a small send buffer and a steady rate
show it, as an uplink of a few MB/s does."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SEND_BUFFER = 64 * 1024  # bytes the client's kernel holds unsent: a real uplink's queue
CHUNK = 16 * 1024
QUIET_S = 0.5  # a client that sends nothing for this long has sent its request


@dataclass
class Outcome:
    sent: int  # body bytes the client got out before it stopped
    status: int | None  # the status it read, None when it read nothing
    answer: bytes  # what it read: status line, headers and body
    error: str | None  # how sending or reading failed, if it did

    @property
    def body(self) -> bytes:
        return self.answer.partition(b"\r\n\r\n")[2]


def multipart(field: str, size: int, boundary: str = "throttledboundary") -> tuple[str, bytes]:
    """A multipart body of about ``size`` bytes with one file part (its bytes do not matter:
    every refusal measured here comes before they are read)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="p.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    filler = bytes(range(256)) * (max(0, size - len(head) - len(tail)) // 256 + 1)
    body = head + filler[: max(0, size - len(head) - len(tail))] + tail
    return f"multipart/form-data; boundary={boundary}", body


def send_then_read(
    url: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    rate: float,
    *,
    declared: int | None = None,
    read_timeout: float = 20.0,
) -> Outcome:
    """POST ``body`` at ``rate`` bytes/s and read the answer only once all of it is sent (or
    sending failed: then whatever the socket still yields is read, as urllib3 tries)."""
    host, port = url.removeprefix("http://").split(":")
    length = len(body) if declared is None else declared
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {length}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    sock.settimeout(read_timeout)
    sent, error = 0, None
    try:
        sock.connect((host, int(port)))
        sock.sendall(head.encode())
        started = time.monotonic()
        while sent < len(body):
            chunk = body[sent : sent + CHUNK]
            sock.sendall(chunk)
            sent += len(chunk)
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    except OSError as exc:
        error = f"sending: {type(exc).__name__}"
    answer = b""
    try:
        while chunk := sock.recv(65_536):
            answer += chunk
    except OSError as exc:
        error = error or f"reading: {type(exc).__name__}"
        if not answer:
            error = f"{error}; nothing read"
    finally:
        sock.close()
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return Outcome(sent, status, answer, error)


class ThrottlingProxy:
    """A TCP relay on loopback that carries uploads to ``target`` at ``rate`` bytes/s, for
    clients that cannot be slowed themselves (python-requests, httpx, npm clients): small
    buffers on both sides, so the client's send blocks as it would on a slow uplink. A reset
    from the server reaches the client as a reset; an orderly end as an orderly end.

    ``discard_on_reset``: the server's answer is handed over only once the upload is through,
    and a reset before that loses it, as on clients whose system drops unread data when a
    reset arrives (Windows, macOS: what "Connection aborted / Broken pipe" users see). Linux
    keeps it readable, and urllib3 and httpcore read it after a failed send, which hides the
    problem on this machine."""

    def __init__(self, target: str, rate: float, *, discard_on_reset: bool = False) -> None:
        self.target = target.removeprefix("http://")
        self.rate = rate
        self.discard_on_reset = discard_on_reset
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SEND_BUFFER)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)  # so that the accepting thread sees the end in time
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def __enter__(self) -> ThrottlingProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self._closed = True
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            host, port = self.target.split(":")
            server = socket.create_connection((host, int(port)))
            server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            self._start(self._relay, client, server)

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        uploaded, upload_over = threading.Event(), threading.Event()
        down = threading.Thread(
            target=self._download, args=(server, client, uploaded, upload_over), daemon=True
        )
        down.start()
        self._upload(client, server, uploaded)
        upload_over.set()
        down.join(timeout=30)
        server.close()
        client.close()

    def _upload(
        self, client: socket.socket, server: socket.socket, uploaded: threading.Event
    ) -> None:
        """Carry the client's bytes; ``uploaded`` once it has gone quiet (it sent its request
        and waits for the answer) or ended its side."""
        started, carried = time.monotonic(), 0
        client.settimeout(QUIET_S)
        try:
            while True:
                try:
                    chunk = client.recv(CHUNK)
                except TimeoutError:
                    uploaded.set()
                    client.settimeout(None)
                    continue
                if not chunk:
                    break
                server.sendall(chunk)
                carried += len(chunk)
                ahead = carried / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            uploaded.set()
            server.shutdown(socket.SHUT_WR)
        except OSError:
            _reset(client)  # the server cut us off: the client learns it the same way

    def _download(
        self,
        server: socket.socket,
        client: socket.socket,
        uploaded: threading.Event,
        upload_over: threading.Event,
    ) -> None:
        held: list[bytes] = []
        try:
            while chunk := server.recv(65_536):
                if self.discard_on_reset and not uploaded.is_set():
                    held.append(chunk)
                else:
                    client.sendall(chunk)
            if held:
                while not (uploaded.is_set() or upload_over.is_set()):
                    upload_over.wait(timeout=0.05)
                if not uploaded.is_set():
                    return  # reset before the client read it: lost
                client.sendall(b"".join(held))
            client.shutdown(socket.SHUT_WR)
        except OSError:
            _reset(client)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a kernel does when data arrives on a closed socket."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
