"""The registry client's HTTP as users meet it: real `multiarch` commands, real registries.

Redirects that leave TLS or the port drop ``Authorization``; a registry that wants a client
certificate gets the one docker's ``certs.d`` holds; an ``https://`` proxy is used or
skipped as ``HTTPS_PROXY``/``NO_PROXY`` say; a registry that trickles its answer or sends
``100 Continue`` forever fails the command within the ``timeout`` setting.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import socket
import socketserver
import ssl
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from multiarch_tasks.model import oci
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from multiarch_tasks.registry.tls import CERTS_D_VAR
from testbed import images
from testbed.certs import Pair, certs_d, make_ca, make_leaf
from testbed.connect_proxy import ConnectProxy
from testbed.raw_server import continue_forever, trickle
from testbed.registry import Registry, RegistryConfig, htpasswd_file
from tests.conftest import one_line_error, run_cli

pytestmark = pytest.mark.e2e

MACHINES = {"linux/amd64": 62, "linux/arm64": 183}
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _needs_registry(registry: Registry) -> None:
    """The session registry fixture skips (fails in CI) when docker-registry is missing."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pair]:
    root = tmp_path_factory.mktemp("pki")
    ca = make_ca(root / "ca")
    sans = ["IP:127.0.0.1", f"IP:{_own_address()}", "DNS:registry.test"]
    return {
        "ca": ca,
        "server": make_leaf(ca, root / "server", "server", sans),
        "client": make_leaf(ca, root / "client", "client", [], client=True),
    }


