"""Registries as they are in the wild (issue 17): the scheme is settled by the registry's
real answer, not by words in an error body; what is read into memory has a size limit."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import one_line_error, run_cli

pytestmark = pytest.mark.e2e
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


def _own_address() -> str:
    """This machine's address on its default route (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        return str(probe.getsockname()[0])


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def _serve(handler: type[BaseHTTPRequestHandler], address: str) -> Iterator[tuple[str, list[str]]]:
    """Serve ``handler`` on ``address``:FREEPORT; yield ``host:port`` and the request lines."""
    seen: list[str] = []

    class Recording(handler):  # type: ignore[valid-type, misc]
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002
            seen.append(self.requestline)

    server = _Server((address, 0), Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{address}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


class _SaysUseHttps(BaseHTTPRequestHandler):
    """A plain-HTTP registry whose every answer is a 400 with "https" in its text."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"Bad Request: this mirror is being moved, please use https://example.test next week"
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815


def test_a_plain_http_registry_answering_400_about_https_fails_at_once_with_its_own_error(
    tmp_path: Path,
) -> None:
    with _serve(_SaysUseHttps, _own_address()) as (host, seen):
        env = {
            **dict.fromkeys(PROXY_VARS, ""),
            "INVOKE_MULTIARCH_INSECURE_REGISTRIES": host,
        }
        start = time.monotonic()
        done = run_cli("inspect", f"{host}/plain/app:1", cwd=tmp_path, env=env, timeout=120)
        took = time.monotonic() - start
    line = one_line_error(done, host, "400 Bad Request")
    assert "SSL" not in line
    assert "retry" not in done.output
    assert took < 5, (took, line)
    # One plain request, one TLS handshake that settles the scheme (its ClientHello, random
    # bytes, is what the plain server logs as a request line: twice, as http.server logs
    # a bad request), and nothing retried.
    assert [s for s in seen if s.startswith("GET")] == ["GET /v2/plain/app/manifests/1 HTTP/1.1"]
    assert len({s for s in seen if s.startswith("\x16")}) == 1, seen
