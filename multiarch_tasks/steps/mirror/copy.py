"""mirror: copy a multi-arch image, every platform of it, to another registry or repository.

The article's trap is mirroring with ``docker pull/tag/push``, which keeps only the host's
platform; the fix is a copier that moves the whole index. Three paths, one result:

- ``skopeo``: ``skopeo copy --multi-arch=all --preserve-digests`` (well kept, the
  article's own fix);
- ``imagetools``: ``docker buildx imagetools create --tag DEST SRC``;
- ``native``: this package's registry client. Each child manifest's config and layers
  are copied (mounted across repositories of the same registry, skipped when DEST
  already has them, several at once), then each child manifest by digest, then the index
  byte for byte, so the index digest does not change.

``auto`` takes skopeo, then imagetools (when ``docker buildx version`` answers), then
native. Copying a subset (``--platforms``) or dropping attestations needs a new index,
whose digest differs from the source's: only the native path does that. After every
copy DEST's digest is read back and compared with SRC's when everything was copied.

Here: the tool choice, the skopeo and imagetools paths and the loop over the jobs. What
to copy and the results are :mod:`.mirror_jobs`', the native copy :mod:`.mirror_native`';
their public names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from multiarch_tasks.engine import commands, tools
from multiarch_tasks.engine.progress import transfer_events
from multiarch_tasks.engine.runner import interruptible, which
from multiarch_tasks.model.errors import (
    InvalidValueError,
    MultiarchError,
    RegistryError,
    RunInterruptedError,
)
from multiarch_tasks.steps.mirror import skopeo
from multiarch_tasks.steps.mirror.jobs import (
    COPIED,
    MOUNTED,
    SKIPPED,
    Copy,
    Job,
    MirrorResult,
    dest_ref,
    filtered_index,
    jobs_for,
    parse_mirror_file,
    select_children,
)
from multiarch_tasks.steps.mirror.native import BLOB_WORKERS, copy_native
from multiarch_tasks.steps.mirror.signatures import companion_tags, copy_signatures

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.registry.client import RegistryClient

TOOLS = ("auto", "skopeo", "imagetools", "native")


def choose_tool(tool: str, runner: Runner, *, subset: bool) -> str:
    """Pick the copier: ``tool``, or for ``auto`` skopeo > imagetools > native."""
    if tool not in TOOLS:
        raise InvalidValueError(f"unknown mirror tool {tool!r} (choose from {', '.join(TOOLS)})")
    if subset and tool in {"skopeo", "imagetools"}:
        raise InvalidValueError(
            f"{tool} copies every platform and attestation as they are; use --tool native"
            " (or auto) to copy a subset of platforms or drop attestations"
        )
    if tool != "auto":
        return tool
    if subset:
        return "native"
    if which("skopeo"):
        return "skopeo"
    if tools.has_buildx(runner):
        return "imagetools"
    return "native"


def mirror(
    settings: Settings,
    runner: Runner,
    *,
    src: str | None,
    dest: str | None,
    tool: str = "auto",
    from_file: str | None = None,
    platforms_given: bool = False,
    attestations: bool = True,
    signatures: bool = True,
    client: RegistryClient | None = None,
) -> MirrorResult:
    """Copy SRC to DEST (and/or every ``SRC DEST`` line of ``from_file``) with all platforms.

    ``platforms_given`` copies only ``settings.platforms`` (a new index: its digest
    differs); ``attestations=False`` drops attestation manifests (and cosign's ``.att``
    tags); ``signatures=False`` leaves cosign's signature and attestation tags behind
    (copied by default, as ``cosign copy`` does). Each copy's failure is reported in its
    :class:`Copy`; the others still run.
    """
    jobs = jobs_for(src, dest, from_file)
    subset = platforms_given or not attestations
    chosen = choose_tool(tool, runner, subset=subset)
    if client is None:
        from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415 - the registry client is heavy

        client = RegistryClient.from_settings(settings, say=runner.say)
    platforms = settings.platforms if platforms_given else None
    copies: list[Copy] = []
    # SIGINT/SIGTERM stop skopeo or imagetools (each in a session of its own, so a
    # terminal's Ctrl-C reaches only us) and end the run with 130/143 and one line.
    with interruptible():
        for number, job in enumerate(jobs):
            before: list[str | None] = []
            try:
                if not runner.dry:
                    found = client.head_manifest(job.dest)
                    before.append(found.digest if found else None)
                copies.append(
                    _copy(
                        settings,
                        runner,
                        client,
                        job,
                        tool=chosen,
                        platforms=platforms,
                        attestations=attestations,
                        signatures=signatures,
                    )
                )
            except RunInterruptedError as err:
                line = _interrupted(err, settings, job, before, copies, jobs[number + 1 :])
                raise RunInterruptedError(line, err.code) from err
            except MultiarchError as err:
                where = f"{job.where}: " if job.where else ""
                copies.append(Copy(str(job.src), str(job.dest), chosen, error=f"{where}{err}"))
    return MirrorResult(tuple(copies))


def _interrupted(
    err: RunInterruptedError,
    settings: Settings,
    job: Job,
    before: list[str | None],
    copies: list[Copy],
    rest: list[Job],
) -> str:
    """The one line an interrupted mirror ends with: where DEST is, what else moved.

    The copier was stopped before this runs. DEST is read again (no retry, 5 s at most):
    equal to what it was before this copy, it is untouched; otherwise the copier wrote it
    whole (skopeo, imagetools and the native path all write the tag last, in one PUT).
    """
    dest = str(job.dest)
    if not before:
        # Interrupted before DEST was even read: nothing was written to it yet.
        state = f"{dest} untouched"
    else:
        from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

        try:
            found = RegistryClient.read_back(settings).head_manifest(job.dest)
        except MultiarchError as read:
            state = f"{dest} unknown: cannot read it back ({read})"
        else:
            now = found.digest if found else None
            if now == before[0]:
                state = f"{dest} untouched: " + (f"still at {now}" if now else "not created")
            else:
                state = f"{dest} fully written at {now}"
    parts = [f"{err}: mirror of {job.src} stopped; {state}"]
    done = [c for c in copies if c.ok]
    if done:
        parts.append("copied before: " + ", ".join(f"{c.dest} ({c.digest})" for c in done))
    if rest:
        parts.append("not started: " + ", ".join(str(j.dest) for j in rest))
    return "; ".join(parts) + "; rerun the same mirror to finish"


def _copy(
    settings: Settings,
    runner: Runner,
    client: RegistryClient,
    job: Job,
    *,
    tool: str,
    platforms: tuple[Platform, ...] | None,
    attestations: bool,
    signatures: bool,
) -> Copy:
    done = _copy_image(
        settings, runner, client, job, tool=tool, platforms=platforms, attestations=attestations
    )
    if not signatures:
        return done
    if runner.dry:
        tags = ", ".join(companion_tags("sha256:<hex>", attestations=attestations))
        runner.say(f"would copy cosign's tags of {job.src}'s digests ({tags}) that exist (native)")
        return done
    # The image is at DEST and read back: now what cosign attached to its digests.
    return replace(done, signatures=copy_signatures(client, job, attestations=attestations))


def _copy_image(
    settings: Settings,
    runner: Runner,
    client: RegistryClient,
    job: Job,
    *,
    tool: str,
    platforms: tuple[Platform, ...] | None,
    attestations: bool,
) -> Copy:
    src, dest = str(job.src), str(job.dest)
    if runner.dry and tool == "native":
        runner.say(f"would copy {src} -> {dest} through the registry API (native)")
        return Copy(src, dest, tool, note="dry run")
    if tool == "native":
        return copy_native(
            client,
            job,
            platforms,
            attestations=attestations,
            report=transfer_events(runner.emit, "mirror"),
        )
    watch: Callable[[str], None] | None = None
    if tool == "skopeo" and not runner.dry:
        # skopeo's lines say which image it copies: each platform's row, from its sizes.
        top = client.get_manifest(job.src)
        source_digest = top.digest
        single = "" if top.is_index else top.digest
        report = transfer_events(runner.emit, "mirror")
        watch = skopeo.SkopeoLines(skopeo.sizes_later(client, job.src, top), report, single)
    else:
        source = client.head_manifest(job.src)
        if source is None:
            raise RegistryError(f"source {src} not found", status=404)
        source_digest = source.digest
    argv = (
        commands.skopeo_copy(
            src,
            dest,
            src_insecure=settings.is_insecure(job.src.registry),
            dest_insecure=settings.is_insecure(job.dest.registry),
            retries=settings.retries,
        )
        if tool == "skopeo"
        else commands.imagetools_create([dest], [src], builder=settings.builder)
    )
    runner.run(argv, label=f"mirror {src}", watch=watch)
    if runner.dry:
        return Copy(src, dest, tool, src_digest=source_digest, note="dry run")
    back = client.head_manifest(job.dest)
    if back is None:
        raise RegistryError(f"{dest} is missing after the copy by {tool}")
    if back.digest != source_digest:
        raise RegistryError(
            f"{dest} has digest {back.digest}, but {src} has {source_digest}: {tool} rewrote"
            " the index; mirror again with --tool native (or skopeo) to keep the digest"
        )
    return Copy(src, dest, tool, back.digest, source_digest, note="same index digest as the source")


__all__ = [
    "BLOB_WORKERS",
    "COPIED",
    "MOUNTED",
    "SKIPPED",
    "TOOLS",
    "Copy",
    "Job",
    "MirrorResult",
    "choose_tool",
    "companion_tags",
    "copy_signatures",
    "dest_ref",
    "filtered_index",
    "jobs_for",
    "mirror",
    "parse_mirror_file",
    "select_children",
]
