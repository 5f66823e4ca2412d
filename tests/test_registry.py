"""The registry client: pure parts as tables, the protocol against a real Distribution registry
(those tests are e2e: they need the test bed's registry).

Failure modes a real registry will not produce on demand (429 with Retry-After, 5xx, a
Bearer token service, a registry serving bytes that do not match their digest) are played
by a small scripted HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model import oci
from multiarch_tasks.model.errors import DigestMismatchError, RateLimitedError, RegistryError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import (
    BlobStream,
    Challenge,
    RegistryClient,
    TransientError,
    backoff_delay,
    compute_digest,
    retry_after_seconds,
)
from multiarch_tasks.registry.credentials import Credentials, credentials_from_config
from testbed import images
from testbed.fault_proxy import Rule
from testbed.registry import Registry, RegistryConfig, free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

# --- pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            (
                'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                'scope="repository:library/busybox:pull"'
            ),
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/busybox:pull",
            },
        ),
        ('Basic realm="testbed"', "basic", {"realm": "testbed"}),
        ("Bearer realm=https://x/t,service=x", "bearer", {"realm": "https://x/t", "service": "x"}),
        (
            'Bearer realm="r",scope="repository:a:pull repository:b:pull,push"',
            "bearer",
            {"realm": "r", "scope": "repository:a:pull repository:b:pull,push"},
        ),
    ],
)
def test_challenge_parse(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = Challenge.parse(header)
    assert challenge.scheme == scheme
    assert dict(challenge.params) == params


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("0", 0.0),
        ("soon", None),
        (formatdate(1_000_030, usegmt=True), 30.0),
        (formatdate(999_000, usegmt=True), 0.0),  # a date in the past: no wait
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=1_000_000) == seconds


@pytest.mark.parametrize(
    ("attempt", "base", "retry_after", "delay"),
    [(1, 1.0, None, 1.0), (2, 1.0, None, 2.0), (3, 0.5, None, 2.0), (3, 1.0, 5.0, 5.0)],
)
def test_backoff_delay(attempt: int, base: float, retry_after: float | None, delay: float) -> None:
    assert backoff_delay(attempt, base, retry_after) == delay


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def no_helper(name: str, url: str) -> Credentials | None:
    msg = f"helper {name} must not be asked for {url}"
    raise AssertionError(msg)


@pytest.mark.parametrize(
    ("config", "registry", "found"),
    [
        (
            {"auths": {"r.example:5000": {"auth": b64("u:p:w")}}},
            "r.example:5000",
            Credentials("u", "p:w"),
        ),
        (
            {"auths": {"https://r.example/v1/": {"auth": b64("u:p")}}},
            "r.example",
            Credentials("u", "p"),
        ),
        (
            {"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}},
            "docker.io",
            Credentials("hub", "pw"),
        ),
        (
            {"auths": {"r.example": {"username": "u", "password": "p"}}},
            "r.example",
            Credentials("u", "p"),
        ),
        (
            {"auths": {"r.example": {"identitytoken": "tok"}}},
            "r.example",
            Credentials("", "", "tok"),
        ),
        ({"auths": {"other.example": {"auth": b64("u:p")}}}, "r.example", None),
        ({}, "r.example", None),
    ],
)
def test_credentials_from_auths(
    config: dict[str, object], registry: str, found: Credentials | None
) -> None:
    assert credentials_from_config(config, registry, no_helper) == found


def test_cred_helper_wins_over_store_which_wins_over_auths() -> None:
    asked: list[tuple[str, str]] = []

    def helper(name: str, url: str) -> Credentials | None:
        asked.append((name, url))
        return Credentials(name, "secret")

    config = {
        "auths": {"r.example": {"auth": b64("inline:pw")}, "https://index.docker.io/v1/": {}},
        "credsStore": "store",
        "credHelpers": {"r.example": "special"},
    }
    assert credentials_from_config(config, "r.example", helper) == Credentials("special", "secret")
    assert credentials_from_config(config, "docker.io", helper) == Credentials("store", "secret")
    assert asked == [("special", "r.example"), ("store", "https://index.docker.io/v1/")]


def test_store_without_an_entry_falls_back_to_auths() -> None:
    config = {"auths": {"r.example": {"auth": b64("inline:pw")}}, "credsStore": "store"}
    got = credentials_from_config(config, "r.example", lambda _n, _u: None)
    assert got == Credentials("inline", "pw")


def test_bad_auth_value_names_the_entry_not_the_secret() -> None:
    config = {"auths": {"r.example": {"auth": "%%%not-base64%%%"}}}
    with pytest.raises(RegistryError, match=r"auths entry for r\.example") as info:
        credentials_from_config(config, "r.example", no_helper)
    assert "not-base64" not in str(info.value)


def test_credentials_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))


def test_compute_digest_follows_the_algorithm() -> None:
    assert compute_digest(b"x") == oci.sha256_digest(b"x")
    assert compute_digest(b"x", "sha512:abc").startswith("sha512:")
    with pytest.raises(DigestMismatchError, match="unsupported digest algorithm"):
        compute_digest(b"x", "md5:abc")


def test_from_settings_uses_insecure_registries_and_retries() -> None:
    client = RegistryClient.from_settings(
        Settings(insecure_registries=("reg.internal:5000",), retries=5)
    )
    assert client.retries == 5
    assert client.scheme("reg.internal:5000") == "http"
    assert client.scheme("127.0.0.1:5000") == "http"
    assert client.scheme("localhost:5000") == "http"
    assert client.scheme("ghcr.io") == "https"
    ref = ImageRef.parse("busybox:1.36")
    assert client.url(ref, "manifests", ref.reference) == (
        "https://registry-1.docker.io/v2/library/busybox/manifests/1.36"
    )


def test_public_registries_always_https() -> None:
    assert RegistryClient().scheme("registry.example.com") == "https"


# --- against the real registry -----------------------------------------------------------


def push_image(client: RegistryClient, ref: ImageRef, arch: str = "amd64") -> tuple[str, bytes]:
    """Upload a tiny image (config + one gzip layer) and tag it; return (digest, manifest)."""
    config = {"os": "linux", "architecture": arch, "rootfs": {"type": "layers"}}
    desc, raw = images.push_image(
        client, ref, config, [gzip.compress(b"layer of " + arch.encode())], by_digest=False
    )
    return desc.digest, raw


@pytest.mark.e2e  # these need the test bed's registry (no engine)
def test_manifest_round_trip_by_tag_and_digest(registry, repo) -> None:
    client = RegistryClient()
    ref = ImageRef.parse(f"{repo}:v1")
    digest, raw = push_image(client, ref)
    assert digest == oci.sha256_digest(raw)
    by_tag = client.get_manifest(ref)
    by_digest = client.get_manifest(ref.with_digest(digest))
    assert by_tag.raw == by_digest.raw == raw
    assert by_tag.digest == digest
    assert by_tag.media_type == oci.OCI_MANIFEST
    head = client.head_manifest(ref)
    assert head is not None
    assert (head.digest, head.size, head.media_type) == (digest, len(raw), oci.OCI_MANIFEST)
    # the registry itself agrees
    found = registry.manifest(ref.repository, "v1")
    assert found is not None
    assert found[1] == digest


@pytest.mark.e2e
def test_index_pushed_by_digest_and_by_tag(repo) -> None:
    client = RegistryClient()
    base = ImageRef.parse(f"{repo}:amd64")
    amd, _ = push_image(client, base, "amd64")
    arm, _ = push_image(client, base.with_tag("arm64"), "arm64")
    children = [client.head_manifest(base.with_digest(d)) for d in (amd, arm)]
    assert all(children)
    descs = [
        oci.Descriptor(c.media_type, c.digest, c.size, Platform.parse(p))  # type: ignore[union-attr]
        for c, p in zip(children, ("linux/amd64", "linux/arm64"), strict=True)
    ]
    raw = oci.build_index(descs)
    pinned = base.with_digest(oci.sha256_digest(raw))
    assert client.put_manifest(pinned, raw, oci.OCI_INDEX) == pinned.digest
    assert client.put_manifest(base.with_tag("multi"), raw, oci.OCI_INDEX) == pinned.digest
    doc = client.get_manifest(base.with_tag("multi"))
    assert doc.is_index
    assert [str(d.platform) for d in doc.images] == ["linux/amd64", "linux/arm64"]
    assert sorted(client.list_tags(base)) == ["amd64", "arm64", "multi"]


@pytest.mark.e2e
def test_put_manifest_by_digest_refuses_other_bytes(repo) -> None:
    client = RegistryClient()
    ref = ImageRef.parse(f"{repo}@{oci.sha256_digest(b'{}')}")
    with pytest.raises(DigestMismatchError, match="hashes to"):
        client.put_manifest(ref, b'{"schemaVersion": 2}', oci.OCI_MANIFEST)


@pytest.mark.e2e
def test_blobs_upload_exist_get_stream_and_mount(registry, repo) -> None:
    client = RegistryClient()
    ref = ImageRef.parse(f"{repo}:x")
    data = b"some blob content " * 10_000
    digest = oci.sha256_digest(data)
    assert not client.blob_exists(ref, digest)
    client.upload_blob(ref, digest, data)
    assert client.blob_exists(ref, digest)
    assert client.get_blob(ref, digest) == data
    with client.open_blob(ref, digest) as stream:
        first = stream.read(10)
        assert first == data[:10]
        assert not stream.verified
    assert stream.verified  # leaving the block read the rest and checked it
    other = ImageRef.parse(f"{registry.repo('mounted')}:x")
    assert not client.blob_exists(other, digest)
    assert client.mount_blob(other, digest, ref.repository) is True
    assert client.blob_exists(other, digest)


@pytest.mark.e2e
def test_upload_refuses_data_that_does_not_match(repo) -> None:
    client = RegistryClient()
    with pytest.raises(DigestMismatchError):
        client.upload_blob(ImageRef.parse(f"{repo}:x"), oci.sha256_digest(b"a"), b"b")


@pytest.mark.e2e
def test_missing_things(repo) -> None:
    client = RegistryClient()
    ref = ImageRef.parse(f"{repo}:nope")
    assert client.head_manifest(ref) is None
    assert client.list_tags(ref) == []
    with pytest.raises(RegistryError, match="not found") as info:
        client.get_manifest(ref)
    assert info.value.status == 404
    assert info.value.url.endswith(f"/v2/{ref.repository}/manifests/nope")
    assert "\n" not in str(info.value)


def test_unreachable_registry_is_one_line_after_retries() -> None:
    client = RegistryClient(retries=1, backoff=0.01, timeout=2)
    with pytest.raises(RegistryError, match=r"cannot reach 127\.0\.0\.1:.* after 2 attempts"):
        client.get_manifest(ImageRef.parse(f"127.0.0.1:{free_port()}/a/b:c"))


def test_map_runs_concurrently_keeps_order_and_reraises() -> None:
    client = RegistryClient()
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return n * n

    assert client.map(work, range(6)) == [0, 1, 4, 9, 16, 25]
    assert peak > 1

    def fail_on_three(n: int) -> int:
        if n == 3:
            raise RegistryError("three", status=500)
        return n

    with pytest.raises(RegistryError, match="three"):
        client.map(fail_on_three, range(6))


class _Stop(BaseException):
    """Not an Exception: what a KeyboardInterrupt-like error in a worker looks like."""


def test_map_reraises_a_base_exception_from_a_worker_thread_and_the_first_error_in_order() -> None:
    client = RegistryClient()
    workers: set[str] = set()

    def stop_on_two(n: int) -> int:
        workers.add(threading.current_thread().name)
        time.sleep(0.02)
        if n == 2:
            raise _Stop
        if n == 4:
            raise RegistryError("four")
        return n

    with pytest.raises(_Stop):
        client.map(stop_on_two, range(6))
    assert threading.current_thread().name not in workers  # it ran on the pool's threads


# --- scripted server for what a real registry will not do on demand ---------------------


@dataclass
class Scripted:
    """A tiny HTTP server; ``handle(method, path, headers) -> (status, headers, body)``."""

    handle: Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes]]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    host: str = ""


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers every method from ``script``, a class attribute set per server."""

    script: Scripted

    def _any(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.script.seen.append((self.command, self.path, headers))
        status, out_headers, body = self.script.handle(self.command, self.path, headers)
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = _any  # noqa: N815 - http.server's naming

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[ThreadingHTTPServer] = []

    def start(
        handle: Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes]],
    ) -> Scripted:
        script = Scripted(handle)
        handler = type("Handler", (ScriptedHandler,), {"script": script})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        script.host = f"127.0.0.1:{server.server_address[1]}"
        return script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "config": {}, "layers": []}
).encode()


