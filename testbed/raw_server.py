"""Loopback servers that misbehave at the byte level, for what no real registry does.

- :func:`scripted`: answer the n-th request head with the n-th reply's bytes as they are
  (framing tests: chunked, close-framed, keep-alive, cut bodies, interim answers);
- :func:`trickle`: read a request, then send a reply one byte per ``interval`` seconds;
- :func:`continue_forever`: read a request, then send ``100 Continue`` every ``interval``
  seconds, never a final answer.

Each is a context manager yielding a :class:`Script` whose ``url`` is
``http://127.0.0.1:PORT`` (``https`` with ``tls``) and whose ``seen`` lists
(connection number, request line) pairs, ``heads`` the raw request heads.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Reply = tuple[bytes, bool]
SLOW_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4096\r\n\r\n"


@dataclass
class Script:
    """What the server saw: (connection number, request line) per request, and the heads."""

    url: str
    seen: list[tuple[int, str]] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0


def keep(raw: bytes) -> Reply:
    """Send ``raw`` and wait for the next request on the same connection."""
    return raw, False


def close(raw: bytes) -> Reply:
    """Send ``raw`` and hang up."""
    return raw, True


@contextlib.contextmanager
def _serve(
    answer: Callable[[socket.socket, Script, int, bytes, threading.Event], bool],
    tls: ssl.SSLContext | None = None,
) -> Iterator[Script]:
    """Accept connections; for each request head call ``answer`` (False: hang up)."""
    listener = socket.create_server(("127.0.0.1", 0))
    script = Script(f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()
    lock = threading.Lock()

    def serve(conn: socket.socket, number: int) -> None:
        buf = b""
        with contextlib.suppress(OSError), conn:
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            while not stop.is_set():
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                with lock:
                    script.seen.append((number, head.split(b"\r\n")[0].decode()))
                    script.heads.append(head)
                if not answer(conn, script, number, head, stop):
                    return

    def accept() -> None:
        number = 0
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                conn.settimeout(30)
                script.connections += 1
                threading.Thread(target=serve, args=(conn, number), daemon=True).start()
                number += 1

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield script
    finally:
        stop.set()
        listener.close()


@contextlib.contextmanager
def scripted(*replies: Reply, tls: ssl.SSLContext | None = None) -> Iterator[Script]:
    """Answer the n-th request head (bodies are not read) with ``replies[n]``."""
    queue = list(replies)
    lock = threading.Lock()

    def answer(conn: socket.socket, _s: Script, _n: int, _h: bytes, _e: threading.Event) -> bool:
        with lock:
            raw, hang_up = queue.pop(0) if queue else (b"", True)
        conn.sendall(raw)
        return not hang_up

    with _serve(answer, tls) as script:
        yield script


@contextlib.contextmanager
def trickle(
    interval: float = 1.0, reply: bytes = SLOW_REPLY, tls: ssl.SSLContext | None = None
) -> Iterator[Script]:
    """Send ``reply`` to every request one byte per ``interval`` seconds, then hang up."""

    def answer(conn: socket.socket, _s: Script, _n: int, _h: bytes, stop: threading.Event) -> bool:
        for byte in reply:
            conn.sendall(bytes([byte]))
            if stop.wait(interval):
                break
        return False

    with _serve(answer, tls) as script:
        yield script


@contextlib.contextmanager
def continue_forever(interval: float = 0.5, tls: ssl.SSLContext | None = None) -> Iterator[Script]:
    """Answer every request with ``100 Continue``, again every ``interval`` seconds."""

    def answer(conn: socket.socket, _s: Script, _n: int, _h: bytes, stop: threading.Event) -> bool:
        while True:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if stop.wait(interval):
                return False

    with _serve(answer, tls) as script:
        yield script
