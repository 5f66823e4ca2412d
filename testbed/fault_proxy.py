"""A loopback HTTP proxy in front of a real registry that injects faults on chosen requests.

Stdlib only (``http.server`` + ``http.client``). Every request is forwarded to the
registry unchanged (its ``Host`` header included, so the registry's upload ``Location``
URLs point back at the proxy) unless a :class:`Rule` matches it; a matching rule can

- answer with a status instead (500, 503, 429 with ``Retry-After``, 401...),
- drop the connection without answering (``drop=True``),
- forward the request but cut the answer's body in half and close (``cut=True``),
- wait first (``delay`` seconds), then do any of the above or forward.

Bodies are streamed both ways in 1 MiB pieces (a 300 MB blob is never held in memory);
a request body sent chunked goes on chunked, an answer without a length goes back chunked.

A rule matches on method, path regex, (``agent``) a regex on the ``User-Agent``: dockerd's
own push (``docker/...``) can be told from BuildKit's (``buildkit/...``) that way, and
(``content_type``) a regex on the request's ``Content-Type``: the PUT of an index
(``application/vnd.oci.image.index.v1+json``) from that of a platform's manifest.
Which of the matching requests are hit: the first ``first`` of them, every ``every``-th,
or (neither set) all of them; with ``per_path`` the count is kept per request path (the
first PUT of *each* manifest). ``127.0.0.1:PORT/repo:tag`` works as an image name for
``docker buildx build --push`` too: dockerd speaks plain HTTP to loopback registries.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

# Headers that describe one hop, not the message: never forwarded as they came.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})
CHUNK = 1 << 20  # bodies are copied in pieces of this size, never held whole


@dataclass
class Rule:
    """Which requests to hit (method, path regex, which occurrences) and with what."""

    method: str = ""
    path: str = ""
    first: int = 0
    every: int = 0
    status: int = 0
    retry_after: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    cut: bool = False
    delay: float = 0.0
    per_path: bool = False
    agent: str = ""
    content_type: str = ""
    seen: int = 0
    hits: int = 0
    _seen_by_path: dict[str, int] = field(default_factory=dict, repr=False)

    def wants(self, method: str, path: str, agent: str = "", content_type: str = "") -> bool:
        """Count a request that matches method, path, agent and type; True to hit it."""
        if self.method and method.upper() != self.method.upper():
            return False
        if self.path and not re.search(self.path, path):
            return False
        if self.agent and not re.search(self.agent, agent):
            return False
        if self.content_type and not re.search(self.content_type, content_type):
            return False
        self.seen += 1
        count = self.seen
        if self.per_path:
            key = path.split("?", 1)[0]
            count = self._seen_by_path[key] = self._seen_by_path.get(key, 0) + 1
        if self.first and self.every:
            hit = count <= self.first or count % self.every == 0
        elif self.first:
            hit = count <= self.first
        elif self.every:
            hit = count % self.every == 0
        else:
            hit = True
        if hit:
            self.hits += 1
        return hit


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it, and what it did with it."""

    method: str
    path: str
    status: int
    fault: str = ""
    agent: str = ""
    accept: str = ""
    content_type: str = ""


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: clients opening many connections at once
    # would see SYNs dropped and retried a second later.
    request_queue_size = 128
    daemon_threads = True