def ok_manifest() -> tuple[int, dict[str, str], bytes]:
    return (
        200,
        {"Content-Type": oci.OCI_MANIFEST, "Docker-Content-Digest": oci.sha256_digest(MANIFEST)},
        MANIFEST,
    )


def test_429_is_retried_honouring_retry_after(scripted) -> None:
    answers = iter([(429, {"Retry-After": "1"}, b""), (503, {}, b""), ok_manifest()])
    server = scripted(lambda *_: next(answers))
    client = RegistryClient(retries=3, backoff=0.01)
    started = time.monotonic()
    doc = client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    waited = time.monotonic() - started
    assert doc.raw == MANIFEST
    assert len(server.seen) == 3
    assert waited >= 1.0  # Retry-After: 1 was honoured, not the 0.01 s backoff


def test_429_after_the_last_retry_says_rate_limited_and_suggests_mirror(scripted) -> None:
    server = scripted(lambda *_: (429, {"Retry-After": "0"}, b""))
    client = RegistryClient(retries=2, backoff=0.01)
    with pytest.raises(RateLimitedError) as info:
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    message = str(info.value)
    assert "rate limit" in message
    assert "multiarch mirror" in message
    assert info.value.status == 429
    assert len(server.seen) == 3


def test_long_retry_after_is_not_waited_out(scripted) -> None:
    server = scripted(lambda *_: (429, {"Retry-After": "3600"}, b""))
    client = RegistryClient(retries=3, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="wait 3600s"):
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    assert time.monotonic() - started < 5
    assert len(server.seen) == 1


