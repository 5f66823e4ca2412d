"""Deadlines for requests: what ends a request a server keeps busy without finishing it.

A read timeout ends silence, not a server that trickles a byte a second or sends
``100 Continue`` forever. Each request arms a :class:`Watch`; one watchdog thread shuts
down the socket of a request past its deadline, so the read blocked on it returns at
once, and the watch tells the transport why.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any


class Watch:
    """The deadline of one request, and the connection it is using."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.conn: Any = None
        self.expired = False


class Watchdog:
    """One thread that ends requests past their deadline by shutting their socket down.

    A read blocked on that socket then returns at once (end of stream), which urllib3
    reports as a dropped connection; the request's :class:`Watch` says it was the
    deadline. A connection is only shut down while the watch that armed it owns it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Watch] = set()
        self._thread: threading.Thread | None = None

    def arm(self, watch: Watch) -> None:
        """Start watching ``watch`` (its deadline counts from when it was made)."""
        with self._cond:
            self._armed.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="registry-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def disarm(self, watch: Watch) -> None:
        """Stop watching ``watch``: its request is over."""
        with self._cond:
            self._armed.discard(watch)

    def extend(self, watch: Watch) -> None:
        """Give ``watch`` its whole time again (for the next chunk of a stream)."""
        with self._cond:
            watch.deadline = time.monotonic() + watch.seconds

    def attach(self, watch: Watch, conn: Any) -> None:
        """Record that ``watch``'s request now uses (and owns) connection ``conn``."""
        with self._cond:
            watch.conn = conn
            conn.multiarch_watch = watch

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for watch in [w for w in self._armed if w.deadline <= now]:
                    self._armed.discard(watch)
                    watch.expired = True
                    conn = watch.conn
                    if conn is not None and getattr(conn, "multiarch_watch", None) is watch:
                        _shut_down(conn.sock)
                wake = min((w.deadline for w in self._armed), default=now + 3600.0)
                self._cond.wait(max(0.0, wake - now))


def _shut_down(sock: Any) -> None:
    """Shut the OS socket under ``sock`` (TLS, TLS in TLS) down both ways."""
    while sock is not None and not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


watchdog = Watchdog()
