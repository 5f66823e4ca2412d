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


# --- a "manifest" too big to hold ----------------------------------------------------------

HUGE = 512 << 20  # what the server offers: far over the 4 MiB limit
RSS_CEILING_KB = 100 << 10


@contextlib.contextmanager
def _endless_manifest(framing: str) -> Iterator[tuple[str, list[int]]]:
    """A loopback server answering every GET with a "manifest" that does not end.

    ``framing``: ``length`` (a true Content-Length of :data:`HUGE`), ``chunked`` (no
    length, chunks until the client hangs up) or ``lying`` (Content-Length: 1000, then
    :data:`HUGE` bytes anyway). Yields ``host:port`` and the bytes sent per connection.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []
    piece = b"{" + b" " * ((1 << 16) - 1)

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            fields = {"length": f"Content-Length: {HUGE}", "lying": "Content-Length: 1000"}
            framing_field = fields.get(framing, "Transfer-Encoding: chunked")
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\n"
                + framing_field.encode()
                + b"\r\n\r\n"
            )
            total = 0
            sent.append(0)
            while total < HUGE:
                chunk = b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece
                conn.sendall(chunk)
                total += len(piece)
                sent[-1] = total

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", sent
    finally:
        listener.close()


# A forked child's peak RSS starts at its parent's (the pages it shares at fork count):
# measured from pytest, every figure would start at the suite's own peak. A small
# interpreter starts the command and reports its peak instead.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _run_measured(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, float, int]:
    """Run ``argv``: (exit code, stderr, seconds, peak RSS in KiB of that process alone)."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as err:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(Path(sys.executable).parent / "multiarch"), *argv],
            env={**os.environ, **env}, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True,
            check=True,
        ).stdout  # fmt: skip
        took = time.monotonic() - start
        err.seek(0)
        code, peak = (int(x) for x in out.split())
        return code, err.read(), took, peak


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_huge_manifest_fails_at_the_4mib_limit_naming_it_and_memory_stays_small(
    framing: str, tmp_path: Path
) -> None:
    with _endless_manifest(framing) as (host, sent):
        env = {**dict.fromkeys(PROXY_VARS, ""), "INVOKE_MULTIARCH_RETRIES": "0"}
        code, err, took, peak_kb = _run_measured(["inspect", f"{host}/huge/app:1"], env, tmp_path)
    line = one_line_error(CliResultLike(code, err), host, "4 MiB", "max_manifest_size")
    assert "/huge/app/manifests/1" in line
    assert took < 10, (took, line)
    assert peak_kb < RSS_CEILING_KB, f"peak RSS {peak_kb // 1024} MB"
    assert max(sent) < HUGE, "the client read the whole body"


def test_a_manifest_whose_content_length_lies_is_read_no_further_than_it_says(
    tmp_path: Path,
) -> None:
    with _endless_manifest("lying") as (host, _):
        env = {**dict.fromkeys(PROXY_VARS, ""), "INVOKE_MULTIARCH_RETRIES": "0"}
        code, err, took, peak_kb = _run_measured(["inspect", f"{host}/huge/app:1"], env, tmp_path)
    one_line_error(CliResultLike(code, err), host)
    assert took < 10, took
    assert peak_kb < RSS_CEILING_KB, f"peak RSS {peak_kb // 1024} MB"


def test_max_manifest_size_setting_raises_the_limit(tmp_path: Path) -> None:
    with _endless_manifest("length") as (host, _):
        env = {
            **dict.fromkeys(PROXY_VARS, ""),
            "INVOKE_MULTIARCH_RETRIES": "0",
            "INVOKE_MULTIARCH_MAX_MANIFEST_SIZE": str(8 << 20),
        }
        code, err, _, _ = _run_measured(["inspect", f"{host}/huge/app:1"], env, tmp_path)
    one_line_error(CliResultLike(code, err), "8 MiB", "max_manifest_size")


class CliResultLike:
    """What :func:`one_line_error` reads of a finished command."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = ""
        self.stderr = stderr
        self.output = stderr
