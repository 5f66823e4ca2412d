"""multiarch_tasks.registry.wire against real loopback servers: pooling, bodies, streaming, TLS, proxies.

Every server here is a real socket server started by the test (``http.server`` threads, a
small CONNECT/forwarding proxy); nothing is mocked.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import urlsplit

import pytest

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry import wire
from multiarch_tasks.registry.client import RegistryClient
from testbed.registry import free_port, self_signed_cert

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


@dataclass
class Seen:
    """One request as the server read it; ``nth`` counts requests on its connection."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]
    nth: int


Answer = Callable[[Seen], tuple[int, dict[str, str], bytes] | None]


def _read_chunked(rfile: BinaryIO) -> bytes:
    out = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0], 16)
        if size == 0:
            rfile.readline()
            return bytes(out)
        out += rfile.read(size)
        rfile.readline()


@dataclass
class Origin:
    """A loopback HTTP/1.1 keep-alive server; ``answer`` returning None hangs up unanswered."""

    answer: Answer
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    @property
    def peers(self) -> set[tuple[str, int]]:
        """The client connections the server saw."""
        return {s.peer for s in self.seen}


class OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    origin: Origin

    def setup(self) -> None:
        super().setup()
        self.nth = 0

    def _any(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if headers.get("transfer-encoding") == "chunked":
            body = _read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(headers.get("content-length") or 0))
        self.nth += 1
        seen = Seen(self.command, self.path, headers, body, self.client_address[:2], self.nth)
        self.origin.seen.append(seen)
        answer = self.origin.answer(seen)
        if answer is None:
            self.close_connection = True
            return
        status, out, data = answer
        self.send_response(status)
        for key, value in out.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = _any  # noqa: N815 - http.server's naming

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[Callable[..., Origin]]:
    """Start origin servers: ``origin(answer, tls=ctx, idle_timeout=s, host=ip)``."""
    servers: list[ThreadingHTTPServer] = []

    def start(
        answer: Answer,
        *,
        tls: ssl.SSLContext | None = None,
        idle_timeout: float | None = None,
        host: str = "127.0.0.1",
    ) -> Origin:
        made = Origin(answer)
        handler = type("H", (OriginHandler,), {"origin": made, "timeout": idle_timeout})
        server = ThreadingHTTPServer((host, 0), handler)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.url = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
        return made

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def transport() -> Iterator[wire.Transport]:
    t = wire.Transport()
    yield t
    t.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def ok(body: bytes = b"ok", **headers: str) -> Answer:
    return lambda _: (200, headers, body)


# --- pooling -----------------------------------------------------------------------------


def test_requests_to_one_server_reuse_one_kept_alive_connection(origin, transport) -> None:
    server = origin(lambda s: (200, {}, s.path.encode()))
    for n in range(5):
        assert transport.request("GET", f"{server.url}/{n}", timeout=5).content == f"/{n}".encode()
    assert len(server.seen) == 5
    assert len(server.peers) == 1


def test_threads_share_the_pool_and_each_gets_its_own_answer(origin, transport) -> None:
    server = origin(lambda s: (200, {}, s.path.encode()))
    results: dict[int, bytes] = {}

    def work(n: int) -> None:
        for k in range(4):
            results[n * 10 + k] = transport.request("GET", f"{server.url}/{n * 10 + k}").content

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: f"/{k}".encode() for k in results}
    assert len(results) == 24
    assert len(server.peers) <= 6  # never more connections than threads: they are reused


def test_a_connection_the_server_closed_while_idle_is_not_reused(origin, transport) -> None:
    server = origin(ok(), idle_timeout=0.2)
    assert transport.request("GET", f"{server.url}/a").status_code == 200
    time.sleep(0.6)  # the server hangs up the idle connection meanwhile
    # A generator body cannot be replayed: only noticing the hang-up before reuse saves it.
    assert transport.request("PUT", f"{server.url}/b", body=iter([b"x", b"y"])).status_code == 200
    assert [(s.nth, s.body) for s in server.seen] == [(1, b""), (1, b"xy")]
    assert len(server.peers) == 2


