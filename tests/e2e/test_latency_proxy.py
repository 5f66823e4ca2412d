"""The bench's latency proxy (testbed/latency_proxy.py) in front of the real registry.

What it proves: every request through the proxy takes at least the configured delay,
and bodies cross it intact both ways: a blob pushed through it (streamed chunked in
several PATCHes, and monolithic in one PUT) is pulled back through it with the same
digest, and the registry's upload ``Location`` URLs point back at the proxy. Plain
``http.client``: the test depends on the registry API, not on multiarch's client.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
from typing import TYPE_CHECKING

import pytest

from testbed.latency_proxy import LatencyProxy, latency_proxy_process

if TYPE_CHECKING:
    from collections.abc import Iterator

    from testbed.registry import Registry

pytestmark = pytest.mark.e2e

DELAY_MS = 50


@pytest.fixture
def proxy(registry: Registry) -> Iterator[LatencyProxy]:
    with LatencyProxy(registry.host, DELAY_MS) as running:
        yield running


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes, float]:
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    return resp, data, time.perf_counter() - start


def _path(location: str, host: str) -> str:
    """The path of an upload URL, which must point back at ``host`` (or be relative)."""
    if location.startswith("http"):
        assert location.startswith(f"http://{host}/"), location
        return location.split(host, 1)[1]
    return location


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_every_request_waits_at_least_the_delay(proxy: LatencyProxy) -> None:
    took = []
    kept = http.client.HTTPConnection(proxy.host, timeout=30)
    try:
        took += [_request(kept, "GET", "/v2/")[2] for _ in range(5)]  # one connection, kept alive
    finally:
        kept.close()
    for _ in range(3):  # a new connection per request
        conn = http.client.HTTPConnection(proxy.host, timeout=30)
        try:
            took.append(_request(conn, "GET", "/v2/")[2])
        finally:
            conn.close()
    assert min(took) >= DELAY_MS / 1000, took
    assert proxy.requests == len(took)
    assert all(seen.status == 200 for seen in proxy.log)


def test_a_blob_pushed_and_pulled_through_the_proxy_keeps_its_digest(
    proxy: LatencyProxy, registry: Registry
) -> None:
    repository = registry.repo("latency").split("/", 1)[1]
    data = os.urandom(5 << 20) + b"tail"
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    conn = http.client.HTTPConnection(proxy.host, timeout=60)
    try:
        resp, _, took = _request(conn, "POST", f"/v2/{repository}/blobs/uploads/")
        assert resp.status == 202
        assert took >= DELAY_MS / 1000
        location = _path(resp.getheader("Location", ""), proxy.host)
        # Two PATCHes, each body sent chunked (no Content-Length), in uneven pieces.
        half = len(data) // 2
        for part in (data[:half], data[half:]):
            resp, _, _ = _request(
                conn,
                "PATCH",
                location,
                body=_pieces(part, 300_000),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert resp.status == 202, resp.status
            location = _path(resp.getheader("Location", ""), proxy.host)
        sep = "&" if "?" in location else "?"
        resp, _, _ = _request(
            conn, "PUT", f"{location}{sep}digest={digest}", headers={"Content-Length": "0"}
        )
        assert resp.status == 201, resp.status
        resp, _, _ = _request(conn, "HEAD", f"/v2/{repository}/blobs/{digest}")
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(len(data))
        resp, pulled, _ = _request(conn, "GET", f"/v2/{repository}/blobs/{digest}")
        assert resp.status == 200
        assert f"sha256:{hashlib.sha256(pulled).hexdigest()}" == digest
        # A monolithic upload: POST, then one PUT carrying the whole body with its length.
        small = os.urandom(70_000)
        small_digest = f"sha256:{hashlib.sha256(small).hexdigest()}"
        resp, _, _ = _request(conn, "POST", f"/v2/{repository}/blobs/uploads/")
        location = _path(resp.getheader("Location", ""), proxy.host)
        sep = "&" if "?" in location else "?"
        resp, _, _ = _request(
            conn,
            "PUT",
            f"{location}{sep}digest={small_digest}",
            body=small,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert resp.status == 201, resp.status
        resp, pulled, _ = _request(conn, "GET", f"/v2/{repository}/blobs/{small_digest}")
        assert pulled == small
    finally:
        conn.close()
    assert proxy.requests == len(proxy.log)
    assert {"POST", "PATCH", "PUT", "HEAD", "GET"} <= {seen.method for seen in proxy.log}


def test_the_proxy_in_a_process_of_its_own_delays_and_forwards(registry: Registry) -> None:
    with latency_proxy_process(registry.host, DELAY_MS) as host:
        conn = http.client.HTTPConnection(host, timeout=30)
        try:
            resp, body, took = _request(conn, "GET", "/v2/")
        finally:
            conn.close()
    assert resp.status == 200, body
    assert took >= DELAY_MS / 1000