class FaultProxy:
    """A running proxy on ``127.0.0.1:PORT`` in front of ``upstream`` (``host:port``)."""

    def __init__(
        self, upstream: str, rules: list[Rule] | None = None, *, one_accept: bool = False
    ) -> None:
        self.upstream = upstream
        # Forward only the first of several Accept headers, as a careless proxy does.
        self.one_accept = one_accept
        self.rules: list[Rule] = list(rules or [])
        self.log: list[Seen] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, *rules: Rule) -> FaultProxy:
        """Add rules (checked in order; the first that hits a request wins)."""
        with self._lock:
            self.rules.extend(rules)
        return self

    def clear(self) -> None:
        """Drop every rule: from now on the proxy only forwards."""
        with self._lock:
            self.rules.clear()

    def choose(
        self, method: str, path: str, agent: str = "", content_type: str = ""
    ) -> Rule | None:
        """The rule that hits this request, if any (every matching rule counts it)."""
        with self._lock:
            hit = None
            for rule in self.rules:
                if rule.wants(method, path, agent, content_type) and hit is None:
                    hit = rule
            return hit

    def record(self, seen: Seen) -> None:
        """Remember one request (for assertions)."""
        with self._lock:
            self.log.append(seen)

    def faults(self) -> list[Seen]:
        """The requests a rule hit."""
        with self._lock:
            return [s for s in self.log if s.fault]

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    proxy: ClassVar[FaultProxy]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Keep the test output clean; the proxy's own ``log`` records requests."""

    def handle_one_request(self) -> None:
        """Answer a TLS handshake the way Go's server does, so clients fall back to HTTP.

        dockerd tries HTTPS first even on loopback and falls back to plain HTTP only when
        the answer starts with ``HTTP/``; http.server would answer in HTTP/0.9 (no status
        line) and the push would fail with "first record does not look like a TLS
        handshake".
        """
        if self.rfile.peek(1)[:1] == b"\x16":  # type: ignore[attr-defined]
            self.wfile.write(
                b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
            )
            self.close_connection = True
            return
        super().handle_one_request()

    def _body_chunks(self) -> Iterator[bytes]:
        """The request body, as it arrives (chunked transfer decoded), in pieces."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                        pass
                    return
                while size:
                    piece = self.rfile.read(min(size, CHUNK))
                    if not piece:
                        return
                    size -= len(piece)
                    yield piece
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            piece = self.rfile.read(min(left, CHUNK))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def _seen(self, status: int, fault: str = "") -> Seen:
        # Every Accept header (docker sends one per media type), comma-joined.
        accept = ", ".join(self.headers.get_all("Accept") or [])
        return Seen(self.command, self.path, status, fault, self.headers.get("User-Agent", ""),
                    accept, self.headers.get("Content-Type", ""))  # fmt: skip

    def _handle(self) -> None:
        rule = self.proxy.choose(
            self.command,
            self.path,
            self.headers.get("User-Agent", ""),
            self.headers.get("Content-Type", ""),
        )
        if rule is not None and rule.delay:
            time.sleep(rule.delay)
        if rule is not None and rule.drop:
            self.proxy.record(self._seen(0, "drop"))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if rule is not None and rule.status:
            for _ in self._body_chunks():  # read what the client sent before answering
                pass
            self._answer_fault(rule)
            return
        self._forward(cut=rule is not None and rule.cut, delayed=rule is not None)

    def _answer_fault(self, rule: Rule) -> None:
        payload = b'{"errors":[{"code":"INJECTED","message":"fault injected by the test proxy"}]}'
        self.proxy.record(self._seen(rule.status, f"status {rule.status}"))
        self.send_response(rule.status)
        self.send_header("Content-Type", "application/json")
        if rule.retry_after:
            self.send_header("Retry-After", rule.retry_after)
        for key, value in rule.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, *, cut: bool, delayed: bool) -> None:
        """Forward the request and its answer, both bodies streamed (never held whole)."""
        conn = http.client.HTTPConnection(self.proxy.upstream, timeout=120)
        try:
            # docker sends one Accept header per media type: keep them all (comma-joined).
            headers: dict[str, str] = {}
            for key, value in self.headers.items():
                if key.lower() not in _HOP and key.lower() != "content-length":
                    if key in headers and key.lower() == "accept" and self.proxy.one_accept:
                        continue
                    headers[key] = f"{headers[key]}, {value}" if key in headers else value
            chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
            length = self.headers.get("Content-Length")
            body: Iterator[bytes] | None = None
            if chunked:
                body = self._body_chunks()
            elif length and int(length):
                headers["Content-Length"] = length
                body = self._body_chunks()
            elif self.command in {"PUT", "POST", "PATCH"}:
                headers["Content-Length"] = "0"
            # A body without Content-Length goes on chunked (http.client's own choice).
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            # Recorded before the answer goes out: a client that has read it finds it logged.
            fault = "cut" if cut else ("delay" if delayed else "")
            self.proxy.record(self._seen(resp.status, fault))
            self._answer(resp, cut=cut)
        finally:
            conn.close()

    def _answer(self, resp: http.client.HTTPResponse, *, cut: bool) -> None:
        """Send the registry's answer on, with its length if known, else chunked."""
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP and key.lower() != "content-length":
                self.send_header(key, value)
        if self.command == "HEAD":
            # HEAD answers carry the length of the body they do not send.
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
            self.end_headers()
            return
        size = resp.length
        if size is None and cut:
            data = resp.read()  # no length to cut in half: a small answer, read it whole
            size = len(data)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self._cut(data[: size // 2])
            return
        if size is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while piece := resp.read1(CHUNK):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size // 2 if cut else size
        while left:
            piece = resp.read(min(left, CHUNK))
            if not piece:
                break
            self.wfile.write(piece)
            left -= len(piece)
        if cut:
            self._cut(b"")

    def _cut(self, data: bytes) -> None:
        """Write ``data`` and close the connection mid-body."""
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    # http.server dispatches on do_<METHOD>.
    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815