def _own_address() -> str:
    """This machine's address on its default route (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        return str(probe.getsockname()[0])


def _elf(machine: int) -> bytes:
    return (
        b"\x7fELF"
        + bytes([2, 1, 1])
        + bytes(9)
        + (2).to_bytes(2, "little")
        + (machine.to_bytes(2, "little") + bytes(44))
    )


def _layer(machine: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = _elf(machine)
        info = tarfile.TarInfo("bin/app")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def push_index(client: RegistryClient, ref: ImageRef) -> str:
    """Push a two-platform index (an ELF binary of the right machine in each) at ``ref``."""
    manifests = []
    for name, machine in MACHINES.items():
        os_, arch = name.split("/")
        desc, _ = images.push_image(
            client, ref, {"os": os_, "architecture": arch}, [_layer(machine)]
        )
        manifests.append(
            {
                "mediaType": desc.media_type,
                "digest": desc.digest,
                "size": desc.size,
                "platform": {"os": os_, "architecture": arch},
            }
        )
    raw = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": manifests})
    return client.put_manifest(ref, raw.encode(), oci.OCI_INDEX)


def _no_proxies() -> dict[str, str]:
    return dict.fromkeys(PROXY_VARS, "")


# --- client certificates from certs.d ------------------------------------------------------


@pytest.fixture
def mutual_registry(pki: dict[str, Pair], tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(
        RegistryConfig(
            root=tmp_path / "reg",
            tls_cert=pki["server"].cert,
            tls_key=pki["server"].key,
            tls_client_cas=(pki["ca"].cert,),
            tls_client=(pki["client"].cert, pki["client"].key),
        )
    )
    yield reg
    reg.stop()


def test_a_registry_that_wants_a_client_certificate_is_read_with_the_one_in_certs_d(
    mutual_registry: Registry, pki: dict[str, Pair], tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "certs.d"
    certs_d(root, mutual_registry.host, ca=pki["ca"], client=pki["client"])
    monkeypatch.setenv(CERTS_D_VAR, str(root))
    ref = f"{mutual_registry.host}/mtls/app:1"
    digest = push_index(RegistryClient(), ImageRef.parse(ref))
    env = {**_no_proxies(), CERTS_D_VAR: str(root)}

    shown = run_cli("inspect", ref, env=env, timeout=120)
    assert shown.returncode == 0, shown.output
    assert all(name in shown.stdout for name in MACHINES), shown.stdout
    deep = run_cli("verify", ref, "--deep", "--platforms", ",".join(MACHINES), env=env, timeout=120)
    assert deep.returncode == 0, deep.output
    copied = run_cli(
        "mirror",
        ref,
        f"{mutual_registry.host}/mtls/copy:1",
        "--tool",
        "native",
        env=env,
        timeout=120,
    )
    assert copied.returncode == 0, copied.output
    found = mutual_registry.manifest("mtls/copy", "1")
    assert found is not None
    assert found[1] == digest

    no_cert = {**env, CERTS_D_VAR: str(tmp_path / "empty"), "INVOKE_MULTIARCH_RETRIES": "0"}
    without = run_cli("inspect", ref, env=no_cert, timeout=120)
    one_line_error(without, mutual_registry.host, "SSLError")


# --- redirects that leave TLS or the port ---------------------------------------------------


class _Front(socketserver.ThreadingTCPServer):
    """A registry's TLS front on loopback that sends blob GETs to plain HTTP.

    TLS and plain HTTP share its port (the first byte tells them apart), as a registry
    redirecting ``https://h:p`` to ``http://h:p`` would. Over TLS every request goes to the
    real registry behind it, except a blob GET, which is redirected to ``/plain/...`` on
    ``plain_port`` (this port unless set). Plain requests to ``/plain/REPO/DIGEST`` get the
    blob (fetched from the registry with ``fetch_auth``) and their headers are recorded in
    ``plain_seen``; other plain requests get Go's 400 for HTTP spoken to HTTPS.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str, tls: ssl.SSLContext | None, fetch_auth: str) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.upstream = upstream
        self.tls = tls
        self.fetch_auth = fetch_auth
        self.port = int(self.server_address[1])
        self.plain_port = self.port
        self.plain_seen: list[tuple[str, dict[str, str]]] = []
        self.tls_seen: list[dict[str, str]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Front

    def setup(self) -> None:
        self.secure = False
        if self.server.tls is not None and self.request.recv(1, socket.MSG_PEEK) == b"\x16":
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            self.secure = True
        super().setup()

    def finish(self) -> None:
        super().finish()
        if self.secure:
            self.request.close()  # the server closes the plain socket it handed over

    def _any(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length") or 0))
        if not self.secure:
            self.server.plain_seen.append((self.path, headers))
            if self.path.startswith("/plain/"):
                repo, _, digest = self.path.removeprefix("/plain/").rpartition("/")
                status, out, data = self._upstream(
                    "GET",
                    f"/v2/{repo}/blobs/{digest}",
                    {"Authorization": self.server.fetch_auth},
                    b"",
                )
            else:
                status, out, data = 400, {}, b"Client sent an HTTP request to an HTTPS server.\n"
        else:
            self.server.tls_seen.append(headers)
            if self.command == "GET" and "/blobs/sha256:" in self.path:
                repo, _, digest = self.path.removeprefix("/v2/").rpartition("/blobs/")
                where = f"http://127.0.0.1:{self.server.plain_port}/plain/{repo}/{digest}"
                status, out, data = 307, {"Location": where}, b""
            else:
                status, out, data = self._upstream(self.command, self.path, headers, body)
        self.send_response(status)
        for key, value in out.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _upstream(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.server.upstream, timeout=30)
        keep = {k: v for k, v in headers.items() if k.lower() not in {"host", "connection"}}
        conn.request(method, path, body=body or None, headers=keep)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        out = {
            k: v
            for k, v in resp.getheaders()
            if k.lower() not in {"content-length", "connection", "transfer-encoding"}
        }
        return resp.status, out, data

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _any  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def authed_registry(tmp_path: Path) -> Iterator[Registry]:
    password = htpasswd_file(tmp_path / "htpasswd", "alice", "s3cret")
    reg = Registry(RegistryConfig(root=tmp_path / "reg", htpasswd=password))
    yield reg
    reg.stop()


def _docker_config(tmp_path: Path, host: str) -> Path:
    folder = tmp_path / "docker"
    folder.mkdir(exist_ok=True)
    auth = base64.b64encode(b"alice:s3cret").decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return folder


@pytest.mark.parametrize("where", ["same-port", "other-port"])
def test_a_blob_redirected_from_https_to_plain_http_arrives_without_authorization(
    where: str, authed_registry: Registry, pki: dict[str, Pair], tmp_path: Path
) -> None:
    basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"].cert, pki["server"].key)
    front = _Front(authed_registry.host, context, basic)
    other = _Front(authed_registry.host, None, basic) if where == "other-port" else front
    front.plain_port = other.port
    try:
        host = f"127.0.0.1:{front.port}"
        config = _docker_config(tmp_path, host)
        client = RegistryClient(docker_config=str(config))
        push_index(client, ImageRef.parse(f"{host}/redirect/app:1"))
        assert client.scheme(host) == "https"
        env = {**_no_proxies(), "DOCKER_CONFIG": str(config)}
        shown = run_cli("inspect", f"{host}/redirect/app:1", env=env, timeout=120)
        assert shown.returncode == 0, shown.output
        assert all(name in shown.stdout for name in MACHINES), shown.stdout
    finally:
        front.stop()
        if other is not front:
            other.stop()
    blobs = [h for path, h in other.plain_seen if path.startswith("/plain/")]
    assert blobs, "no blob request reached the plain side"
    assert all("authorization" not in h for h in blobs), blobs
    assert any(h.get("authorization") == basic for h in front.tls_seen)  # it was sent over TLS


# --- an https:// proxy --------------------------------------------------------------------


@pytest.fixture
def remote_registry(pki: dict[str, Pair], tmp_path: Path) -> Iterator[Registry]:
    """A TLS registry on this machine's own address: not loopback, so proxies apply."""
    reg = Registry(
        RegistryConfig(
            root=tmp_path / "reg",
            host=_own_address(),
            tls_cert=pki["server"].cert,
            tls_key=pki["server"].key,
        )
    )
    yield reg
    reg.stop()


def test_an_https_proxy_carries_the_connect_unless_no_proxy_names_the_registry(
    remote_registry: Registry, pki: dict[str, Pair], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"].cert))
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    ref = f"{remote_registry.host}/proxied/app:1"
    push_index(RegistryClient(), ImageRef.parse(ref))
    proxy_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    proxy_tls.load_cert_chain(pki["server"].cert, pki["server"].key)
    proxy = ConnectProxy(tls=proxy_tls).start()
    try:
        env = {**_no_proxies(), "SSL_CERT_FILE": str(pki["ca"].cert), "HTTPS_PROXY": proxy.url}
        via = run_cli("inspect", ref, env=env, timeout=120)
        assert via.returncode == 0, via.output
        assert all(name in via.stdout for name in MACHINES), via.stdout
        assert ("CONNECT", remote_registry.host) in {(s.method, s.target) for s in proxy.seen}
        before = len(proxy.seen)
        host = remote_registry.host.split(":")[0]
        direct = run_cli("inspect", ref, env={**env, "NO_PROXY": host}, timeout=120)
        assert direct.returncode == 0, direct.output
        assert all(name in direct.stdout for name in MACHINES), direct.stdout
        assert len(proxy.seen) == before
    finally:
        proxy.stop()


# --- registries that never finish answering ------------------------------------------------


@pytest.mark.parametrize("server", [trickle, continue_forever], ids=["1-byte-per-s", "100-forever"])
def test_inspect_of_a_registry_that_never_finishes_its_answer_fails_within_the_timeout(
    server, tmp_path: Path
) -> None:
    timeout = 3
    factory = (lambda: trickle(interval=1.0)) if server is trickle else continue_forever
    with factory() as slow:
        host = slow.url.removeprefix("http://")
        env = {**_no_proxies(), "INVOKE_MULTIARCH_TIMEOUT": str(timeout)}
        start = time.monotonic()
        done = run_cli("inspect", f"{host}/slow/app:1", cwd=tmp_path, env=env, timeout=120)
        took = time.monotonic() - start
    line = one_line_error(done, host, "no complete answer")
    assert took < timeout + 6, (took, line)
    assert len(slow.seen) == 1  # not retried