def test_5xx_retries_run_out_into_a_registry_error(scripted) -> None:
    server = scripted(lambda *_: (502, {}, b'{"errors":[{"code":"UNAVAILABLE","message":"down"}]}'))
    client = RegistryClient(retries=1, backoff=0.01)
    with pytest.raises(RegistryError, match=r"502 .*UNAVAILABLE: down") as info:
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    assert info.value.status == 502
    assert len(server.seen) == 2


def test_manifest_not_matching_its_digest_is_refused(scripted) -> None:
    wrong = "sha256:" + "0" * 64
    server = scripted(
        lambda *_: (
            200,
            {"Content-Type": oci.OCI_MANIFEST, "Docker-Content-Digest": wrong},
            MANIFEST,
        )
    )
    client = RegistryClient(retries=0)
    with pytest.raises(DigestMismatchError, match="expected sha256:0000"):
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    with pytest.raises(DigestMismatchError):
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b@{wrong}"))


def test_blob_not_matching_its_digest_is_refused(scripted) -> None:
    server = scripted(lambda *_: (200, {}, b"tampered bytes"))
    client = RegistryClient(retries=0)
    ref = ImageRef.parse(f"{server.host}/a/b:c")
    digest = oci.sha256_digest(b"original bytes")
    with pytest.raises(DigestMismatchError, match="hashes to"):
        client.get_blob(ref, digest)
    with pytest.raises(DigestMismatchError), client.open_blob(ref, digest) as stream:
        stream.read(3)


