"""Tiny synthetic OCI images pushed straight through the registry client (no engine).

For tests and benches that need exact bytes (a given config, given layers) rather than
what buildx would produce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from multiarch_tasks.model import oci
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def push_blob(client: RegistryClient, ref: ImageRef, data: bytes) -> str:
    """Upload ``data`` to ``ref``'s repository; return its digest."""
    digest = oci.sha256_digest(data)
    client.upload_blob(ref, digest, data)
    return digest


def push_image(
    client: RegistryClient,
    ref: ImageRef,
    config: Mapping[str, Any],
    layers: Sequence[bytes],
    *,
    by_digest: bool = True,
) -> tuple[oci.Descriptor, bytes]:
    """Push config + layers and an OCI manifest over them (by digest, or at ``ref``'s tag).

    Layers are labelled gzip or zstd by their magic bytes. Returns the manifest's
    descriptor and raw bytes.
    """
    config_raw = json.dumps(dict(config)).encode()
    layer_descs = [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar"
            + ("+zstd" if blob.startswith(ZSTD_MAGIC) else "+gzip"),
            "digest": push_blob(client, ref, blob),
            "size": len(blob),
        }
        for blob in layers
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.OCI_MANIFEST,
            "config": {
                "mediaType": oci.OCI_CONFIG,
                "digest": push_blob(client, ref, config_raw),
                "size": len(config_raw),
            },
            "layers": layer_descs,
        }
    ).encode()
    target = ref.with_digest(oci.sha256_digest(manifest)) if by_digest else ref
    digest = client.put_manifest(target, manifest, oci.OCI_MANIFEST)
    return oci.Descriptor(oci.OCI_MANIFEST, digest, len(manifest)), manifest
