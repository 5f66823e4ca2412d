"""OCI / Docker manifests and indexes as plain data: parsing, classifying, building."""

from __future__ import annotations

import hashlib
import json

import pytest

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.oci import (
    ACCEPT,
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    REF_DIGEST,
    REF_TYPE,
    Descriptor,
    Document,
    build_index,
    sha256_digest,
)
from multiarch_tasks.model.platforms import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARMV7 = Platform("linux", "arm", "v7")
IMG_AMD = "sha256:" + "a" * 64
IMG_ARM = "sha256:" + "b" * 64
ATT_AMD = "sha256:" + "c" * 64
ATT_ARM = "sha256:" + "d" * 64
LAYER = "sha256:" + "e" * 64
CONFIG = "sha256:" + "f" * 64

# What buildx 0.13 pushes for a two-platform build: images plus provenance attestations.
OCI_INDEX_WITH_ATTESTATIONS = {
    "schemaVersion": 2,
    "mediaType": OCI_INDEX,
    "manifests": [
        {
            "mediaType": OCI_MANIFEST,
            "digest": IMG_AMD,
            "size": 1000,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "digest": IMG_ARM,
            "size": 1001,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "digest": ATT_AMD,
            "size": 566,
            "annotations": {REF_DIGEST: IMG_AMD, REF_TYPE: "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
        {
            "mediaType": OCI_MANIFEST,
            "digest": ATT_ARM,
            "size": 566,
            "annotations": {REF_DIGEST: IMG_ARM, REF_TYPE: "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
    ],
}

DOCKER_MANIFEST_LIST = {
    "schemaVersion": 2,
    "mediaType": DOCKER_LIST,
    "manifests": [
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": IMG_AMD,
            "size": 528,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": IMG_ARM,
            "size": 528,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        },
    ],
}

OCI_IMAGE_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": OCI_MANIFEST,
    "config": {"mediaType": OCI_CONFIG, "digest": CONFIG, "size": 1470},
    "layers": [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": LAYER,
            "size": 2_000_000,
        },
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": IMG_AMD, "size": 32},
    ],
}


def raw(data: dict[str, object]) -> bytes:
    return json.dumps(data, indent=2).encode()


def test_sha256_digest() -> None:
    assert sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    data = b'{"schemaVersion":2}'
    assert sha256_digest(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert sha256_digest(data) != sha256_digest(data + b"\n")


def test_oci_index_with_attestations() -> None:
    body = raw(OCI_INDEX_WITH_ATTESTATIONS)
    doc = Document.parse(body, OCI_INDEX)
    assert doc.media_type == OCI_INDEX
    assert doc.is_index
    assert doc.digest == sha256_digest(body)
    assert len(doc.descriptors) == 4
    assert [(d.digest, d.platform) for d in doc.images] == [(IMG_AMD, AMD64), (IMG_ARM, ARM64)]
    assert [d.digest for d in doc.attestations] == [ATT_AMD, ATT_ARM]
    assert [d.attests for d in doc.attestations] == [IMG_AMD, IMG_ARM]
    assert all(not d.is_attestation and d.attests == "" for d in doc.images)
    assert doc.images[1].size == 1001


def test_attestation_recognised_by_annotation_or_platform_alone() -> None:
    by_annotation = Descriptor.from_json(
        {
            "mediaType": OCI_MANIFEST,
            "digest": ATT_AMD,
            "size": 1,
            "annotations": {REF_TYPE: "attestation-manifest", REF_DIGEST: IMG_AMD},
        }
    )
    by_platform = Descriptor.from_json(
        {
            "mediaType": OCI_MANIFEST,
            "digest": ATT_AMD,
            "size": 1,
            "platform": {"architecture": "unknown", "os": "unknown"},
        }
    )
    other_annotation = Descriptor.from_json(
        {
            "mediaType": OCI_MANIFEST,
            "digest": IMG_AMD,
            "size": 1,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }
    )
    assert by_annotation.is_attestation
    assert by_annotation.attests == IMG_AMD
    assert by_platform.is_attestation
    assert by_platform.attests == ""
    assert not other_annotation.is_attestation


def test_docker_manifest_list() -> None:
    doc = Document.parse(raw(DOCKER_MANIFEST_LIST))
    assert doc.media_type == DOCKER_LIST
    assert doc.is_index
    assert doc.attestations == []
    assert [d.platform for d in doc.images] == [AMD64, ARMV7]
    assert {d.media_type for d in doc.images} == {DOCKER_MANIFEST}


def test_image_manifest_config_and_layers() -> None:
    doc = Document.parse(raw(OCI_IMAGE_MANIFEST), OCI_MANIFEST, digest=IMG_AMD)
    assert doc.media_type == OCI_MANIFEST
    assert doc.digest == IMG_AMD  # the digest the registry named is kept
    assert not doc.is_index
    assert doc.descriptors == []
    assert doc.config == Descriptor(OCI_CONFIG, CONFIG, 1470)
    assert [(layer.digest, layer.size) for layer in doc.layers] == [
        (LAYER, 2_000_000),
        (IMG_AMD, 32),
    ]
    assert doc.layers[0].media_type.endswith("+gzip")


def test_config_of_an_index_is_an_error() -> None:
    doc = Document.parse(raw(DOCKER_MANIFEST_LIST))
    with pytest.raises(RegistryError, match="is an index, not an image manifest"):
        _ = doc.config


@pytest.mark.parametrize(
    ("data", "header", "kind"),
    [
        # the document's own mediaType wins over the Content-Type header
        ({"mediaType": DOCKER_MANIFEST, "config": {}}, OCI_MANIFEST, DOCKER_MANIFEST),
        # the header, parameters stripped, when the document has none
        ({"schemaVersion": 2, "manifests": []}, f"{OCI_INDEX}; charset=utf-8", OCI_INDEX),
        ({"schemaVersion": 2, "config": {}}, f" {DOCKER_MANIFEST} ", DOCKER_MANIFEST),
        # neither: guessed from the shape
        ({"schemaVersion": 2, "manifests": []}, "", OCI_INDEX),
        ({"schemaVersion": 2, "config": {}, "layers": []}, "", OCI_MANIFEST),
    ],
)
def test_media_type_resolution(data: dict[str, object], header: str, kind: str) -> None:
    assert Document.parse(raw(data), header).media_type == kind


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "manifest is not JSON"),
        (b"", "manifest is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
    ],
)
def test_parse_rejects_non_documents(body: bytes, problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        Document.parse(body)


@pytest.mark.parametrize(
    "descriptor",
    [
        {"mediaType": OCI_MANIFEST, "size": 1},
        {"mediaType": OCI_MANIFEST, "digest": IMG_AMD, "size": "big"},
        {
            "mediaType": OCI_MANIFEST,
            "digest": IMG_AMD,
            "size": 1,
            "platform": {"os": "linux", "architecture": "sparc"},
        },
    ],
    ids=["no-digest", "bad-size", "unknown-platform"],
)
def test_malformed_descriptor(descriptor: dict[str, object]) -> None:
    doc = Document.parse(raw({"mediaType": OCI_INDEX, "manifests": [descriptor]}))
    with pytest.raises(RegistryError, match="malformed descriptor"):
        _ = doc.descriptors


def test_document_descriptor_points_at_the_bytes() -> None:
    body = raw(OCI_IMAGE_MANIFEST)
    doc = Document.parse(body)
    desc = doc.descriptor(ARMV7)
    assert desc == Descriptor(OCI_MANIFEST, sha256_digest(body), len(body), ARMV7)
    assert desc.to_json() == {
        "mediaType": OCI_MANIFEST,
        "digest": sha256_digest(body),
        "size": len(body),
        "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
    }
    assert "platform" not in desc.to_json(keep_platform=False)


def test_build_oci_index_with_annotations_round_trips() -> None:
    source = Document.parse(raw(OCI_INDEX_WITH_ATTESTATIONS))
    body = build_index(source.descriptors, annotations={"org.opencontainers.image.version": "1.0"})
    data = json.loads(body)
    assert data["schemaVersion"] == 2
    assert data["mediaType"] == OCI_INDEX
    assert data["annotations"] == {"org.opencontainers.image.version": "1.0"}
    assert [m["digest"] for m in data["manifests"]] == [IMG_AMD, IMG_ARM, ATT_AMD, ATT_ARM]
    # arm64's implied v8 is dropped; attestations keep their annotations and unknown/unknown
    assert data["manifests"][1]["platform"] == {"architecture": "arm64", "os": "linux"}
    assert data["manifests"][2]["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert data["manifests"][2]["annotations"][REF_DIGEST] == IMG_AMD
    rebuilt = Document.parse(body)
    assert rebuilt.digest == sha256_digest(body)
    assert rebuilt.images == source.images
    assert rebuilt.attestations == source.attestations


def test_build_docker_list_drops_index_annotations() -> None:
    children = Document.parse(raw(DOCKER_MANIFEST_LIST)).images
    body = build_index(children, media_type=DOCKER_LIST, annotations={"a": "b"})
    data = json.loads(body)
    assert data["mediaType"] == DOCKER_LIST
    assert "annotations" not in data
    assert data["manifests"] == DOCKER_MANIFEST_LIST["manifests"]


def test_build_index_is_deterministic_and_empty_annotations_are_left_out() -> None:
    children = [Descriptor(OCI_MANIFEST, IMG_AMD, 10, AMD64)]
    first = build_index(children, annotations={})
    assert first == build_index(list(children))
    assert "annotations" not in json.loads(first)
    assert sha256_digest(first) == sha256_digest(build_index(children))


def test_accept_lists_all_four_types() -> None:
    for kind in (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST):
        assert kind in ACCEPT
    assert DOCKER_CONFIG not in ACCEPT