def test_a_reused_connection_dropped_unanswered_is_retried_once_for_a_replayable_body(
    origin, transport
) -> None:
    server = origin(lambda s: None if s.nth == 2 else (200, {}, s.body))
    assert transport.request("PUT", f"{server.url}/1", body=b"one").content == b"one"
    assert transport.request("PUT", f"{server.url}/2", body=b"two").content == b"two"
    assert [(s.path, s.nth) for s in server.seen] == [("/1", 1), ("/2", 2), ("/2", 1)]
    # A generator cannot be sent twice: the fault is the caller's.
    with pytest.raises(wire.TransportError) as info:
        transport.request("PUT", f"{server.url}/3", body=iter([b"th", b"ree"]))
    assert info.value.refused is False
    assert [(s.path, s.nth) for s in server.seen][-1] == ("/3", 2)


# --- bodies --------------------------------------------------------------------------------


class Sized:
    """Like registry.py's _SizedBody: a length and chunks."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __len__(self) -> int:
        return sum(map(len, self.chunks))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)


def test_a_generator_body_goes_chunked_and_a_sized_one_with_content_length(
    origin, transport
) -> None:
    server = origin(ok())
    parts = [os.urandom(100_000), b"", os.urandom(3), os.urandom(70_000)]
    transport.request("PUT", f"{server.url}/gen", body=(p for p in parts))
    transport.request("PUT", f"{server.url}/sized", body=Sized(*parts))
    transport.request("POST", f"{server.url}/bytes", body=b"x=1")
    gen, sized, raw = server.seen
    assert gen.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in gen.headers
    assert gen.body == b"".join(parts)
    assert sized.headers.get("content-length") == str(len(b"".join(parts)))
    assert "transfer-encoding" not in sized.headers
    assert sized.body == b"".join(parts)
    assert raw.body == b"x=1"
    assert raw.headers["content-length"] == "3"


def test_a_large_bytes_body_arrives_whole_with_its_length(origin, transport) -> None:
    server = origin(ok())
    data = os.urandom(300_000)
    transport.request("PUT", f"{server.url}/big", body=data)
    assert server.seen[0].headers["content-length"] == str(len(data))
    assert server.seen[0].body == data


def test_params_join_a_query_the_url_already_has(origin, transport) -> None:
    server = origin(ok())
    transport.request("PUT", f"{server.url}/up?_state=a%2Bb", params={"digest": "sha256:ab cd"})
    transport.request("GET", f"{server.url}/t", params=[("scope", "x"), ("scope", "y")])
    assert [s.path for s in server.seen] == [
        "/up?_state=a%2Bb&digest=sha256%3Aab+cd",
        "/t?scope=x&scope=y",
    ]


def test_a_streamed_body_comes_in_bounded_chunks_and_frees_its_connection_at_the_end(
    origin, transport
) -> None:
    data = os.urandom(5 << 20)
    server = origin(ok(data))
    resp = transport.request("GET", f"{server.url}/big", stream=True)
    chunks = list(resp.iter_content(1 << 16))
    assert max(map(len, chunks)) <= 1 << 16
    assert b"".join(chunks) == data
    transport.request("GET", f"{server.url}/again")
    assert len(server.peers) == 1  # read to the end: the connection went back to the pool
    resp = transport.request("GET", f"{server.url}/big", stream=True)
    assert len(next(resp.iter_content(1 << 16))) == 1 << 16
    resp.close()  # closed early: the rest of the body is on that connection, so it goes
    transport.request("GET", f"{server.url}/third")
    assert len(server.peers) == 2


def test_a_body_cut_short_raises_instead_of_ending_quietly(transport) -> None:
    with _raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..") as url:
        resp = transport.request("GET", url, stream=True)
        with pytest.raises(wire.TransportError, match="IncompleteRead"):
            b"".join(resp.iter_content(64))
        with pytest.raises(wire.TransportError, match="IncompleteRead"):
            transport.request("GET", url)


def test_links_json_and_text(origin, transport) -> None:
    link = '</v2/a/tags/list?last=b&n=2>; rel="next", <https://x/y>; rel=prev; title="t"'
    server = origin(ok(b'{"tags": ["a"]}', Link=link, **{"Content-Type": "application/json"}))
    resp = transport.request("GET", f"{server.url}/v2/a/tags/list")
    assert resp.links == {
        "next": {"url": "/v2/a/tags/list?last=b&n=2", "rel": "next"},
        "prev": {"url": "https://x/y", "rel": "prev", "title": "t"},
    }
    assert resp.json() == {"tags": ["a"]}
    assert resp.headers.get("content-type") == "application/json"
    bad = origin(ok(b"Client sent an HTTP request to an HTTPS server.\n"))
    resp = transport.request("GET", bad.url)
    assert "HTTPS" in resp.text
    with pytest.raises(ValueError, match="Expecting value"):
        resp.json()
    assert resp.links == {}


def test_redirects_are_followed_and_authorization_stays_on_its_host(origin, transport) -> None:
    storage = origin(ok(b"blob"))
    registry = origin(
        lambda s: (
            (307, {"Location": f"{storage.url}/b"}, b"")
            if s.path == "/away"
            else (302, {"Location": "/away"}, b"")
            if s.path == "/start"
            else (200, {}, b"")
        )
    )
    resp = transport.request("GET", f"{registry.url}/start", headers={"Authorization": "Bearer t"})
    assert resp.content == b"blob"
    assert resp.url == f"{storage.url}/b"
    assert [s.headers.get("authorization") for s in registry.seen] == ["Bearer t", "Bearer t"]
    assert "authorization" not in storage.seen[0].headers


# --- response framing (RFC 9112 section 6.3), against a scripted raw server ----------------


@dataclass
class Script:
    """What :func:`_scripted` saw: (connection number, request line) per request."""

    url: str
    seen: list[tuple[int, str]] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)


@contextlib.contextmanager
def _scripted(*replies: tuple[bytes, bool]) -> Iterator[Script]:
    """Answer the n-th request (bodiless, on any connection) with ``replies[n]``: its bytes
    as they are, then hang up if its flag says so, else wait for the next request."""
    listener = socket.create_server(("127.0.0.1", 0))
    script = Script(f"http://127.0.0.1:{listener.getsockname()[1]}")
    queue = list(replies)
    lock = threading.Lock()

    def serve(conn: socket.socket, number: int) -> None:
        buf = b""
        with conn, contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                with lock:
                    script.seen.append((number, head.split(b"\r\n")[0].decode()))
                    script.heads.append(head)
                    reply, hang_up = queue.pop(0)
                conn.sendall(reply)
                if hang_up:
                    return

    def accept() -> None:
        with contextlib.suppress(OSError):
            for number in range(len(replies)):
                conn, _ = listener.accept()
                conn.settimeout(5)
                threading.Thread(target=serve, args=(conn, number), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield script
    finally:
        listener.close()


def keep(raw: bytes) -> tuple[bytes, bool]:
    return raw, False


def close(raw: bytes) -> tuple[bytes, bool]:
    return raw, True


OK2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_chunked_body_is_decoded_past_extensions_and_trailers_and_the_connection_kept(
    transport, no_proxy_env
) -> None:
    body = (
        b"5;name=value\r\nhello\r\n"
        b'1A ; x="y"\r\n' + b"z" * 26 + b"\r\n"
        b"0;last\r\nDigest: sha-256=abc\r\nX-Trailer: 1\r\n\r\n"
    )
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    with _scripted(keep(chunked), keep(chunked), keep(OK2)) as server:
        assert transport.request("GET", f"{server.url}/a").content == b"hello" + b"z" * 26
        streamed = transport.request("GET", f"{server.url}/b", stream=True)
        assert list(streamed.iter_content(4)) == [b"hell", b"ozzz", *[b"zzzz"] * 5, b"zzz"]
        assert transport.request("GET", f"{server.url}/c").content == b"ok"
    assert server.seen == [(0, "GET /a HTTP/1.1"), (0, "GET /b HTTP/1.1"), (0, "GET /c HTTP/1.1")]


def test_head_204_and_304_have_no_body_whatever_their_content_length_says(
    transport, no_proxy_env
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nDocker-Content-Digest: sha256:1\r\n\r\n"
    empty = b"HTTP/1.1 204 No Content\r\n\r\n"
    same = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
    with _scripted(keep(head), keep(empty), keep(same), keep(OK2)) as server:
        resp = transport.request("HEAD", f"{server.url}/m", timeout=5)
        assert (resp.status_code, resp.content) == (200, b"")
        assert resp.headers.get("Content-Length") == "1000"
        assert resp.headers.get("docker-content-digest") == "sha256:1"
        assert transport.request("DELETE", f"{server.url}/d", timeout=5).status_code == 204
        assert transport.request("GET", f"{server.url}/n", timeout=5).status_code == 304
        # Had any of them waited for a body, this answer would have been taken as one.
        assert transport.request("GET", f"{server.url}/x", timeout=5).content == b"ok"
    assert {number for number, _ in server.seen} == {0}


def test_a_body_without_length_runs_until_the_server_closes_and_its_connection_goes(
    transport, no_proxy_env
) -> None:
    unframed = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it\r\nand more"
    with _scripted(close(unframed), keep(OK2)) as server:
        assert transport.request("GET", f"{server.url}/a").content == b"all of it\r\nand more"
        assert transport.request("GET", f"{server.url}/b").content == b"ok"
    assert server.seen == [(0, "GET /a HTTP/1.1"), (1, "GET /b HTTP/1.1")]


def test_a_100_continue_before_the_answer_is_skipped(transport, no_proxy_env) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    created = b"HTTP/1.1 201 Created\r\nLocation: /v2/a/blobs/sha256:1\r\nContent-Length: 0\r\n\r\n"
    with _scripted(keep(interim + created), keep(OK2)) as server:
        resp = transport.request("PUT", f"{server.url}/up", body=b"")
        assert (resp.status_code, resp.reason) == (201, "Created")
        assert resp.headers.get("Location") == "/v2/a/blobs/sha256:1"
        assert resp.links == {}  # the 103's fields are not the answer's
        assert transport.request("GET", f"{server.url}/b").content == b"ok"
    assert {number for number, _ in server.seen} == {0}


def test_repeated_fields_join_with_commas_but_one_value_fields_keep_the_first(
    transport, no_proxy_env
) -> None:
    reply = (
        b"HTTP/1.1 401 Unauthorized\r\n"
        b'WWW-Authenticate: Bearer realm="https://auth/token",service="r"\r\n'
        b'www-authenticate: Basic realm="r"\r\n'
        b"X-Many: a\r\nx-many: b\r\n"
        b'Link: </a?last=1>; rel="next"\r\nLink: </z>; rel="prev"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    with _scripted(keep(reply)) as server:
        resp = transport.request("GET", f"{server.url}/v2/")
    assert resp.headers.get("x-many") == "a, b"
    assert resp.headers.get("WWW-Authenticate") == 'Bearer realm="https://auth/token",service="r"'
    assert resp.headers.get_all("www-authenticate")[1] == 'Basic realm="r"'
    assert set(resp.links) == {"next", "prev"}
    assert resp.headers.get("Retry-After") is None
    assert resp.headers.get("Retry-After", "") == ""


def test_a_status_line_without_a_reason_is_read(transport, no_proxy_env) -> None:
    with _scripted(keep(b"HTTP/1.1 202\r\nContent-Length: 2\r\n\r\nok")) as server:
        resp = transport.request("GET", server.url)
    assert (resp.status_code, resp.reason, resp.content) == (202, "", b"ok")


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["http-1.0", "connection-close"],
)
def test_an_http_1_0_or_connection_close_answer_is_not_reused(
    first: bytes, transport, no_proxy_env
) -> None:
    # The server keeps the connection open: only the client's reading of the answer counts.
    with _scripted(keep(first), keep(OK2)) as server:
        assert transport.request("GET", f"{server.url}/a").content == b"ok"
        assert transport.request("GET", f"{server.url}/b").content == b"ok"
    assert [number for number, _ in server.seen] == [0, 1]


def test_http_1_0_with_keep_alive_is_reused(transport, no_proxy_env) -> None:
    first = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
    with _scripted(keep(first), keep(OK2)) as server:
        transport.request("GET", f"{server.url}/a")
        transport.request("GET", f"{server.url}/b")
    assert [number for number, _ in server.seen] == [0, 0]


@pytest.mark.parametrize(
    "head",
    [
        b"".join(b"X-%d: v\r\n" % n for n in range(101)),
        b"X-Big: " + b"v" * (1 << 16) + b"\r\n",
        b"X-Big: " + b"v" * 40_000 + b"\r\nX-Big2: " + b"v" * 40_000 + b"\r\n",
    ],
    ids=["101-fields", "one-64k-field", "80k-of-fields"],
)
def test_an_oversized_response_head_is_a_transport_error(
    head: bytes, transport, no_proxy_env
) -> None:
    reply = b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 0\r\n\r\n"
    with _scripted(keep(reply)) as server, pytest.raises(wire.TransportError) as info:
        transport.request("GET", server.url, timeout=5)
    assert info.value.kind == "BadResponse"
    assert info.value.refused is False


@pytest.mark.parametrize("stream", [False, True])
def test_a_chunked_body_cut_off_is_a_transport_error(stream: bool, transport, no_proxy_env) -> None:
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly"
    with _scripted(close(cut)) as server, pytest.raises(wire.TransportError) as info:
        b"".join(transport.request("GET", server.url, stream=stream).iter_content(1024))
    assert info.value.kind == "IncompleteRead"


def test_a_chunked_body_cut_before_its_last_chunk_is_a_transport_error(
    transport, no_proxy_env
) -> None:
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    with _scripted(close(cut)) as server, pytest.raises(wire.TransportError) as info:
        transport.request("GET", server.url)
    assert info.value.kind == "IncompleteRead"


def test_the_request_head_has_host_with_its_port_and_asks_for_no_content_coding(
    transport, no_proxy_env
) -> None:
    with _scripted(keep(OK2), keep(OK2)) as server:
        transport.request("GET", f"{server.url}/a", headers={"Accept": "x/y"})
        transport.request("POST", f"{server.url}/b")
    port = urlsplit(server.url).port
    get, post = (dict(_fields(head)) for head in server.heads)
    assert get["host"] == f"127.0.0.1:{port}"
    assert get["accept"] == "x/y"
    assert get["accept-encoding"] == "identity"
    assert "content-length" not in get
    assert post["content-length"] == "0"  # a POST without a body still says so


def _fields(head: bytes) -> Iterator[tuple[str, str]]:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        yield name.lower(), value.strip()


def test_a_line_break_in_a_header_value_is_never_sent(transport, no_proxy_env) -> None:
    with _scripted(keep(OK2)) as server, pytest.raises(wire.TransportError) as info:
        transport.request("GET", server.url, headers={"X-Evil": "a\r\nHost: other"})
    assert info.value.kind == "InvalidHeader"
    assert server.seen == []


# --- faults --------------------------------------------------------------------------------


@contextlib.contextmanager
def _raw_server(reply: bytes | None, hold: float = 0.0) -> Iterator[str]:
    """Accept connections; read what comes; send ``reply`` (None: nothing) and hang up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            with conn:
                conn.recv(65536)
                if reply is not None:
                    conn.sendall(reply)
                stop.wait(hold)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_refused_dropped_and_timed_out_are_told_apart(transport, no_proxy_env) -> None:
    with pytest.raises(wire.TransportError) as refused:
        transport.request("GET", f"http://127.0.0.1:{free_port()}/", timeout=5)
    assert refused.value.refused is True
    assert refused.value.kind == "ConnectionRefusedError"
    with pytest.raises(wire.TransportError) as unknown:
        transport.request("GET", "http://registry.invalid/", timeout=5)  # RFC 2606: never resolves
    assert unknown.value.refused is True
    with _raw_server(b"") as url, pytest.raises(wire.TransportError) as dropped:
        transport.request("GET", url, timeout=5)
    assert dropped.value.refused is False
    assert dropped.value.kind == "RemoteDisconnected"
    with _raw_server(None, hold=3) as url, pytest.raises(wire.TransportError) as slow:
        transport.request("GET", url, timeout=0.3)
    assert slow.value.refused is False
    assert slow.value.kind == "TimeoutError"


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_https_without_checks_reaches_a_self_signed_server_and_with_checks_refuses_it(
    origin, transport, server_tls
) -> None:
    server = origin(ok(b"secure"), tls=server_tls)
    assert transport.request("GET", server.url, verify=False).content == b"secure"
    assert transport.request("GET", server.url, verify=False).content == b"secure"
    assert len(server.peers) == 1  # TLS connections are pooled too
    with pytest.raises(wire.TransportError) as info:
        transport.request("GET", server.url, verify=True)
    assert info.value.kind == "SSLCertVerificationError"
    assert info.value.refused is False


