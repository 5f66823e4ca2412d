"""manifest-create / manifest-push / merge: the multi-arch index over the per-arch pushes.

The article's trap: since buildx 0.10 a per-arch ``--push`` attaches a provenance
attestation, so ``IMAGE:TAG-linux-arm64`` is itself an index and
``docker manifest create --amend`` fails with "... is a manifest list". Every tool here
is handed the *platform manifest digest* (resolved through the registry client), never the
per-arch tag; attestation manifests are kept (OCI index) or dropped per ``attestations``.

``manifest_tool``: ``imagetools`` (``docker buildx imagetools create``), ``docker``
(``docker manifest create --amend`` + ``push --purge``, the article's), ``native`` (this
package writes the index through the registry API), ``auto`` (imagetools when buildx is
there, else native). Nothing moves a tag before ``manifest_push``.

Here: ``manifest-create``, ``manifest-push`` and ``merge`` (several shards' digest maps
into one index). What they share is :mod:`.manifest_sources`'; publish's compose-by-digest
and promote are :mod:`.manifest_compose`'. Their public names are importable from here too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import Runner, interruptible
from multiarch_tasks.model import oci
from multiarch_tasks.model.digests import (
    check_shards,
    make_output_dir,
    read_digest_map,
    read_shards,
    write_digest_map,
)
from multiarch_tasks.model.errors import (
    CommandError,
    InvalidValueError,
    MultiarchError,
    RegistryError,
    RunInterruptedError,
    ToolMissingError,
)
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.steps.manifest.compose import Composed, compose_index, promote, remove_staging
from multiarch_tasks.steps.manifest.sources import (
    Source,
    choose_tool,
    client_for,
    fallback_note,
    imagetools_sources,
    index_annotations,
    index_children,
    plain_http,
    platform_digests,
    resolve_sources,
    transient_failure,
)

if TYPE_CHECKING:
    from multiarch_tasks.registry.client import RegistryClient

PLAN_FILE = "manifest-plan.json"
INDEX_FILE = "index.json"


@dataclass(frozen=True)
class ManifestResult:
    """The index as created or pushed: tool, children, digest, tags."""

    tool: str
    tags: tuple[str, ...]
    children: tuple[oci.Descriptor, ...] = ()
    digest: str = ""
    pushed: bool = False
    notes: tuple[str, ...] = field(default=())
    dry: bool = False
    problems: tuple[str, ...] = ()  # why nothing was promoted (merge's verify failed)

    @property
    def ok(self) -> bool:
        """Created or pushed, and (merge) verified before any tag moved."""
        return not self.problems

    def render(self) -> str:
        """Tool, tags, and the index's children."""
        verb = "pushed" if self.pushed else "created (not pushed yet)"
        if self.tool == "oci-layout":  # merge --layout: on disk, and never pushed
            verb = "written, verified"
        if self.dry:
            verb = "dry run, would push" if self.pushed else "dry run, would create"
        lines = [f"manifest ({self.tool}): {verb} {', '.join(self.tags)} {self.digest}".rstrip()]
        lines += [f"  note: {n}" for n in self.notes]
        for child in self.children if self.pushed or self.tool == "oci-layout" else ():
            kind = "attestation" if child.is_attestation else str(child.platform)
            lines.append(f"  {kind:<16} {child.digest}")
        lines += list(self.problems)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The result as JSON."""
        return {
            "ok": self.ok,
            "tool": self.tool,
            "tags": list(self.tags),
            "digest": self.digest,
            "pushed": self.pushed,
            "problems": list(self.problems),
            "manifests": [c.to_json() for c in self.children],
        }


def _why(settings: Settings, runner: Runner, tool: str) -> str:
    from multiarch_tasks.engine import tools  # noqa: PLC0415 - packaging, only for manifest-create

    if tool == "native" and not tools.has_buildx(runner):
        return "per-arch pushes resolved to platform manifests through the registry API"
    info = tools.buildx_info(runner)
    if info.attests_by_default and settings.attestations != "off":
        return (
            f"buildx {info.version} >= 0.10 attaches attestations by default, so each per-arch"
            " tag may be an index: passing platform manifest digests, not per-arch tags"
        )
    return "passing platform manifest digests, not per-arch tags"


def manifest_create(  # noqa: C901, PLR0912 - one branch per tool, kept side by side
    settings: Settings,
    runner: Runner,
    *,
    digests: dict[Platform, str] | None = None,
    client: RegistryClient | None = None,
) -> ManifestResult:
    """Assemble the index from the digest map; write the plan; move no tag."""
    image = settings.image_ref
    tags = tuple(str(settings.ref(t)) for t in settings.tags)
    tool = choose_tool(settings, runner)
    if tool == "docker" and settings.annotations:
        raise InvalidValueError(
            "annotations cannot be set with manifest_tool docker (docker manifest has no"
            " index annotations); use imagetools or native"
        )
    out = Path(settings.output_dir)
    if runner.dry and digests is None:
        # Nothing was pushed: show the commands with the per-arch tags as sources.
        sources_text = [str(settings.per_arch_ref(p)) for p in settings.platforms]
        _dry_commands(settings, runner, tool, tags, sources_text)
        return ManifestResult(
            tool, tags, notes=("sources are the per-arch tags until they exist",), dry=True
        )
    if digests is None:
        digests, _ = read_digest_map(out)
    missing = [str(p) for p in settings.platforms if p not in digests]
    if missing:
        raise InvalidValueError(
            f"no digest for {', '.join(missing)} in {out}: build those platforms first"
        )
    digests = {p: digests[p] for p in settings.platforms}
    client = client or client_for(settings, runner.say)
    sources = resolve_sources(settings, digests, client)
    children = index_children(settings, sources)
    if tool == "docker":
        children = [c for c in children if not c.is_attestation]
    notes = [_why(settings, runner, tool)]
    if settings.attestations != "off" and settings.media_type == "docker":
        notes.append("attestations dropped: a Docker manifest list cannot carry them")
    media = oci.OCI_INDEX if settings.media_type == "oci" else oci.DOCKER_LIST
    raw = oci.build_index(children, media_type=media, annotations=settings.annotations)
    digest = oci.sha256_digest(raw) if tool == "native" else ""
    if tool == "imagetools":
        srcs = _imagetools_dry_run(settings, runner, tags, sources, notes)
        if not srcs:  # fell back to the native path
            tool, digest = "native", oci.sha256_digest(raw)
            srcs = [f"{image.name}@{c.digest}" for c in children]
    elif tool == "docker":
        srcs = [f"{image.name}@{s.image.digest}" for s in sources]
        if settings.attestations != "off":
            notes.append("attestations dropped: docker manifest lists only platform images")
        for tag in tags:
            runner.run(commands.docker_manifest_rm(tag), check=False)
            runner.run(
                commands.docker_manifest_create(tag, srcs, insecure=plain_http(settings)),
                label="manifest-create",
            )
    else:
        srcs = [f"{image.name}@{c.digest}" for c in children]
    make_output_dir(out)
    (out / INDEX_FILE).write_bytes(raw)
    plan = {
        "tool": tool,
        "tags": list(tags),
        "sources": srcs,
        "media_type": media,
        "index_digest": digest,
    }
    (out / PLAN_FILE).write_text(json.dumps(plan, indent=2) + "\n")
    for note in notes:
        runner.say(f"manifest-create: {note}")
    return ManifestResult(tool, tags, tuple(children), digest, notes=tuple(notes))


def _imagetools_dry_run(
    settings: Settings,
    runner: Runner,
    tags: tuple[str, ...],
    sources: Sequence[Source],
    notes: list[str],
) -> list[str]:
    """Check the merge with ``imagetools create --dry-run``; its sources, or [] to go native.

    A failure that is the registry's (5xx, 429, dropped connection) after ``retries``
    sends the merge down the native path, which retries each request on its own.
    """
    srcs = imagetools_sources(settings, sources)
    argv = commands.imagetools_create(
        tags, srcs, annotations=index_annotations(settings, runner, notes), dry_run=True
    )
    try:
        runner.run(argv, probe=True, label="manifest-create", retries=settings.retries)
    except CommandError as err:
        if not transient_failure(err):
            raise
        notes.append(fallback_note("manifest-create", err, settings.retries))
        return []
    return srcs


def _dry_commands(
    settings: Settings, runner: Runner, tool: str, tags: tuple[str, ...], sources: list[str]
) -> None:
    if tool == "imagetools":
        runner.run(commands.imagetools_create(tags, sources, annotations=settings.annotations))
    elif tool == "docker":
        for tag in tags:
            runner.run(commands.docker_manifest_create(tag, sources, insecure=plain_http(settings)))
            runner.run(commands.docker_manifest_push(tag, insecure=plain_http(settings)))
    else:
        for tag in tags:
            runner.say(f"PUT {tag} (index over {', '.join(sources)})")


def manifest_push(
    settings: Settings,
    runner: Runner,
    *,
    client: RegistryClient | None = None,
) -> ManifestResult:
    """Push the index from ``manifest_create`` to every tag; check what the registry holds."""
    out = Path(settings.output_dir)
    if runner.dry:
        # manifest_create already printed the commands that push; nothing was created.
        tags = tuple(str(settings.ref(t)) for t in settings.tags)
        return ManifestResult(choose_tool(settings, runner), tags, pushed=True, dry=True)
    try:
        plan = json.loads((out / PLAN_FILE).read_text())
        raw = (out / INDEX_FILE).read_bytes()
    except FileNotFoundError as err:
        raise InvalidValueError(
            f"no index in {out}: run `multiarch manifest-create` first"
        ) from err
    tool, tags, sources = str(plan["tool"]), tuple(plan["tags"]), list(plan["sources"])
    client = client or client_for(settings, runner.say)
    if tool == "imagetools":
        from multiarch_tasks.engine import tools  # noqa: PLC0415

        try:
            runner.run(
                commands.imagetools_create(
                    tags,
                    sources,
                    annotations=settings.annotations
                    if tools.buildx_info(runner).imagetools_annotations
                    else None,
                ),
                label="manifest-push",
                retries=settings.retries,
            )
        except CommandError as err:
            if not transient_failure(err):
                raise
            runner.say(fallback_note("manifest-push", err, settings.retries))
            tool = "native"
            for tag in tags:
                client.put_manifest(ImageRef.parse(tag), raw, str(plan["media_type"]))
    elif tool == "docker":
        for tag in tags:
            runner.run(
                commands.docker_manifest_push(tag, insecure=plain_http(settings)),
                label="manifest-push",
                retries=settings.retries,
            )
    else:
        for tag in tags:
            client.put_manifest(ImageRef.parse(tag), raw, str(plan["media_type"]))
    digest = _read_back(client, tags, str(plan.get("index_digest") or ""))
    digests, _ = read_digest_map(out) if (out / "digests.json").exists() else ({}, "")
    write_digest_map(out, digests, index=digest)
    doc = client.get_manifest(ImageRef.parse(tags[0]).with_digest(digest))
    return ManifestResult(tool, tags, tuple(doc.descriptors), digest, pushed=True)


def _read_back(client: RegistryClient, tags: Sequence[str], expected: str) -> str:
    """Every tag must now resolve to one digest (and the one we computed, when we did)."""
    found = {}
    for tag in tags:
        desc = client.head_manifest(ImageRef.parse(tag))
        if desc is None:
            raise RegistryError(f"{tag} is absent after the push")
        found[tag] = desc.digest
    values = set(found.values())
    if len(values) != 1:
        raise RegistryError(f"tags point at different indexes after the push: {found}")
    digest = values.pop()
    if expected and digest != expected:
        raise RegistryError(f"registry holds {digest} for {tags[0]}, not the index {expected}")
    return digest


def merge(settings: Settings, runner: Runner, directories: Sequence[str]) -> ManifestResult:
    """Merge the digest maps in ``directories`` into one index and push it to every tag.

    The shards must make one image (``digests.check_shards``): every platform once, one
    digest each, one commit, the same labels and annotations; otherwise nothing is pushed.
    """
    import os  # noqa: PLC0415

    if settings.layout:
        raise InvalidValueError(
            "layout = true: the shards' OCI layouts merge on disk, through"
            " multiarch_tasks.steps.manifest.layout.merge (api.merge picks it)"
        )
    from multiarch_tasks.config.signing import check_sign_inputs, signing_secrets  # noqa: PLC0415

    # --sign (a CI merge job's): a key or an OIDC token must be there before anything moves,
    # and cosign's password or token never shows in a line.
    check_sign_inputs(settings, os.environ)
    runner = runner.with_secrets(*signing_secrets(os.environ))
    shards = read_shards(directories)
    for note in check_shards(shards, settings.platforms):
        runner.say(f"merge: {note}")
    digests = {p: d for shard in shards for p, d in shard.digests.items()}
    if runner.dry:
        manifest_create(settings, runner, digests=digests)
        if settings.sign:
            runner.say("merge: would sign the verified index with cosign before the tags move")
        return manifest_push(settings, runner)
    made: list[Composed] = []
    # SIGINT/SIGTERM stop buildx imagetools / docker manifest and end the run with 130/143
    # and one line saying which tags moved.
    with interruptible():
        try:
            return _merge(settings, runner, digests, made)
        except RunInterruptedError as err:
            raise RunInterruptedError(_merge_interrupted(err, settings, made), err.code) from err


def _merge(
    settings: Settings, runner: Runner, digests: dict[Platform, str], made: list[Composed]
) -> ManifestResult:
    # As publish does: the index goes in by digest, is verified, and only then moves tags.
    from multiarch_tasks.checks.verify.check import verify  # noqa: PLC0415
    from multiarch_tasks.planning.plan.make import staging_tag  # noqa: PLC0415

    tool = choose_tool(settings, runner)
    tags = tuple(str(settings.ref(t)) for t in settings.tags)
    client = client_for(settings, runner.say)
    staging = settings.image_ref.with_tag(staging_tag(settings.tags[0], uuid.uuid4().hex[:10]))
    composed = compose_index(settings, runner, client, digests, tool=tool, staging=str(staging))
    made.append(composed)
    report = verify(
        settings,
        settings.image_ref.with_digest(composed.digest),
        runner=runner,
        client=client,
        check_tags=False,
    )
    unpromoted = f"{settings.image_ref.name}@{composed.digest}"
    if not report.ok:
        runner.say(report.render())
        signed = "; nothing signed" if settings.sign else ""
        problem = f"verify failed: nothing promoted{signed}; the unpromoted index is {unpromoted}"
        return ManifestResult(tool, tags, composed.children, composed.digest, problems=(problem,))
    if settings.sign:
        # As publish does: only a verified index is signed, and a signing failure moves no tag.
        from multiarch_tasks.steps.sign import run_sign_step  # noqa: PLC0415

        try:
            runner.say(run_sign_step(settings, runner, composed.digest, composed.raw).render())
        except (CommandError, ToolMissingError) as err:
            problem = (
                f"signing failed: nothing promoted; {err}; the unpromoted index is {unpromoted}"
            )
            return ManifestResult(
                tool, tags, composed.children, composed.digest, problems=(problem,)
            )
    promote(client, tags, composed.raw, composed.media_type)
    if tool == "docker":  # the one merge tool that pushes to a staging tag
        left = remove_staging(client, [str(staging)])
        if left:
            runner.say(left)
    picked = {p: digests[p] for p in settings.platforms}
    write_digest_map(settings.output_dir, picked, index=composed.digest)
    return ManifestResult(tool, tags, composed.children, composed.digest, pushed=True)


def _merge_interrupted(err: RunInterruptedError, settings: Settings, made: list[Composed]) -> str:
    """The one line an interrupted merge ends with: which final tags hold the new index.

    Before the index was composed no tag was touched; after, each tag is read back (no
    retry, 5 s at most): the ones at the new index were promoted, the others not moved.
    """
    tags = [str(settings.ref(t)) for t in settings.tags]
    if not made:
        return f"{err}: nothing promoted; {', '.join(tags)} untouched"
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    quick = RegistryClient.read_back(settings)
    promoted: list[str] = []
    kept: list[str] = []
    for tag in tags:
        try:
            found = quick.head_manifest(ImageRef.parse(tag))
        except MultiarchError as read:
            kept.append(f"{tag} (unknown: {read})")
            continue
        (promoted if found and found.digest == made[0].digest else kept).append(tag)
    index = f"{settings.image_ref.name}@{made[0].digest}"
    return (
        f"{err}: the index is {index}; promoted: {', '.join(promoted) or 'none'};"
        f" not moved: {', '.join(kept) or 'none'}; rerun the same merge to finish"
    )


__all__ = [
    "INDEX_FILE",
    "PLAN_FILE",
    "Composed",
    "ManifestResult",
    "Source",
    "choose_tool",
    "compose_index",
    "index_children",
    "manifest_create",
    "manifest_push",
    "merge",
    "platform_digests",
    "promote",
    "resolve_sources",
    "transient_failure",
]
