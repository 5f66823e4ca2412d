"""mirror's companions: cosign's signature and attestation tags travel with the image.

cosign stores what it attaches to a digest in the same repository, under tags derived from
that digest: ``sha256-<hex>.sig`` (signatures), ``.att`` (``cosign attest``), ``.sbom``
(``cosign attach sbom``), and ``sha256-<hex>`` (the OCI 1.1 referrers tag schema, the
fallback for registries without the referrers API). No copier moves them (skopeo copies
the image only), so after the image is at DEST each such tag of the index's digest and of
each platform manifest's is looked up at SRC (HEAD) and copied with the native path. The
referrers API itself (``/v2/<name>/referrers/<digest>``) is not read: Distribution 2.8 does
not serve it and cosign 2.x writes the tags unless told otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.model.errors import MultiarchError, RegistryError
from multiarch_tasks.steps.mirror.jobs import Job
from multiarch_tasks.steps.mirror.native import copy_native

if TYPE_CHECKING:
    from multiarch_tasks.registry.client import RegistryClient

SIGNATURE_SUFFIXES = (".sig", ".att", ".sbom", "")


def companion_tags(digest: str, *, attestations: bool = True) -> list[str]:
    """List cosign's tags of ``digest`` (``sha256-<hex>.sig``, ``.att``, ``.sbom``, bare)."""
    algorithm, _, hex_ = digest.partition(":")
    return [
        f"{algorithm}-{hex_}{suffix}"
        for suffix in SIGNATURE_SUFFIXES
        if attestations or suffix != ".att"
    ]


def copy_signatures(
    client: RegistryClient, job: Job, *, attestations: bool = True
) -> tuple[str, ...]:
    """Copy cosign's tags of DEST's index and platform manifests from SRC; return the tags.

    DEST's index is read back, so a subset copy (a new index digest, which nobody signed)
    carries only its platforms' tags; ``attestations=False`` leaves the ``.att`` tags.
    """
    top = client.get_manifest(job.dest)
    digests = [top.digest, *(d.digest for d in top.images)]
    wanted = [tag for d in digests for tag in companion_tags(d, attestations=attestations)]
    found = client.map(lambda tag: client.head_manifest(job.src.with_tag(tag)), wanted)
    present = [tag for tag, there in zip(wanted, found, strict=True) if there is not None]
    for tag in present:
        try:
            copy_native(
                client, Job(job.src.with_tag(tag), job.dest.with_tag(tag)), None, attestations=True
            )
        except MultiarchError as err:
            raise RegistryError(
                f"{job.dest} was copied at {top.digest}, but its cosign tag {tag} was not: {err}"
            ) from err
    return tuple(present)
