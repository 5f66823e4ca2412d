"""A loopback forward proxy (CONNECT tunnels and absolute-form requests), plain or TLS.

What corporate proxies do, small enough to read: ``CONNECT host:port`` opens a tunnel,
``GET http://host:port/path`` is forwarded. With ``tls`` set the proxy itself speaks
TLS (an ``https://`` proxy). Names in ``hosts`` resolve to the address given (a registry
named ``registry.test`` is then reachable only through the proxy). Every request head it
reads is recorded in ``seen``; with ``auth`` set, a request without that
``Proxy-Authorization`` gets ``407``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Seen:
    """One request head the proxy read."""

    method: str
    target: str
    headers: dict[str, str]


class ConnectProxy(socketserver.ThreadingTCPServer):
    """Start with ``ConnectProxy(...).start()``; ``port`` is where it listens."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        auth: str = "",
        hosts: dict[str, str] | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.auth = auth
        self.hosts = dict(hosts or {})
        self.seen: list[Seen] = []
        self.port = int(self.server_address[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept a connection; TLS for an https proxy (handshake in its own thread)."""
        sock, addr = super().get_request()
        if self.tls is not None:
            sock.settimeout(30)
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def start(self) -> Self:
        """Serve on a daemon thread."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.shutdown()
        self.server_close()

    def resolve(self, host: str) -> str:
        """The address ``host`` stands for here."""
        return self.hosts.get(host, host)


class _Handler(socketserver.StreamRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        try:
            method, target, _ = self.rfile.readline().decode("latin-1").split()
        except ValueError:
            return
        headers: dict[str, str] = {}
        while (line := self.rfile.readline()) not in {b"\r\n", b"\n", b""}:
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        self.server.seen.append(Seen(method, target, headers))
        if self.server.auth and headers.get("proxy-authorization") != self.server.auth:
            self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")  # fmt: skip
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((self.server.resolve(host.strip("[]")), int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            address = (self.server.resolve(url.hostname or ""), url.port or 80)
            upstream = socket.create_connection(address)
            kept = "".join(
                f"{k}: {v}\r\n" for k, v in headers.items() if not k.startswith("proxy-")
            )
            path = url.path + (f"?{url.query}" if url.query else "")
            upstream.sendall(f"{method} {path} HTTP/1.1\r\n{kept}".encode() + b"\r\n")
        with upstream:
            back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
            back.start()
            with contextlib.suppress(OSError):
                while data := self.connection.recv(65536):
                    upstream.sendall(data)
                upstream.shutdown(socket.SHUT_WR)
            back.join(30)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
