"""What ``multiarch --version``/``--help`` and ``inspect`` load: only what they use (issue 10).

Run in a fresh interpreter each, so the test suite's own imports do not hide anything.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testbed.registry import self_signed_cert

HEAVY = (
    "requests",
    "urllib3",
    "tarfile",
    "gzip",
    "multiarch_tasks.registry.client",
    "multiarch_tasks.checks.elf",
    "multiarch_tasks.steps.build",
    "multiarch_tasks.steps.publish",
    "multiarch_tasks.checks.preflight",
    "multiarch_tasks.steps.mirror",
)


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["--list"]])
def test_version_help_and_list_load_no_registry_client_or_tar_reader(
    argv: list[str],
) -> None:
    code = (
        "import sys\nfrom multiarch_tasks.cli import main\n"
        f"sys.argv = ['multiarch', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert loaded_after(code) == []


def test_inspect_loads_the_registry_client_but_no_requests_tar_reader_or_build() -> None:
    code = "from multiarch_tasks import api\napi.inspect"
    assert loaded_after(code) == ["multiarch_tasks.registry.client"]


def test_a_registry_request_loads_neither_requests_nor_urllib3() -> None:
    # A real request (refused: nobody listens on a fresh port) runs the whole client.
    code = (
        "from multiarch_tasks.registry.client import RegistryClient\n"
        "from multiarch_tasks.model.reference import ImageRef\n"
        "from multiarch_tasks.model.errors import RegistryError\n"
        "import socket\n"
        "with socket.socket() as sock:\n"
        "    sock.bind(('127.0.0.1', 0))\n"
        "    port = sock.getsockname()[1]\n"
        "try:\n"
        "    RegistryClient(retries=0).list_tags(ImageRef.parse(f'127.0.0.1:{port}/a/b'))\n"
        "except RegistryError:\n"
        "    pass"
    )
    assert loaded_after(code) == ["multiarch_tasks.registry.client"]


def test_package_names_resolve_on_first_use() -> None:
    code = (
        "import multiarch_tasks as m\n"
        "assert m.Platform.parse('linux/arm64').architecture == 'arm64'\n"
        "assert callable(m.api.verify) and m.multiarch.name == 'multiarch'"
    )
    # The asserts run in the child (check=True fails on them); verify needs the client.
    assert "multiarch_tasks.registry.client" in loaded_after(code)


@pytest.fixture(scope="module")
def loopback_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """A plain-HTTP and an HTTPS (self-signed) server on loopback, answering 200 ``ok``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    plain, secure = (ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2))
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for server in (plain, secure):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "http": f"http://127.0.0.1:{plain.server_address[1]}/",
        "https": f"https://127.0.0.1:{secure.server_address[1]}/",
    }
    for server in (plain, secure):
        server.shutdown()
        server.server_close()


TRANSPORT = ("http.client", "email", "ssl", "urllib.request")


def _after_request(url: str) -> list[str]:
    """The TRANSPORT modules a fresh interpreter holds after one real request to ``url``."""
    code = (
        "import json, sys\n"
        "from multiarch_tasks import wire\n"
        f"resp = wire.Transport().request('GET', {url!r}, timeout=10, verify=False)\n"
        "assert resp.content == b'ok', resp.content\n"
        f"print(json.dumps([m for m in {TRANSPORT!r} if m in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_a_plain_http_request_loads_neither_http_client_email_nor_ssl(
    loopback_servers: dict[str, str],
) -> None:
    assert _after_request(loopback_servers["http"]) == []


def test_an_https_request_loads_ssl_and_still_neither_http_client_nor_email(
    loopback_servers: dict[str, str],
) -> None:
    assert _after_request(loopback_servers["https"]) == ["ssl"]


def test_a_publish_loads_no_invoke_yaml_packaging_tar_reader_or_http_client() -> None:
    # Every module a publish run imports, through the fast path's own entry; the work
    # itself needs the engine (tests/e2e), the imports do not.
    code = (
        "import multiarch_tasks.fastpath, multiarch_tasks.steps.publish, multiarch_tasks.planning.plan,"
        " multiarch_tasks.steps.build, multiarch_tasks.steps.builder, multiarch_tasks.steps.qemu,"
        " multiarch_tasks.model.digests, multiarch_tasks.checks.preflight, multiarch_tasks.checks.verify,"
        " multiarch_tasks.steps.manifest, multiarch_tasks.registry.client, multiarch_tasks.checks.lint,"
        " multiarch_tasks.steps.backends.buildx\n"
        "import sys, json\n"
        "heavy = ('invoke', 'yaml', 'packaging', 'tarfile', 'http.client', 'email',"
        " 'concurrent.futures', 'logging', 'plumbum')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