def test_bearer_challenge_fetches_a_token_with_service_scope_and_credentials(
    scripted, tmp_path: Path
) -> None:
    tokens: list[str] = []

    def handle(
        method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/token"):
            tokens.append(path)
            if headers.get("authorization") != "Basic " + b64("alice:s3cret"):
                return 401, {}, b""
            return 200, {"Content-Type": "application/json"}, b'{"access_token": "tok-123"}'
        if headers.get("authorization") == "Bearer tok-123":
            return ok_manifest()
        realm = f"http://{server.host}/token"
        challenge = f'Bearer realm="{realm}",service="testreg",scope="repository:a/b:pull"'
        return 401, {"WWW-Authenticate": challenge}, b""

    server = scripted(handle)
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {server.host: {"auth": b64("alice:s3cret")}}})
    )
    client = RegistryClient(docker_config=str(tmp_path), retries=0)
    ref = ImageRef.parse(f"{server.host}/a/b:c")
    assert client.get_manifest(ref).raw == MANIFEST
    assert client.get_manifest(ref).raw == MANIFEST  # the token is cached
    assert len(tokens) == 1
    assert "service=testreg" in tokens[0]
    assert "scope=repository%3Aa%2Fb%3Apull" in tokens[0]
    assert [s[2].get("authorization") for s in server.seen if s[1].startswith("/v2/")] == [
        None,
        "Bearer tok-123",
        "Bearer tok-123",
    ]


def test_refused_token_is_one_line_without_secrets(scripted, tmp_path: Path) -> None:
    def handle(
        method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/token"):
            return 401, {}, b""
        return 401, {"WWW-Authenticate": f'Bearer realm="http://{server.host}/token"'}, b""

    server = scripted(handle)
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {server.host: {"auth": b64("alice:s3cret")}}})
    )
    client = RegistryClient(docker_config=str(tmp_path), retries=0)
    with pytest.raises(RegistryError, match="refused a token: 401") as info:
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    assert "s3cret" not in str(info.value)
    assert b64("alice:s3cret") not in str(info.value)
    assert "\n" not in str(info.value)


