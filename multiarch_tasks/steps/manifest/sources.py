"""What every merge path shares: the per-arch pushes resolved to the index's children.

Each platform's push (an image manifest, or since buildx 0.10 an index around it with its
attestation) resolved through the registry client to its platform manifest; the final
index's children, attestations kept or dropped on purpose; the merge tool; the
imagetools sources and annotations; which imagetools failures are the registry's
(worth the native path instead).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Result, Runner
from multiarch_tasks.model import oci
from multiarch_tasks.model.errors import CommandError, MultiarchError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef

if TYPE_CHECKING:
    from collections.abc import Callable

    from multiarch_tasks.registry.client import RegistryClient
    from multiarch_tasks.registry.reader import ImageReader


# What buildx prints when a registry, not the input, made imagetools fail (issue 9).
_TRANSIENT = re.compile(
    r"\b(?:500|502|503|504|429)\b|too many requests|connection reset|connection refused"
    r"|broken pipe|unexpected EOF|\bEOF\b|timeout",
    re.IGNORECASE,
)


def transient_failure(err: CommandError) -> bool:
    """True when a registry command failed on a fault worth another path: 5xx, 429, I/O."""
    return bool(_TRANSIENT.search(err.stderr_tail or str(err)))


def fallback_note(step: str, err: CommandError, retries: int) -> str:
    """What ``step`` says when it leaves imagetools for the native path after ``err``."""
    last = (err.stderr_tail.strip().splitlines() or ["no output"])[-1]
    return (
        f"{step}: imagetools still failed on a transient registry error after {retries}"
        f" retries ({last}); merging through the registry API instead (native, which"
        " retries each request)"
    )


@dataclass(frozen=True)
class Source:
    """One platform's image in the registry, resolved from its per-arch push."""

    platform: Platform
    pushed: str  # what the build pushed: the image manifest, or an index around it
    image: oci.Descriptor
    attestations: tuple[oci.Descriptor, ...] = ()


def client_for(settings: Settings, say: Callable[[str], None] | None = None) -> RegistryClient:
    """A registry client for ``settings``; imported here, as the client is heavy."""
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    return RegistryClient.from_settings(settings, say=say)


def platform_digests(
    settings: Settings, ref: ImageRef, digest: str, client: ImageReader | None = None
) -> dict[Platform, str]:
    """The platform manifest digests inside the index ``ref@digest``."""
    client = client or client_for(settings)
    doc = client.get_manifest(ref.with_digest(digest))
    return {d.platform: d.digest for d in doc.images if d.platform is not None}


def resolve_sources(
    settings: Settings, digests: dict[Platform, str], client: ImageReader
) -> list[Source]:
    """Fetch each per-arch push; an index is resolved to its platform manifest."""
    image = settings.image_ref
    platforms = list(digests)

    def fetch(platform: Platform) -> Source:
        pushed = digests[platform]
        doc = client.get_manifest(image.with_digest(pushed))
        if not doc.is_index:
            return Source(platform, pushed, doc.descriptor(platform))
        matches = [d for d in doc.images if d.platform == platform]
        if len(matches) != 1:
            found = ", ".join(str(d.platform) for d in doc.images) or "nothing"
            raise MultiarchError(
                f"per-arch push {image.name}@{pushed} for {platform} holds {found}, not exactly"
                f" one {platform} image"
            )
        chosen = matches[0]
        attests = tuple(a for a in doc.attestations if a.attests in {"", chosen.digest})
        return Source(platform, pushed, chosen, attests)

    return client.map(fetch, platforms)


def index_children(settings: Settings, sources: Sequence[Source]) -> list[oci.Descriptor]:
    """The descriptors of the final index, attestations kept or dropped on purpose."""
    keep = settings.attestations != "off" and settings.media_type == "oci"
    children: list[oci.Descriptor] = []
    for source in sources:
        image = source.image
        if image.platform != source.platform:
            image = oci.Descriptor(
                image.media_type, image.digest, image.size, source.platform, image.annotations
            )
        children.append(image)
        if keep:
            children += source.attestations
    return children


def plain_http(settings: Settings) -> bool:
    """True when the image's registry is spoken to over plain HTTP."""
    return settings.is_insecure(settings.image_ref.registry)


def choose_tool(settings: Settings, runner: Runner) -> str:
    """The merge tool: decided once, by the plan (``auto`` -> native, no process)."""
    from multiarch_tasks.planning.decide import merge_tool  # noqa: PLC0415

    del runner  # the choice no longer depends on probes
    return merge_tool(settings)


def imagetools_sources(settings: Settings, sources: Sequence[Source]) -> list[str]:
    """``IMAGE@digest`` per platform: the pushed index (attestations kept) or the image."""
    keep_indexes = settings.attestations != "off" and settings.media_type == "oci"
    name = settings.image_ref.name
    return [f"{name}@{s.pushed if keep_indexes else s.image.digest}" for s in sources]


def transient_result(result: Result) -> bool:
    """True when a finished command's output names a registry fault worth a retry."""
    return bool(_TRANSIENT.search(result.stderr or result.stdout))


def index_annotations(settings: Settings, runner: Runner, notes: list[str]) -> dict[str, str]:
    """The index annotations imagetools applies; an error when this buildx cannot."""
    if not settings.annotations:
        return {}
    from multiarch_tasks.engine import tools  # noqa: PLC0415

    if not tools.buildx_info(runner).imagetools_annotations:
        raise MultiarchError(
            "index annotations need buildx >= 0.12 for imagetools; use manifest_tool native"
        )
    notes.append("index annotations applied at merge time")
    return dict(settings.annotations)
