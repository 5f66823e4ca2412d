"""OCI / Docker manifest and index documents as plain data (media types, descriptors).

Pure: parsing, building and classifying documents; the bytes come from
:mod:`multiarch_tasks.registry.client`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.platforms import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT = f"{OCI_INDEX}, {DOCKER_LIST}, {OCI_MANIFEST}, {DOCKER_MANIFEST}"

REF_TYPE = "vnd.docker.reference.type"
REF_DIGEST = "vnd.docker.reference.digest"
ATTESTATION = "attestation-manifest"

# In an attestation manifest (BuildKit's attestation storage), each layer is one in-toto
# statement; the annotation names its predicate type, so kinds are known without the blob.
IN_TOTO = "application/vnd.in-toto+json"
PREDICATE_TYPE = "in-toto.io/predicate-type"
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SPDX_DOCUMENT = "https://spdx.dev/Document"
PROVENANCE_TYPES = frozenset({SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1})


def predicate_kind(predicate_type: str) -> str:
    """``provenance``, ``sbom``, or the predicate type itself for any other statement."""
    if predicate_type in PROVENANCE_TYPES:
        return "provenance"
    if predicate_type == SPDX_DOCUMENT:
        return "sbom"
    return predicate_type or "unknown"


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what an index or manifest says about a child."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        """Parse one descriptor object."""
        try:
            plat = data.get("platform")
            return cls(
                media_type=str(data.get("mediaType", "")),
                digest=str(data["digest"]),
                size=int(data.get("size", 0)),
                platform=Platform.from_oci(plat) if isinstance(plat, Mapping) else None,
                annotations=dict(data.get("annotations") or {}),
                artifact_type=str(data.get("artifactType", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RegistryError(f"malformed descriptor {dict(data)!r}: {err}") from err

    @property
    def is_attestation(self) -> bool:
        """BuildKit attestation manifests (``unknown/unknown`` + reference annotation)."""
        return self.annotations.get(REF_TYPE) == ATTESTATION or bool(
            self.platform and self.platform.is_attestation
        )

    @property
    def attests(self) -> str:
        """Digest of the image manifest this attestation describes (or "")."""
        return self.annotations.get(REF_DIGEST, "")

    def to_json(self, *, keep_platform: bool = True) -> dict[str, Any]:
        """The descriptor as JSON for an index."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if keep_platform and self.platform is not None:
            out["platform"] = self.platform.as_oci()
        return out


@dataclass(frozen=True)
class Document:
    """A manifest or index as fetched: raw bytes, media type, digest, parsed JSON."""

    raw: bytes
    media_type: str
    digest: str
    data: Mapping[str, Any]

    @classmethod
    def parse(cls, raw: bytes, media_type: str = "", digest: str = "") -> Document:
        """Parse bytes; the media type falls back to the document's own ``mediaType``."""
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise RegistryError(f"manifest is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise RegistryError("manifest is not a JSON object")
        kind = str(data.get("mediaType") or media_type.split(";", maxsplit=1)[0].strip())
        if not kind:
            kind = OCI_INDEX if "manifests" in data else OCI_MANIFEST
        return cls(raw, kind, digest or sha256_digest(raw), data)

    @property
    def is_index(self) -> bool:
        """True for an OCI index or a Docker manifest list."""
        return self.media_type in INDEX_TYPES or "manifests" in self.data

    @property
    def descriptors(self) -> list[Descriptor]:
        """The children of an index (empty for a manifest)."""
        return [Descriptor.from_json(m) for m in self.data.get("manifests") or []]

    @property
    def images(self) -> list[Descriptor]:
        """The index's platform images, attestations left out."""
        return [d for d in self.descriptors if not d.is_attestation]

    @property
    def attestations(self) -> list[Descriptor]:
        """The index's attestation manifests."""
        return [d for d in self.descriptors if d.is_attestation]

    @property
    def config(self) -> Descriptor:
        """The config descriptor of an image manifest."""
        if self.is_index:
            raise RegistryError(f"{self.digest} is an index, not an image manifest")
        return Descriptor.from_json(self.data["config"])

    @property
    def layers(self) -> list[Descriptor]:
        """The layer descriptors of an image manifest, bottom first."""
        return [Descriptor.from_json(layer) for layer in self.data.get("layers") or []]

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """A descriptor pointing at this document (for putting it into an index)."""
        return Descriptor(self.media_type, self.digest, len(self.raw), platform)


def build_index(
    children: list[Descriptor],
    *,
    media_type: str = OCI_INDEX,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise an OCI index or Docker manifest list over ``children``.

    A Docker manifest list may only hold Docker v2 manifests; attestations (OCI
    manifests) are the caller's to drop first.
    """
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    doc["manifests"] = [c.to_json() for c in children]
    if annotations and media_type == OCI_INDEX:
        doc["annotations"] = dict(annotations)
    return json.dumps(doc, indent=2, sort_keys=False).encode()