# --- streaming, retries and auth failures -------------------------------------------------


def test_blob_stream_hands_out_any_read_sizes_and_iterates_the_rest(repo) -> None:
    client = RegistryClient()
    ref = ImageRef.parse(f"{repo}:x")
    data = os.urandom(3 << 20) + b"tail"
    digest = images.push_blob(client, ref, data)
    with client.open_blob(ref, digest) as stream:
        assert stream.size == len(data)
        head = stream.read(7)
        middle = stream.read((1 << 20) + 5)
        rest = b"".join(stream)
        assert stream.verified
    assert head + middle + rest == data
    assert len(middle) == (1 << 20) + 5


def test_copy_blob_streams_to_another_registry_in_bounded_memory(repo, tmp_path: Path) -> None:
    client = RegistryClient()
    src = ImageRef.parse(f"{repo}:x")
    data = os.urandom(48 << 20)
    digest = images.push_blob(client, src, data)
    size = len(data)
    del data
    other = Registry(RegistryConfig(root=tmp_path / "other"))
    try:
        dest = ImageRef.parse(f"{other.host}/copy/here:x")
        tracemalloc.start()
        try:
            client.copy_blob(src, dest, digest, size)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 << 20, f"copying a 48 MiB blob held {peak >> 20} MiB at once"
        assert client.blob_exists(dest, digest)
        with client.open_blob(dest, digest) as stream:
            assert sum(len(chunk) for chunk in stream) == size
    finally:
        other.stop()


def test_copy_blob_refuses_a_source_whose_bytes_do_not_match(scripted, repo) -> None:
    server = scripted(lambda *_: (200, {}, b"tampered bytes"))
    client = RegistryClient(retries=0)
    digest = oci.sha256_digest(b"original bytes")
    dest = ImageRef.parse(f"{repo}:x")
    with pytest.raises(DigestMismatchError, match="hashes to"):
        client.copy_blob(ImageRef.parse(f"{server.host}/a/b:c"), dest, digest)
    assert not client.blob_exists(dest, digest)


def test_each_retry_logs_one_line_through_say(scripted) -> None:
    answers = iter([(500, {}, b""), (429, {"Retry-After": "0"}, b""), ok_manifest()])
    server = scripted(lambda *_: next(answers))
    lines: list[str] = []
    client = RegistryClient(retries=3, backoff=0.01, say=lines.append)
    client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    assert len(lines) == 2
    assert "500 Internal Server Error; retry 1/3" in lines[0]
    assert "429 Too Many Requests; retry 2/3" in lines[1]
    assert all(server.host in line and "\n" not in line for line in lines)


@pytest.mark.parametrize("status", [400, 403, 404, 405])
def test_client_errors_are_not_retried(scripted, status: int) -> None:
    server = scripted(lambda *_: (status, {}, b""))
    lines: list[str] = []
    client = RegistryClient(retries=3, backoff=0.01, say=lines.append)
    with pytest.raises(RegistryError) as info:
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    assert info.value.status == status
    assert len(server.seen) == 1
    assert lines == []


def test_401_that_persists_after_credentials_fails_at_once_naming_the_registry(
    scripted, tmp_path: Path
) -> None:
    server = scripted(lambda *_: (401, {"WWW-Authenticate": 'Basic realm="r"'}, b""))
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {server.host: {"auth": b64("me:s3cret-pw")}}})
    )
    lines: list[str] = []
    client = RegistryClient(retries=3, backoff=0.01, docker_config=str(tmp_path), say=lines.append)
    with pytest.raises(RegistryError) as info:
        client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    message = str(info.value)
    assert message.startswith(f"{server.host} refused manifest")
    assert "401" in message
    assert "s3cret-pw" not in message
    assert "\n" not in message
    assert len(server.seen) == 2  # the challenge, then once with the credentials
    assert "authorization" in server.seen[1][2]
    assert lines == []


