"""multiarch_tasks.registry.transport against real loopback servers.

Framing (chunked, close-framed, keep-alive, cut bodies, HEAD/204, interim answers) against
scripted raw servers; pooling, streaming, redirects, TLS with docker's certs.d, proxies
and deadlines against small real servers. Nothing is mocked.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry import transport
from multiarch_tasks.registry.client import RegistryClient
from multiarch_tasks.registry.faults import TransportError
from multiarch_tasks.registry.proxies import proxy_for
from multiarch_tasks.registry.tls import CERTS_D_VAR
from multiarch_tasks.registry.transport import Transport
from testbed.certs import Pair, certs_d, make_ca, make_leaf
from testbed.connect_proxy import ConnectProxy
from testbed.raw_server import close, continue_forever, keep, scripted, trickle
from testbed.registry import free_port

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
OK2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No proxy from the machine; an empty certs.d root."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(CERTS_D_VAR, str(tmp_path / "certs.d"))
    return monkeypatch


@pytest.fixture
def http() -> Iterator[Transport]:
    t = Transport()
    yield t
    t.close()


# --- a keep-alive origin server ----------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]


Answer = Callable[[Seen], tuple[int, dict[str, str], bytes]]


@dataclass
class Origin:
    answer: Answer
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    @property
    def peers(self) -> set[tuple[str, int]]:
        return {s.peer for s in self.seen}


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    out = bytearray()
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        out += handler.rfile.read(size)
        handler.rfile.readline()
    handler.rfile.readline()
    return bytes(out)


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            if headers.get("transfer-encoding") == "chunked":
                body = _read_chunked(self)
            else:
                body = self.rfile.read(int(headers.get("content-length") or 0))
            seen = Seen(self.command, self.path, headers, body, self.client_address[:2])
            origin.seen.append(seen)
            status, out, data = origin.answer(seen)
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = _any  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def origin() -> Iterator[Callable[..., Origin]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        made = Origin(answer)
        server = ThreadingHTTPServer((host, 0), _handler(made))
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


def ok(body: bytes = b"ok", **headers: str) -> Answer:
    return lambda _: (200, headers, body)


# --- pooling and bodies ------------------------------------------------------------------


def test_requests_to_one_server_reuse_one_kept_alive_connection(origin, http) -> None:
    server = origin(lambda s: (200, {}, s.path.encode()))
    for n in range(5):
        assert http.request("GET", f"{server.url}/{n}", timeout=5).content == f"/{n}".encode()
    assert len(server.peers) == 1


def test_threads_share_the_pool_and_each_gets_its_own_answer(origin, http) -> None:
    server = origin(lambda s: (200, {}, s.path.encode()))
    results: dict[int, bytes] = {}

    def work(n: int) -> None:
        for k in range(4):
            results[n * 10 + k] = http.request("GET", f"{server.url}/{n * 10 + k}").content

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: f"/{k}".encode() for k in results}
    assert len(results) == 24
    assert len(server.peers) <= 6


def test_an_iterable_body_goes_chunked_or_with_the_content_length_it_is_given(origin, http) -> None:
    server = origin(ok())
    parts = [os.urandom(100_000), b"", os.urandom(3), os.urandom(70_000)]
    size = str(sum(map(len, parts)))
    http.request("PUT", f"{server.url}/gen", body=(p for p in parts))
    http.request("PUT", f"{server.url}/sized", body=iter(parts), headers={"Content-Length": size})
    big = os.urandom(3 * transport.PIECE + 5)
    http.request("PUT", f"{server.url}/bytes", body=big)
    gen, sized, whole = server.seen
    assert gen.headers.get("transfer-encoding") == "chunked"
    assert gen.body == b"".join(parts)
    assert sized.headers.get("content-length") == size
    assert "transfer-encoding" not in sized.headers
    assert sized.body == b"".join(parts)
    assert whole.headers["content-length"] == str(len(big))
    assert whole.body == big


def test_params_join_a_query_the_url_already_has(origin, http) -> None:
    server = origin(ok())
    http.request("PUT", f"{server.url}/up?_state=a%2Bb", params={"digest": "sha256:ab cd"})
    http.request("GET", f"{server.url}/t", params=[("scope", "x"), ("scope", "y")])
    assert [s.path for s in server.seen] == [
        "/up?_state=a%2Bb&digest=sha256%3Aab+cd",
        "/t?scope=x&scope=y",
    ]


def test_a_streamed_body_comes_in_bounded_chunks_and_an_early_close_drops_its_connection(
    origin, http
) -> None:
    data = os.urandom(5 << 20)
    server = origin(ok(data))
    resp = http.request("GET", f"{server.url}/big", stream=True)
    chunks = list(resp.iter_content(1 << 16))
    assert max(map(len, chunks)) <= 1 << 16
    assert b"".join(chunks) == data
    http.request("GET", f"{server.url}/again")
    assert len(server.peers) == 1  # read to the end: the connection went back to the pool
    resp = http.request("GET", f"{server.url}/big", stream=True)
    assert len(next(resp.iter_content(1 << 16))) == 1 << 16
    resp.close()  # the rest of the body is on that connection: it cannot be reused
    http.request("GET", f"{server.url}/third")
    assert len(server.peers) == 2


def test_links_json_text_and_the_first_value_of_a_repeated_field(http) -> None:
    reply = (
        b"HTTP/1.1 401 Unauthorized\r\n"
        b'WWW-Authenticate: Bearer realm="https://auth/token",service="r"\r\n'
        b'www-authenticate: Basic realm="r"\r\n'
        b'Link: </a?last=1>; rel="next"\r\nLink: <https://x/y>; rel=prev; title="t"\r\n'
        b"Content-Type: application/json; charset=utf-8\r\n"
        b'Content-Length: 15\r\n\r\n{"tags": ["a"]}'
    )
    with scripted(keep(reply)) as server:
        resp = http.request("GET", f"{server.url}/v2/")
    assert resp.header("WWW-Authenticate") == 'Bearer realm="https://auth/token",service="r"'
    assert resp.headers.getlist("www-authenticate")[1] == 'Basic realm="r"'
    assert resp.links == {
        "next": {"url": "/a?last=1", "rel": "next"},
        "prev": {"url": "https://x/y", "rel": "prev", "title": "t"},
    }
    assert resp.json() == {"tags": ["a"]}
    assert resp.header("Retry-After") == ""


# --- framing, against scripted raw servers -------------------------------------------------


def test_a_chunked_body_is_decoded_past_extensions_and_trailers_and_the_connection_kept(
    http,
) -> None:
    body = (
        b"5;name=value\r\nhello\r\n"
        b'1A ; x="y"\r\n' + b"z" * 26 + b"\r\n"
        b"0;last\r\nDigest: sha-256=abc\r\nX-Trailer: 1\r\n\r\n"
    )
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    with scripted(keep(chunked), keep(chunked), keep(OK2)) as server:
        assert http.request("GET", f"{server.url}/a").content == b"hello" + b"z" * 26
        streamed = http.request("GET", f"{server.url}/b", stream=True)
        assert b"".join(streamed.iter_content(4)) == b"hello" + b"z" * 26
        assert http.request("GET", f"{server.url}/c").content == b"ok"
    assert [number for number, _ in server.seen] == [0, 0, 0]


def test_head_204_and_304_have_no_body_whatever_their_content_length_says(http) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nDocker-Content-Digest: sha256:1\r\n\r\n"
    empty = b"HTTP/1.1 204 No Content\r\n\r\n"
    same = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
    with scripted(keep(head), keep(empty), keep(same), keep(OK2)) as server:
        resp = http.request("HEAD", f"{server.url}/m", timeout=5)
        assert (resp.status_code, resp.content) == (200, b"")
        assert resp.header("Content-Length") == "1000"
        assert resp.header("docker-content-digest") == "sha256:1"
        assert http.request("DELETE", f"{server.url}/d", timeout=5).status_code == 204
        assert http.request("GET", f"{server.url}/n", timeout=5).status_code == 304
        # Had any of them waited for a body, this answer would have been taken as one.
        assert http.request("GET", f"{server.url}/x", timeout=5).content == b"ok"
    assert {number for number, _ in server.seen} == {0}


def test_a_body_without_length_runs_until_the_server_closes_and_its_connection_goes(
    http,
) -> None:
    unframed = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it\r\nand more"
    with scripted(close(unframed), keep(OK2)) as server:
        assert http.request("GET", f"{server.url}/a").content == b"all of it\r\nand more"
        assert http.request("GET", f"{server.url}/b").content == b"ok"
    assert server.seen == [(0, "GET /a HTTP/1.1"), (1, "GET /b HTTP/1.1")]


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["http-1.0", "connection-close"],
)
def test_an_http_1_0_or_connection_close_answer_is_not_reused(first: bytes, http) -> None:
    # The server keeps the connection open: only the client's reading of the answer counts.
    with scripted(keep(first), keep(OK2)) as server:
        assert http.request("GET", f"{server.url}/a").content == b"ok"
        assert http.request("GET", f"{server.url}/b").content == b"ok"
    assert [number for number, _ in server.seen] == [0, 1]


def test_a_100_continue_before_the_answer_is_skipped_and_the_connection_kept(http) -> None:
    created = b"HTTP/1.1 201 Created\r\nLocation: /v2/a/blobs/sha256:1\r\nContent-Length: 0\r\n\r\n"
    with scripted(keep(b"HTTP/1.1 100 Continue\r\n\r\n" + created), keep(OK2)) as server:
        resp = http.request("PUT", f"{server.url}/up", body=b"")
        assert (resp.status_code, resp.header("Location")) == (201, "/v2/a/blobs/sha256:1")
        assert http.request("GET", f"{server.url}/b").content == b"ok"
    assert {number for number, _ in server.seen} == {0}


def test_another_interim_answer_as_the_answer_is_malformed(http) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
    with scripted(keep(early)) as server, pytest.raises(TransportError) as info:
        http.request("GET", server.url)
    assert info.value.malformed is True
    assert "103" in str(info.value)


@pytest.mark.parametrize("stream", [False, True])
def test_a_body_cut_short_is_a_dropped_connection_not_a_malformed_answer(
    stream: bool, http
) -> None:
    cut_chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly"
    cut_length = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten.."
    for reply in (cut_chunked, cut_length):
        with scripted(close(reply)) as server, pytest.raises(TransportError) as info:
            b"".join(http.request("GET", server.url, stream=stream).iter_content(1024))
        assert info.value.malformed is False
        assert info.value.refused is False
        assert "IncompleteRead" in str(info.value)


def test_the_request_head_has_host_with_its_port_and_asks_for_no_content_coding(http) -> None:
    with scripted(keep(OK2), keep(OK2)) as server:
        http.request("GET", f"{server.url}/a", headers={"Accept": "x/y"})
        http.request("POST", f"{server.url}/b")
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


def test_a_line_break_in_a_header_value_is_never_sent(http) -> None:
    with scripted(keep(OK2)) as server, pytest.raises(TransportError) as info:
        http.request("GET", server.url, headers={"X-Evil": "a\r\nHost: other"})
    assert info.value.kind == "InvalidHeader"
    assert server.seen == []


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [b"\x15\x03\x01\x00\x02\x02\x0a", b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 2OO OK\r\n\r\n"],
    ids=["tls-alert", "ssh-banner", "bad-status"],
)
def test_an_answer_that_is_not_http_is_malformed_not_refused(reply: bytes, http) -> None:
    with scripted(close(reply)) as server, pytest.raises(TransportError) as info:
        http.request("GET", server.url, timeout=5)
    assert info.value.malformed is True
    assert info.value.refused is False
    assert str(info.value).isprintable()


def test_refused_dropped_and_silent_are_told_apart(http) -> None:
    with pytest.raises(TransportError) as refused:
        http.request("GET", f"http://127.0.0.1:{free_port()}/", timeout=5)
    assert refused.value.refused is True
    assert refused.value.kind == "ConnectionRefusedError"
    with pytest.raises(TransportError) as unknown:
        http.request("GET", "http://registry.invalid/", timeout=5)  # RFC 2606: never resolves
    assert unknown.value.refused is True
    with scripted(close(b"")) as server, pytest.raises(TransportError) as dropped:
        http.request("GET", server.url, timeout=5)
    assert (dropped.value.refused, dropped.value.malformed) == (False, False)
    assert dropped.value.kind == "RemoteDisconnected"
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    with listener, pytest.raises(TransportError) as silent:
        http.request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.5)
    assert (silent.value.refused, silent.value.late) == (False, False)
    assert silent.value.kind == "ReadTimeoutError"


# --- deadlines -------------------------------------------------------------------------------


def test_a_server_trickling_its_answer_misses_the_deadline_though_no_read_times_out(
    http,
) -> None:
    with trickle(interval=0.2) as server:
        start = time.monotonic()
        with pytest.raises(TransportError) as info:
            http.request("GET", server.url, timeout=1)
    took = time.monotonic() - start
    assert info.value.late is True
    assert 1 + transport.GRACE - 0.1 <= took < 1 + transport.GRACE + 1.5


def test_endless_100_continue_answers_miss_the_deadline(http) -> None:
    with continue_forever(interval=0.2) as server:
        start = time.monotonic()
        with pytest.raises(TransportError) as info:
            http.request("GET", server.url, timeout=1)
    assert info.value.late is True
    assert time.monotonic() - start < 1 + transport.GRACE + 1.5


def test_the_deadline_covers_every_hop_of_a_redirect(origin, http) -> None:
    with trickle(interval=0.2) as slow:
        server = origin(lambda _: (307, {"Location": f"{slow.url}/blob"}, b""))
        start = time.monotonic()
        with pytest.raises(TransportError) as info:
            http.request("GET", f"{server.url}/v2/", timeout=1)
    assert info.value.late is True
    assert time.monotonic() - start < 1 + transport.GRACE + 1.5
    assert slow.seen == [(0, "GET /blob HTTP/1.1")]


def test_a_streamed_body_has_the_whole_time_for_each_chunk_not_for_all_of_them(
    origin, http
) -> None:
    data = os.urandom(4 << 20)
    server = origin(ok(data))
    resp = http.request("GET", f"{server.url}/big", stream=True, timeout=0.5)
    got = bytearray()
    for chunk in resp.iter_content(1 << 20):
        got += chunk
        time.sleep(0.4)  # slower in total than the deadline; each chunk is within it
    assert bytes(got) == data


def test_a_late_request_is_not_retried_and_says_so_in_one_line() -> None:
    with continue_forever(interval=0.2) as server:
        host = urlsplit(server.url).netloc
        client = RegistryClient(retries=3, timeout=1, backoff=0.01)
        with pytest.raises(RegistryError) as info:
            client.list_tags(ImageRef.parse(f"{host}/a/b"))
    message = str(info.value)
    assert "\n" not in message
    assert host in message
    assert "no complete answer" in message
    assert len(server.seen) == 1  # one request; the HTTPS probe after it sent no HTTP head


def test_a_malformed_answer_is_not_retried_and_names_the_registry() -> None:
    junk = b"SSH-2.0-OpenSSH_9.6\r\n"
    with scripted(*[close(junk)] * 5) as server:
        host = urlsplit(server.url).netloc
        client = RegistryClient(retries=3, timeout=1, backoff=0.01)
        with pytest.raises(RegistryError) as info:
            client.list_tags(ImageRef.parse(f"{host}/a/b"))
    assert f"{host} answered badly" in str(info.value)
    assert "cannot reach" not in str(info.value)
    assert len(server.seen) == 1  # one request; the HTTPS probe after it sent no HTTP head


# --- redirects -----------------------------------------------------------------------------


def test_authorization_follows_a_redirect_only_to_the_same_scheme_host_and_port(
    origin, http
) -> None:
    other_port = origin(ok(b"blob"))
    registry = origin(
        lambda s: (
            (307, {"Location": f"{other_port.url}/b"}, b"")
            if s.path == "/away"
            else (302, {"Location": "/away"}, b"")
        )
    )
    resp = http.request("GET", f"{registry.url}/start", headers={"Authorization": "Bearer t"})
    assert resp.content == b"blob"
    assert resp.url == f"{other_port.url}/b"
    assert [s.headers.get("authorization") for s in registry.seen] == ["Bearer t", "Bearer t"]
    assert "authorization" not in other_port.seen[0].headers


def test_a_redirect_from_https_to_http_on_the_same_host_and_port_drops_authorization(
    http, tls_files: dict[str, Pair]
) -> None:
    # One port, two answers: TLS first (the registry), then plain HTTP (where it points).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["server"].cert, tls_files["server"].key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    heads: list[bytes] = []

    def serve() -> None:
        for wrap in (True, False):
            conn, _ = listener.accept()
            with conn:
                sock = context.wrap_socket(conn, server_side=True) if wrap else conn
                heads.append(sock.recv(65536))
                reply = (
                    f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{port}/b\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                    if wrap
                    else OK2
                )
                sock.sendall(reply)
                sock.close()

    threading.Thread(target=serve, daemon=True).start()
    with listener:
        resp = http.request(
            "GET", f"https://127.0.0.1:{port}/a", headers={"Authorization": "Bearer t"},
            verify=False, timeout=5,
        )  # fmt: skip
    assert resp.content == b"ok"
    assert b"authorization: bearer t" in heads[0].lower()
    assert b"authorization" not in heads[1].lower()


def test_a_streamed_upload_is_sent_once_so_its_redirect_is_the_answer(origin, http) -> None:
    target = origin(ok())
    server = origin(lambda _: (307, {"Location": f"{target.url}/x"}, b""))
    resp = http.request("PUT", f"{server.url}/up", body=iter([b"a", b"b"]))
    assert resp.status_code == 307
    assert target.seen == []


# --- TLS and docker's certs.d -------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pair]:
    root = tmp_path_factory.mktemp("pki")
    ca = make_ca(root / "ca")
    return {
        "ca": ca,
        "server": make_leaf(ca, root / "server", "server", ["IP:127.0.0.1", "DNS:registry.test"]),
        "client": make_leaf(ca, root / "client", "client", [], client=True),
    }


def _server_context(files: dict[str, Pair], *, want_client: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["server"].cert, files["server"].key)
    if want_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(files["ca"].cert)
    return context


def test_a_ca_in_certs_d_makes_a_registry_trusted_for_its_host_and_port_only(
    origin, http, tls_files, tmp_path: Path
) -> None:
    server = origin(ok(b"secure"), tls=_server_context(tls_files))
    with pytest.raises(TransportError) as info:
        http.request("GET", server.url, timeout=5)
    assert info.value.kind == "SSLCertVerificationError CERTIFICATE_VERIFY_FAILED"
    certs_d(tmp_path / "certs.d", urlsplit(server.url).netloc, ca=tls_files["ca"])
    assert http.request("GET", server.url, timeout=5).content == b"secure"
    again = origin(ok(b"other"), tls=_server_context(tls_files))  # another port: not trusted
    with pytest.raises(TransportError):
        http.request("GET", again.url, timeout=5)


def test_a_client_certificate_from_certs_d_is_sent_even_without_certificate_checks(
    origin, http, tls_files, tmp_path: Path
) -> None:
    server = origin(ok(b"mutual"), tls=_server_context(tls_files, want_client=True))
    with pytest.raises(TransportError):
        http.request("GET", server.url, verify=False, timeout=5)
    certs_d(tmp_path / "certs.d", urlsplit(server.url).netloc, client=tls_files["client"])
    assert http.request("GET", server.url, verify=False, timeout=5).content == b"mutual"


def test_a_client_cert_without_its_key_is_an_error_naming_the_file(
    http, tls_files, tmp_path: Path
) -> None:
    folder = certs_d(tmp_path / "certs.d", "registry.test", client=tls_files["client"])
    (folder / "client.key").unlink()
    with pytest.raises(RegistryError, match=r"client\.cert has no client\.key"):
        http.request("GET", "https://registry.test/v2/", timeout=5)


# --- proxies ---------------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def proxies() -> Iterator[Callable[..., ConnectProxy]]:
    started: list[ConnectProxy] = []

    def start(**options: object) -> ConnectProxy:
        proxy = ConnectProxy(hosts={"registry.test": "127.0.0.1"}, **options).start()  # type: ignore[arg-type]
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def test_https_goes_through_a_connect_tunnel_with_proxy_credentials(
    origin, http, proxies, tls_files, clean_env
) -> None:
    server = origin(ok(b"tunnelled"), tls=_server_context(tls_files))
    port = urlsplit(server.url).port
    via = proxies(auth=_basic("user", "s3cr:et"))
    clean_env.setenv("HTTPS_PROXY", f"http://user:s3cr%3Aet@127.0.0.1:{via.port}")
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # not for https
    resp = http.request("GET", f"https://registry.test:{port}/v2/", verify=False)
    assert resp.content == b"tunnelled"
    assert [(s.method, s.target) for s in via.seen] == [("CONNECT", f"registry.test:{port}")]
    assert via.seen[0].headers["proxy-authorization"] == _basic("user", "s3cr:et")
    assert "proxy-authorization" not in server.seen[0].headers  # the tunnel hides it


def test_an_https_proxy_is_spoken_to_in_tls_and_tunnels_to_the_registry(
    origin, http, proxies, tls_files, clean_env
) -> None:
    server = origin(ok(b"through tls"), tls=_server_context(tls_files))
    port = urlsplit(server.url).port
    via = proxies(tls=_server_context(tls_files))
    clean_env.setenv("SSL_CERT_FILE", str(tls_files["ca"].cert))  # trust for the proxy
    clean_env.setenv("https_proxy", via.url)
    resp = http.request("GET", f"https://registry.test:{port}/v2/")
    assert resp.content == b"through tls"
    assert [(s.method, s.target) for s in via.seen] == [("CONNECT", f"registry.test:{port}")]


def test_http_goes_to_the_proxy_in_absolute_form(origin, http, proxies, clean_env) -> None:
    server = origin(ok(b"forwarded"))
    port = urlsplit(server.url).port
    via = proxies(auth=_basic("u", "pw"))
    clean_env.setenv("http_proxy", f"127.0.0.1:{free_port()}")  # lower case loses to upper
    clean_env.setenv("HTTP_PROXY", f"http://u:pw@127.0.0.1:{via.port}")
    resp = http.request("GET", f"http://registry.test:{port}/v2/x", params={"n": "1"})
    assert resp.content == b"forwarded"
    assert (via.seen[0].method, via.seen[0].target) == (
        "GET",
        f"http://registry.test:{port}/v2/x?n=1",
    )
    assert via.seen[0].headers["proxy-authorization"] == _basic("u", "pw")
    assert server.seen[0].path == "/v2/x?n=1"


def test_proxy_credentials_never_show_in_errors(http, proxies, clean_env) -> None:
    wrong = proxies(auth=_basic("user", "other"))
    clean_env.setenv("HTTPS_PROXY", f"http://user:hunter2@127.0.0.1:{wrong.port}")
    with pytest.raises(TransportError) as info:
        http.request("GET", "https://registry.test:1/v2/", verify=False)
    assert "407" in str(info.value)
    gone = free_port()
    clean_env.setenv("HTTPS_PROXY", f"http://user:hunter2@127.0.0.1:{gone}")
    with pytest.raises(TransportError) as down:
        http.request("GET", "https://registry.test/v2/")
    assert down.value.refused is False  # the proxy is down, not the registry
    assert f"via proxy 127.0.0.1:{gone}" in str(down.value)
    client = RegistryClient(retries=0)
    with pytest.raises(RegistryError) as failed:
        client.list_tags(ImageRef.parse("registry.test/a/b"))
    assert "cannot reach registry.test" in str(failed.value)
    for err in (info.value, down.value, failed.value):
        text = f"{err} {err.__cause__!r}"
        assert "hunter2" not in text
        assert "aHVudGVyMg" not in text  # nor base64'd


@pytest.mark.parametrize(
    ("scheme", "host", "port", "env", "proxied"),
    [
        ("https", "r.io", 443, {"HTTPS_PROXY": "http://p:1"}, True),
        ("https", "r.io", 443, {"HTTPS_PROXY": "https://p:1"}, True),
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
    assert (proxy_for(scheme, host, port, env) is not None) is proxied


def test_proxy_for_puts_credentials_in_a_header_never_in_its_url_or_repr() -> None:
    found = proxy_for("https", "r.io", 443, {"HTTPS_PROXY": "https://a%40b:p%2Fw@p:3128"})
    assert found is not None
    assert found.url == "https://p:3128"
    assert found.authorization == _basic("a@b", "p/w")
    assert "p/w" not in repr(found)


@pytest.mark.parametrize(
    "value", ["socks5://u:pw@p:1080", "http://u:pw@p:port", "http://u:pw@:8080"]
)
def test_a_proxy_url_that_cannot_be_used_is_an_error_naming_the_variable_not_the_value(
    value: str,
) -> None:
    with pytest.raises(RegistryError, match=r"\$HTTPS_PROXY is not an http:// or https://") as info:
        proxy_for("https", "r.io", 443, {"HTTPS_PROXY": value})
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("framing", "detail"),
    [
        (b"Content-Length: 5000\r\n\r\n" + b"x" * 5000, "Content-Length 5000"),
        (b"Transfer-Encoding: chunked\r\n\r\n" + b"7d0\r\n" + b"x" * 2000 + b"\r\n" * 1, ""),
    ],
    ids=["declared", "chunked"],
)
def test_a_body_read_whole_over_the_limit_fails_naming_it_and_a_head_never_does(
    framing: bytes, detail: str
) -> None:
    reply = b"HTTP/1.1 200 OK\r\n" + framing
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    with scripted(keep(head), close(reply)) as server:
        http = transport.Transport(limit=1000)
        assert http.request("HEAD", f"{server.url}/v2/").status_code == 200
        with pytest.raises(TransportError) as caught:
            http.request("GET", f"{server.url}/v2/")
    assert caught.value.too_large == 1000
    assert detail in str(caught.value)