# --- proxies -------------------------------------------------------------------------------


class ProxyServer(socketserver.ThreadingTCPServer):
    """A loopback proxy: CONNECT tunnels and absolute-form forwarding; ``registry.test`` is
    127.0.0.1 to it. Records (method, target, headers); wants ``auth`` when set."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, auth: str = "") -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.auth = auth
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.port = self.server_address[1]


class ProxyHandler(socketserver.StreamRequestHandler):
    server: ProxyServer

    def handle(self) -> None:
        method, target, _ = self.rfile.readline().decode("latin-1").split()
        headers: dict[str, str] = {}
        while (line := self.rfile.readline()) not in {b"\r\n", b"\n", b""}:
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        self.server.seen.append((method, target, headers))
        if self.server.auth and headers.get("proxy-authorization") != self.server.auth:
            self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")  # fmt: skip
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((_resolve(host), int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            upstream = socket.create_connection((_resolve(url.hostname or ""), url.port or 80))
            kept = "".join(
                f"{k}: {v}\r\n" for k, v in headers.items() if not k.startswith("proxy-")
            )
            path = url.path + (f"?{url.query}" if url.query else "")
            upstream.sendall(
                f"{method} {path} HTTP/1.1\r\n{kept}Connection: close\r\n\r\n".encode()
            )
        with upstream:
            back = threading.Thread(
                target=_pipe_back, args=(upstream, self.connection), daemon=True
            )
            back.start()
            while data := self.rfile.read1(65536):
                upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)
            back.join(10)


def _pipe_back(upstream: socket.socket, client: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := upstream.recv(65536):
            client.sendall(data)
        client.shutdown(socket.SHUT_WR)


def _resolve(host: str) -> str:
    return "127.0.0.1" if host == "registry.test" else host


@pytest.fixture
def proxy() -> Iterator[Callable[..., ProxyServer]]:
    started: list[ProxyServer] = []

    def start(auth: str = "") -> ProxyServer:
        server = ProxyServer(auth)
        started.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_https_goes_through_a_connect_tunnel_with_proxy_credentials(
    origin, transport, proxy, server_tls, no_proxy_env
) -> None:
    server = origin(ok(b"tunnelled"), tls=server_tls)
    port = urlsplit(server.url).port
    via = proxy(auth=_basic("user", "s3cr:et"))
    no_proxy_env.setenv("HTTPS_PROXY", f"http://user:s3cr%3Aet@127.0.0.1:{via.port}")
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # not for https
    resp = transport.request("GET", f"https://registry.test:{port}/v2/", verify=False)
    assert resp.content == b"tunnelled"
    assert [(m, t) for m, t, _ in via.seen] == [("CONNECT", f"registry.test:{port}")]
    assert via.seen[0][2]["proxy-authorization"] == _basic("user", "s3cr:et")
    assert server.seen[0].path == "/v2/"
    assert "proxy-authorization" not in server.seen[0].headers  # the tunnel hides it


def test_http_goes_to_the_proxy_in_absolute_form(origin, transport, proxy, no_proxy_env) -> None:
    server = origin(ok(b"forwarded"))
    port = urlsplit(server.url).port
    via = proxy(auth=_basic("u", "pw"))
    no_proxy_env.setenv("http_proxy", f"127.0.0.1:{via.port}")  # no scheme: http, as in Go
    no_proxy_env.setenv("HTTP_PROXY", f"http://u:pw@127.0.0.1:{via.port}")  # upper case wins
    resp = transport.request("GET", f"http://registry.test:{port}/v2/x", params={"n": "1"})
    assert resp.content == b"forwarded"
    method, target, headers = via.seen[0]
    assert (method, target) == ("GET", f"http://registry.test:{port}/v2/x?n=1")
    assert headers["proxy-authorization"] == _basic("u", "pw")
    assert server.seen[0].path == "/v2/x?n=1"


def test_proxy_credentials_never_show_in_errors(transport, proxy, no_proxy_env) -> None:
    wrong = proxy(auth=_basic("user", "other"))
    no_proxy_env.setenv("HTTPS_PROXY", f"http://user:hunter2@127.0.0.1:{wrong.port}")
    with pytest.raises(wire.TransportError) as info:
        transport.request("GET", "https://registry.test:1/v2/", verify=False)
    assert "407" in str(info.value)
    assert "hunter2" not in f"{info.value} {info.value.__cause__!r}"
    assert "aHVudGVyMg" not in f"{info.value} {info.value.__cause__!r}"  # nor base64'd
    gone = free_port()
    no_proxy_env.setenv("HTTPS_PROXY", f"http://user:hunter2@127.0.0.1:{gone}")
    with pytest.raises(wire.TransportError) as info:
        transport.request("GET", "https://registry.test/v2/")
    assert info.value.refused is False  # the proxy is down, not the registry
    assert f"via proxy 127.0.0.1:{gone}" in str(info.value)
    assert "hunter2" not in f"{info.value} {info.value.__cause__!r}"
    client = RegistryClient(retries=0)
    with pytest.raises(RegistryError) as failed:
        client.list_tags(ImageRef.parse("registry.test/a/b"))
    assert "cannot reach registry.test" in str(failed.value)
    assert "hunter2" not in str(failed.value)


def _own_address() -> str:
    """This machine's address on its default route (not loopback), for a direct connection."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        return str(probe.getsockname()[0])


