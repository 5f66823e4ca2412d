"""publish's merge: an index pushed by digest (no tag moved), promoted only after verify.

:func:`compose_index` merges the per-arch pushes into one index with the plan's tool and
puts it in the registry under its digest (docker's tool: under a staging tag);
:func:`promote` then writes it to the final tags, in order, and :func:`remove_staging`
deletes the run's staging tags where the registry allows a tag delete. ``merge`` and
``publish`` call these; nothing here verifies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model import oci
from multiarch_tasks.model.errors import CommandError, InvalidValueError, RegistryError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.steps.manifest.sources import (
    fallback_note,
    imagetools_sources,
    index_annotations,
    index_children,
    plain_http,
    resolve_sources,
    transient_failure,
    transient_result,
)

if TYPE_CHECKING:
    from multiarch_tasks.registry.client import RegistryClient


@dataclass(frozen=True)
class Composed:
    """An index in the registry under its digest only (no tag moved yet)."""

    tool: str
    digest: str
    raw: bytes
    media_type: str
    children: tuple[oci.Descriptor, ...] = ()


def compose_index(
    settings: Settings,
    runner: Runner,
    client: RegistryClient,
    digests: Mapping[Platform, str],
    *,
    tool: str,
    staging: str,
) -> Composed:
    """Merge the per-arch pushes into one index and push it by digest (or to ``staging``)."""
    image = settings.image_ref
    sources = resolve_sources(settings, {p: digests[p] for p in settings.platforms}, client)
    children = index_children(settings, sources)
    media = oci.OCI_INDEX if settings.media_type == "oci" else oci.DOCKER_LIST
    if tool == "imagetools":
        argv = commands.imagetools_create(
            [str(settings.ref())],
            imagetools_sources(settings, sources),
            annotations=index_annotations(settings, runner, []),
            dry_run=True,
        )
        try:
            result = runner.run(
                argv, label="merge", retries=settings.retries, retry_if=transient_result
            )
        except CommandError as err:
            if not transient_failure(err):
                raise
            runner.say(fallback_note("merge", err, settings.retries))
        else:
            raw = result.stdout.strip().encode()
            doc = oci.Document.parse(raw)
            client.put_manifest(image.with_digest(doc.digest), raw, doc.media_type)
            return Composed(tool, doc.digest, raw, doc.media_type, tuple(doc.descriptors))
        tool = "native"
    if tool == "docker":
        if settings.annotations:
            raise InvalidValueError(
                "annotations cannot be set with manifest_tool docker (docker manifest has no"
                " index annotations); use imagetools or native"
            )
        srcs = [f"{image.name}@{s.image.digest}" for s in sources]
        insecure = plain_http(settings)
        runner.run(commands.docker_manifest_create(staging, srcs, insecure=insecure), label="merge")
        runner.run(
            commands.docker_manifest_push(staging, insecure=insecure),
            label="merge",
            retries=settings.retries,
        )
        doc = client.get_manifest(ImageRef.parse(staging))
        return Composed(tool, doc.digest, doc.raw, doc.media_type, tuple(doc.descriptors))
    raw = oci.build_index(children, media_type=media, annotations=settings.annotations)
    digest = client.put_manifest(image.with_digest(oci.sha256_digest(raw)), raw, media)
    return Composed(tool, digest, raw, media, tuple(children))


def promote(client: RegistryClient, refs: Sequence[str], raw: bytes, media_type: str) -> list[str]:
    """Write the index to each final tag, in the given order; return the tags moved.

    Each PUT is checked by the digest the registry answers with (``put_manifest``); the
    tags are not read back, because a concurrent run may rightly promote after this one:
    the last promotion wins, and each run reports its own digest (issue 9).
    """
    moved: list[str] = []
    for ref in refs:
        client.put_manifest(ImageRef.parse(ref), raw, media_type)
        moved.append(ref)
    return moved


def remove_staging(client: RegistryClient, refs: Sequence[str]) -> str:
    """Delete the run's staging tags (by tag, after promotion); return a line on those left.

    "" when every one is gone or none was made. A registry that refuses the OCI tag delete
    (Distribution 2.8: 400, or 405 with deletes disabled; many hosted registries) keeps
    them: the line names them and why, and is not an error. Each tag's manifest is read
    back by digest after the delete, because a registry that deleted the manifest along
    with the tag would have taken the published index (or a platform image) with it.
    """
    left: list[str] = []
    reason = ""
    for text in refs:
        ref = ImageRef.parse(text)
        try:
            target = client.head_manifest(ref)
            if target is None:
                continue
            client.delete_tag(ref)
        except RegistryError as err:
            left.append(ref.tag)
            reason = reason or str(err).removeprefix(f"deleting tag {ref}: ")
            continue
        if client.head_manifest(ref.with_digest(target.digest)) is None:
            raise RegistryError(
                f"{ref.registry} deleted manifest {target.digest} along with the staging tag"
                f" {ref.tag}: push the index again (multiarch merge) and report this registry"
            )
    if not left:
        return ""
    image = ImageRef.parse(refs[0]).name
    return (
        f"staging tags left in {image}: {', '.join(left)} (the registry refused the tag"
        f" delete: {reason}); remove them with `regctl tag rm` or the registry's own tag"
        " deletion (docs/plan.md, Staging tags)"
    )
