"""Loopback and insecure registries are reached as dockerd reaches them: HTTPS without
certificate checks when they speak TLS, plain HTTP otherwise."""

from __future__ import annotations

import gzip

import pytest

from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed import images
from testbed.registry import Registry, RegistryConfig, self_signed_cert

pytestmark = pytest.mark.e2e


@pytest.fixture
def tls_registry(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    reg = Registry(RegistryConfig(root=tmp_path / "reg", tls_cert=cert, tls_key=key))
    yield reg
    reg.stop()


def test_tls_registry_on_loopback_is_spoken_to_over_https(tls_registry):
    client = RegistryClient()
    ref = ImageRef.parse(f"{tls_registry.host}/tls/app:1")
    desc, raw = images.push_image(client, ref, {"os": "linux", "architecture": "amd64"},
                                  [gzip.compress(b"x")], by_digest=False)  # fmt: skip
    assert client.scheme(tls_registry.host) == "https"
    assert client.get_manifest(ref).raw == raw
    found = tls_registry.manifest("tls/app", "1")
    assert found is not None
    assert found[1] == desc.digest


def test_plain_registry_on_loopback_falls_back_to_http(registry):
    client = RegistryClient()
    assert client.scheme(registry.host) == "http"
    assert client.list_tags(ImageRef.parse(f"{registry.host}/nothing/here")) == []