def test_no_proxy_and_loopback_go_direct_and_other_hosts_through_the_proxy(
    origin, transport, proxy, no_proxy_env
) -> None:
    address = _own_address()
    server = origin(ok(b"direct"), host=address)
    local = origin(ok(b"local"))
    via = proxy()
    no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{via.port}")
    assert transport.request("GET", f"{server.url}/proxied").content == b"direct"
    assert [t for _, t, _ in via.seen] == [f"{server.url}/proxied"]
    no_proxy_env.setenv("NO_PROXY", f"example.com, {address}")
    assert transport.request("GET", f"{server.url}/bypass").content == b"direct"
    assert transport.request("GET", f"{local.url}/loop").content == b"local"
    port = urlsplit(local.url).port
    assert transport.request("GET", f"http://localhost:{port}/name").content == b"local"
    assert len(via.seen) == 1  # neither NO_PROXY's host nor loopback went through it
    assert [s.path for s in server.seen] == ["/proxied", "/bypass"]


@pytest.mark.parametrize(
    ("scheme", "host", "port", "env", "proxied"),
    [
        ("https", "r.io", 443, {"HTTPS_PROXY": "http://p:1"}, True),
        ("http", "r.io", 80, {"HTTPS_PROXY": "http://p:1"}, False),
        ("http", "r.io", 80, {"http_proxy": "p:1"}, True),
        ("https", "r.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, False),
        ("https", "a.r.io", 443, {"HTTPS_PROXY": "http://p:1", "no_proxy": "r.io"}, False),
        ("https", "r.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "r.io"}, False),
        ("https", "r.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".r.io"}, True),
        ("https", "a.r.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".r.io"}, False),
        ("https", "a.r.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*.r.io"}, False),
        ("https", "xr.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "r.io"}, True),
        ("https", "r.io", 5000, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "r.io:5000"}, False),
        ("https", "r.io", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "r.io:5000"}, True),
        ("https", "10.1.2.3", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, False),
        ("https", "10.1.2.3", 443, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.1.2.4"}, True),
        ("https", "127.0.0.2", 443, {"HTTPS_PROXY": "http://p:1"}, False),
        ("https", "::1", 443, {"HTTPS_PROXY": "http://p:1"}, False),
        ("https", "localhost", 443, {"HTTPS_PROXY": "http://p:1"}, False),
        ("https", "r.io", 443, {}, False),
    ],
)
def test_proxy_for_reads_the_environment_as_go_does(
    scheme: str, host: str, port: int, env: dict[str, str], proxied: bool
) -> None:
    assert (wire.proxy_for(scheme, host, port, env) is not None) is proxied


def test_proxy_for_puts_credentials_in_a_header_never_in_its_repr() -> None:
    found = wire.proxy_for("https", "r.io", 443, {"HTTPS_PROXY": "http://a%40b:p%2Fw@p:3128"})
    assert found is not None
    assert (found.host, found.port) == ("p", 3128)
    assert found.authorization == _basic("a@b", "p/w")
    assert "p/w" not in repr(found)


@pytest.mark.parametrize("value", ["socks5://u:pw@p:1080", "https://u:pw@p", "http://u:pw@p:port"])
def test_a_proxy_url_that_is_not_plain_http_is_an_error_naming_the_variable_not_the_value(
    value: str,
) -> None:
    with pytest.raises(wire.TransportError, match=r"\$HTTPS_PROXY is not an http://") as info:
        wire.proxy_for("https", "r.io", 443, {"HTTPS_PROXY": value})
    assert "pw" not in str(info.value)
