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
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import Result, Runner
from multiarch_tasks.model import oci
from multiarch_tasks.model.digests import (
    check_shards,
    read_digest_map,
    read_shards,
    write_digest_map,
)
from multiarch_tasks.model.errors import (
    CommandError,
    InvalidValueError,
    MultiarchError,
    RegistryError,
)
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef

if TYPE_CHECKING:
    from collections.abc import Callable

    from multiarch_tasks.registry.client import RegistryClient

PLAN_FILE = "manifest-plan.json"
INDEX_FILE = "index.json"
# What buildx prints when a registry, not the input, made imagetools fail (issue 9).
_TRANSIENT = re.compile(
    r"\b(?:500|502|503|504|429)\b|too many requests|connection reset|connection refused"
    r"|broken pipe|unexpected EOF|\bEOF\b|timeout",
    re.IGNORECASE,
)


def transient_failure(err: CommandError) -> bool:
    """True when a registry command failed on a fault worth another path: 5xx, 429, I/O."""
    return bool(_TRANSIENT.search(err.stderr_tail or str(err)))


def _fallback_note(step: str, err: CommandError, retries: int) -> str:
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


def _client(settings: Settings, say: Callable[[str], None] | None = None) -> RegistryClient:
    """A registry client for ``settings``; imported here, as the client is heavy."""
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    return RegistryClient.from_settings(settings, say=say)


def platform_digests(
    settings: Settings, ref: ImageRef, digest: str, client: RegistryClient | None = None
) -> dict[Platform, str]:
    """The platform manifest digests inside the index ``ref@digest``."""
    client = client or _client(settings)
    doc = client.get_manifest(ref.with_digest(digest))
    return {d.platform: d.digest for d in doc.images if d.platform is not None}


def resolve_sources(
    settings: Settings, digests: dict[Platform, str], client: RegistryClient
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


def _insecure(settings: Settings) -> bool:
    return settings.is_insecure(settings.image_ref.registry)


def choose_tool(settings: Settings, runner: Runner) -> str:
    """The merge tool: decided once, by the plan (``auto`` -> native, no process)."""
    from multiarch_tasks.planning.decide import merge_tool  # noqa: PLC0415

    del runner  # the choice no longer depends on probes
    return merge_tool(settings)


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
        if self.dry:
            verb = "dry run, would push" if self.pushed else "dry run, would create"
        lines = [f"manifest ({self.tool}): {verb} {', '.join(self.tags)} {self.digest}".rstrip()]
        lines += [f"  note: {n}" for n in self.notes]
        for child in self.children if self.pushed else ():
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
    client = client or _client(settings, runner.say)
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
                commands.docker_manifest_create(tag, srcs, insecure=_insecure(settings)),
                label="manifest-create",
            )
    else:
        srcs = [f"{image.name}@{c.digest}" for c in children]
    out.mkdir(parents=True, exist_ok=True)
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


def _imagetools_sources(settings: Settings, sources: Sequence[Source]) -> list[str]:
    """``IMAGE@digest`` per platform: the pushed index (attestations kept) or the image."""
    keep_indexes = settings.attestations != "off" and settings.media_type == "oci"
    name = settings.image_ref.name
    return [f"{name}@{s.pushed if keep_indexes else s.image.digest}" for s in sources]


def _transient_result(result: Result) -> bool:
    return bool(_TRANSIENT.search(result.stderr or result.stdout))


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
    srcs = _imagetools_sources(settings, sources)
    argv = commands.imagetools_create(
        tags, srcs, annotations=_annotations(settings, runner, notes), dry_run=True
    )
    try:
        runner.run(argv, probe=True, label="manifest-create", retries=settings.retries)
    except CommandError as err:
        if not transient_failure(err):
            raise
        notes.append(_fallback_note("manifest-create", err, settings.retries))
        return []
    return srcs


def _annotations(settings: Settings, runner: Runner, notes: list[str]) -> dict[str, str]:
    if not settings.annotations:
        return {}
    from multiarch_tasks.engine import tools  # noqa: PLC0415

    if not tools.buildx_info(runner).imagetools_annotations:
        raise MultiarchError(
            "index annotations need buildx >= 0.12 for imagetools; use manifest_tool native"
        )
    notes.append("index annotations applied at merge time")
    return dict(settings.annotations)


def _dry_commands(
    settings: Settings, runner: Runner, tool: str, tags: tuple[str, ...], sources: list[str]
) -> None:
    if tool == "imagetools":
        runner.run(commands.imagetools_create(tags, sources, annotations=settings.annotations))
    elif tool == "docker":
        for tag in tags:
            runner.run(commands.docker_manifest_create(tag, sources, insecure=_insecure(settings)))
            runner.run(commands.docker_manifest_push(tag, insecure=_insecure(settings)))
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
    client = client or _client(settings, runner.say)
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
            runner.say(_fallback_note("manifest-push", err, settings.retries))
            tool = "native"
            for tag in tags:
                client.put_manifest(ImageRef.parse(tag), raw, str(plan["media_type"]))
    elif tool == "docker":
        for tag in tags:
            runner.run(
                commands.docker_manifest_push(tag, insecure=_insecure(settings)),
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
    shards = read_shards(directories)
    for note in check_shards(shards, settings.platforms):
        runner.say(f"merge: {note}")
    digests = {p: d for shard in shards for p, d in shard.digests.items()}
    if runner.dry:
        manifest_create(settings, runner, digests=digests)
        return manifest_push(settings, runner)
    # As publish does: the index goes in by digest, is verified, and only then moves tags.
    from multiarch_tasks.checks.verify import verify  # noqa: PLC0415
    from multiarch_tasks.planning.plan import staging_tag  # noqa: PLC0415

    tool = choose_tool(settings, runner)
    tags = tuple(str(settings.ref(t)) for t in settings.tags)
    client = _client(settings, runner.say)
    staging = settings.image_ref.with_tag(staging_tag(settings.tags[0], uuid.uuid4().hex[:10]))
    composed = compose_index(settings, runner, client, digests, tool=tool, staging=str(staging))
    report = verify(
        settings,
        settings.image_ref.with_digest(composed.digest),
        runner=runner,
        client=client,
        check_tags=False,
    )
    if not report.ok:
        runner.say(report.render())
        unpromoted = f"{settings.image_ref.name}@{composed.digest}"
        problem = f"verify failed: nothing promoted; the unpromoted index is {unpromoted}"
        return ManifestResult(tool, tags, composed.children, composed.digest, problems=(problem,))
    promote(client, tags, composed.raw, composed.media_type)
    picked = {p: digests[p] for p in settings.platforms}
    write_digest_map(settings.output_dir, picked, index=composed.digest)
    return ManifestResult(tool, tags, composed.children, composed.digest, pushed=True)


# --- publish's merge: an index pushed by digest, promoted only after verify ------------


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
            _imagetools_sources(settings, sources),
            annotations=_annotations(settings, runner, []),
            dry_run=True,
        )
        try:
            result = runner.run(
                argv, label="merge", retries=settings.retries, retry_if=_transient_result
            )
        except CommandError as err:
            if not transient_failure(err):
                raise
            runner.say(_fallback_note("merge", err, settings.retries))
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
        insecure = _insecure(settings)
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