def test_dropped_connections_are_retried_then_reported_as_transient(
    registry, repo, fault_proxy
) -> None:
    client = RegistryClient(retries=2, backoff=0.01, say=lambda _: None)
    digest, _ = push_image(client, ImageRef.parse(f"{repo}:v1"))
    path = repo.split("/", 1)[1]
    proxy = fault_proxy(Rule(method="GET", path="/manifests/", first=2, drop=True))
    ref = ImageRef.parse(f"{proxy.host}/{path}:v1")
    assert client.get_manifest(ref).digest == digest
    assert [f.fault for f in proxy.faults()] == ["drop", "drop"]
    proxy.add(Rule(method="GET", path="/manifests/", drop=True))
    with pytest.raises(TransientError, match=rf"cannot reach {proxy.host} after 3 attempts"):
        client.get_manifest(ref)


def test_a_blob_cut_mid_stream_is_read_again(registry, repo, fault_proxy) -> None:
    client = RegistryClient(retries=2, backoff=0.01, say=lambda _: None)
    data = os.urandom(1 << 20)
    digest = images.push_blob(client, ImageRef.parse(f"{repo}:x"), data)
    proxy = fault_proxy(Rule(method="GET", path="/blobs/", first=1, cut=True))
    ref = ImageRef.parse(f"{proxy.host}/{repo.split('/', 1)[1]}:x")
    assert client.get_blob(ref, digest) == data
    assert [f.fault for f in proxy.faults()] == ["cut"]


def test_copy_blob_counts_bytes_as_they_move_and_takes_back_a_cut_trys(
    registry, repo, fault_proxy
) -> None:
    client = RegistryClient(retries=2, backoff=0.01, say=lambda _: None)
    data = os.urandom(3 << 20)
    digest = images.push_blob(client, ImageRef.parse(f"{repo}:x"), data)
    proxy = fault_proxy(Rule(method="GET", path="/blobs/", first=1, cut=True))
    src = ImageRef.parse(f"{proxy.host}/{repo.split('/', 1)[1]}:x")
    dest = ImageRef.parse(f"{registry.host}/copied/blob:x")
    counts: list[int] = []
    client.copy_blob(src, dest, digest, len(data), moved=counts.append)
    assert [f.fault for f in proxy.faults()] == ["cut"]
    # The cut try's bytes were counted, then taken back; the second try counted them all.
    taken_back = [n for n in counts if n < 0]
    assert len(taken_back) == 1, counts
    assert sum(counts) == len(data)
    assert client.get_blob(dest, digest) == data


class _Chunks:
    """What BlobStream uses of a streamed wire.Response: ``iter_content`` and ``close``."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def iter_content(self, _size: int) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        pass


def test_blob_stream_takes_an_empty_chunk_for_a_pause_not_the_end() -> None:
    digest = oci.sha256_digest(b"abcdef")
    stream = BlobStream(_Chunks(b"ab", b"", b"cd", b"", b"ef"), digest, "u")
    assert stream.read(3) == b"abc"
    stream.drain()
    assert stream.verified
    assert stream.bytes_read == 6


def test_blob_stream_refuses_bytes_that_do_not_hash_to_its_digest_at_the_end() -> None:
    stream = BlobStream(_Chunks(b"ab", b"cd"), oci.sha256_digest(b"abce"), "u")
    assert next(iter(stream)) == b"ab"
    with pytest.raises(DigestMismatchError, match="hashes to"):
        stream.drain()


def test_a_manifest_read_by_digest_is_read_once_per_repository_but_a_tag_every_time(
    scripted,
) -> None:
    server = scripted(lambda *_: ok_manifest())
    client = RegistryClient(retries=0)
    digest = oci.sha256_digest(MANIFEST)
    by_digest = ImageRef.parse(f"{server.host}/a/b@{digest}")
    first = client.get_manifest(by_digest)
    assert client.get_manifest(by_digest) is first
    client.get_manifest(ImageRef.parse(f"{server.host}/other/repo@{digest}"))
    client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    client.get_manifest(ImageRef.parse(f"{server.host}/a/b:c"))
    gets = [path for method, path, _ in server.seen if method == "GET"]
    assert gets == [
        f"/v2/a/b/manifests/{digest}",
        f"/v2/other/repo/manifests/{digest}",
        "/v2/a/b/manifests/c",
        "/v2/a/b/manifests/c",
    ]


@pytest.mark.parametrize(
    "ref",
    ["registry.example.com/x@sha256:" + "a" * 64, "registry.example.com/x:1@sha256:" + "a" * 64],
)
def test_delete_tag_refuses_a_digest_before_sending_anything(ref: str) -> None:
    # A delete by digest removes the manifest the published index and tags point at.
    with pytest.raises(RegistryError, match="needs a tag, not a digest"):
        RegistryClient().delete_tag(ImageRef.parse(ref))
