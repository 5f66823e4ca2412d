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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multiarch_tasks.engine import commands, tools
from multiarch_tasks.engine.runner import which
from multiarch_tasks.model.errors import InvalidValueError, MultiarchError, RegistryError
from multiarch_tasks.model.oci import sha256_digest
from multiarch_tasks.model.reference import ImageRef

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.oci import Descriptor, Document
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.registry.client import RegistryClient

TOOLS = ("auto", "skopeo", "imagetools", "native")
COPIED = "copied"
MOUNTED = "mounted"
SKIPPED = "skipped"
# Layers registries do not serve (Windows base layers): they stay where they are.
_FOREIGN_MARKERS = ("nondistributable", "foreign")
# Blobs copied at once (skopeo's default too): a few streams keep a link busy, memory
# stays at a few MiB per stream.
BLOB_WORKERS = 6


# --- what to copy (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One copy: SRC to DEST, and where it was asked for (``FILE:LINE`` or "")."""

    src: ImageRef
    dest: ImageRef
    where: str = ""


def parse_mirror_file(text: str, path: str = "mirror list") -> list[tuple[str, str, int]]:
    """Read ``SRC DEST`` lines; ``#`` starts a comment, blank lines are ignored."""
    out: list[tuple[str, str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        words = line.split()
        if len(words) != 2:  # noqa: PLR2004
            raise InvalidValueError(f"{path}:{number}: expected 'SRC DEST', got {raw.strip()!r}")
        out.append((words[0], words[1], number))
    return out


def dest_ref(src: ImageRef, dest: str) -> ImageRef:
    """DEST as a reference; without a tag it takes SRC's tag (``mirror golang:1.22 reg/golang``)."""
    ref = ImageRef.parse(dest, default_tag="")
    if ref.digest:
        raise InvalidValueError(
            f"destination {dest!r} names a digest; give a tag (the digest follows from SRC)"
        )
    if ref.tag:
        return ref
    if not src.tag:
        raise InvalidValueError(
            f"destination {dest!r} needs a tag: the source {src} is given by digest only"
        )
    return ref.with_tag(src.tag)


def jobs_for(src: str | None, dest: str | None, from_file: str | None) -> list[Job]:
    """List the copies asked for: SRC DEST, the lines of ``from_file``, or both."""
    pairs: list[tuple[str, str, str]] = []
    if src or dest:
        if not (src and dest):
            raise InvalidValueError("mirror needs both SRC and DEST (or --from-file FILE)")
        pairs.append((src, dest, ""))
    if from_file:
        try:
            text = Path(from_file).read_text(encoding="utf-8")
        except OSError as err:
            raise InvalidValueError(f"cannot read mirror list {from_file}: {err.strerror}") from err
        pairs += [(s, d, f"{from_file}:{n}") for s, d, n in parse_mirror_file(text, from_file)]
    if not pairs:
        raise InvalidValueError(
            "mirror needs SRC and DEST, or --from-file FILE with 'SRC DEST' lines"
        )
    jobs = []
    for source, target, where in pairs:
        try:
            src_ref = ImageRef.parse(source)
            jobs.append(Job(src_ref, dest_ref(src_ref, target), where))
        except InvalidValueError as err:
            raise InvalidValueError(f"{where}: {err}" if where else str(err)) from err
    return jobs


def select_children(
    index: Document, platforms: tuple[Platform, ...] | None, attestations: bool
) -> list[Descriptor]:
    """Pick the index entries to copy: the platforms asked for, their attestations if kept."""
    images = [
        d
        for d in index.images
        if platforms is None or (d.platform is not None and d.platform in platforms)
    ]
    if platforms is not None:
        missing = [p for p in platforms if not any(d.platform == p for d in images)]
        if missing:
            have = ", ".join(str(d.platform) for d in index.images)
            raise InvalidValueError(
                f"the source has no {', '.join(str(p) for p in missing)} (it has {have})"
            )
    kept = {d.digest for d in images}
    return [
        d
        for d in index.descriptors
        if d.digest in kept
        or (attestations and d.is_attestation and (d.attests in kept or not d.attests))
    ]


def filtered_index(index: Document, children: list[Descriptor]) -> bytes:
    """``index`` with only ``children`` left in it, every other field kept as it was."""
    keep = {d.digest for d in children}
    data: dict[str, Any] = dict(index.data)
    data["manifests"] = [m for m in index.data.get("manifests") or [] if m.get("digest") in keep]
    return json.dumps(data, indent=2).encode()


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


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One finished (or failed) copy and what it left at DEST."""

    src: str
    dest: str
    tool: str
    digest: str = ""
    src_digest: str = ""
    platforms: tuple[str, ...] = ()
    blobs: Mapping[str, int] = field(default_factory=dict)
    note: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the copy succeeded and DEST reads back as expected."""
        return not self.error

    def render(self) -> str:
        """Return one line: what went where, by which tool, with which digest."""
        if self.error:
            return f"mirror: FAILED {self.src} -> {self.dest} ({self.tool}): {self.error}"
        text = f"mirror: {self.src} -> {self.dest} via {self.tool}"
        if self.digest:
            text += f": {self.digest}"
        details = []
        if self.platforms:
            details.append(f"{len(self.platforms)} platform(s): {', '.join(self.platforms)}")
        if self.blobs:
            details.append(
                f"blobs: {self.blobs.get(COPIED, 0)} copied, {self.blobs.get(MOUNTED, 0)}"
                f" mounted, {self.blobs.get(SKIPPED, 0)} already there"
            )
        if self.note:
            details.append(self.note)
        return text + (f" ({'; '.join(details)})" if details else "")

    def to_json(self) -> dict[str, Any]:
        """Return the copy as JSON."""
        return {
            "src": self.src,
            "dest": self.dest,
            "tool": self.tool,
            "digest": self.digest,
            "src_digest": self.src_digest,
            "platforms": list(self.platforms),
            "blobs": dict(self.blobs),
            "note": self.note,
            "ok": self.ok,
            "error": self.error,
        }


@dataclass(frozen=True)
class MirrorResult:
    """Every copy of one ``mirror`` call."""

    copies: tuple[Copy, ...]

    @property
    def ok(self) -> bool:
        """True when every copy succeeded."""
        return bool(self.copies) and all(c.ok for c in self.copies)

    def render(self) -> str:
        """Show one line per copy."""
        return "\n".join(c.render() for c in self.copies)

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON (``--json``)."""
        return {"ok": self.ok, "copies": [c.to_json() for c in self.copies]}


# --- copying ------------------------------------------------------------------------------


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
    client: RegistryClient | None = None,
) -> MirrorResult:
    """Copy SRC to DEST (and/or every ``SRC DEST`` line of ``from_file``) with all platforms.

    ``platforms_given`` copies only ``settings.platforms`` (a new index: its digest
    differs); ``attestations=False`` drops attestation manifests. Each copy's failure is
    reported in its :class:`Copy`; the others still run.
    """
    jobs = jobs_for(src, dest, from_file)
    subset = platforms_given or not attestations
    chosen = choose_tool(tool, runner, subset=subset)
    if client is None:
        from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415 - the registry client is heavy

        client = RegistryClient.from_settings(settings, say=runner.say)
    platforms = settings.platforms if platforms_given else None
    copies = []
    for job in jobs:
        try:
            copies.append(
                _copy(
                    settings,
                    runner,
                    client,
                    job,
                    tool=chosen,
                    platforms=platforms,
                    attestations=attestations,
                )
            )
        except MultiarchError as err:
            where = f"{job.where}: " if job.where else ""
            copies.append(Copy(str(job.src), str(job.dest), chosen, error=f"{where}{err}"))
    return MirrorResult(tuple(copies))


def _copy(
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
        return _copy_native(client, job, platforms, attestations=attestations)
    source = client.head_manifest(job.src)
    if source is None:
        raise RegistryError(f"source {src} not found", status=404)
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
    runner.run(argv, label=f"mirror {src}")
    if runner.dry:
        return Copy(src, dest, tool, src_digest=source.digest, note="dry run")
    back = client.head_manifest(job.dest)
    if back is None:
        raise RegistryError(f"{dest} is missing after the copy by {tool}")
    if back.digest != source.digest:
        raise RegistryError(
            f"{dest} has digest {back.digest}, but {src} has {source.digest}: {tool} rewrote"
            " the index; mirror again with --tool native (or skopeo) to keep the digest"
        )
    return Copy(src, dest, tool, back.digest, source.digest, note="same index digest as the source")


def _copy_native(
    client: RegistryClient,
    job: Job,
    platforms: tuple[Platform, ...] | None,
    *,
    attestations: bool,
) -> Copy:
    """Copy through the registry API: blobs, then child manifests, then the index.

    What DEST already holds is not read from SRC at all: the index when DEST's tag
    already has SRC's digest (a registry accepts an index only once its children exist,
    and a manifest only once its blobs do), a child manifest present by digest, a blob
    present (HEAD) or mountable from SRC's repository on the same registry.
    """
    src, dest = str(job.src), str(job.dest)
    top = client.get_manifest(job.src)
    subset = platforms is not None or not attestations
    if not top.is_index:
        if platforms is not None:
            raise InvalidValueError(
                f"{job.src} is a single-platform image: --platforms needs an index"
            )
        children: list[Descriptor] = []
        docs = [top]
    else:
        children = select_children(top, platforms, attestations)
        docs = []
    raw = filtered_index(top, children) if subset and top.is_index else top.raw
    want = top.digest if raw is top.raw else sha256_digest(raw)
    copied = tuple(str(d.platform) for d in children if d.platform and not d.is_attestation)
    there = client.head_manifest(job.dest)
    if there is not None and there.digest == want:
        note = "already there: DEST's tag holds this digest"
        return Copy(src, dest, "native", want, top.digest, copied, {}, note)
    if top.is_index:
        docs = _missing_children(client, job, children)
    counts = _copy_blobs(client, job, docs)
    if top.is_index:
        client.map(
            lambda d: client.put_manifest(job.dest.with_digest(d.digest), d.raw, d.media_type),
            docs,
        )
    digest = client.put_manifest(job.dest, raw, top.media_type)
    back = client.head_manifest(job.dest)
    if back is None:
        raise RegistryError(f"{dest} is missing after the copy")
    if back.digest != digest:
        raise RegistryError(f"{dest} reads back as {back.digest}, not the {digest} pushed")
    note = (
        f"new index (source index {top.digest}): a subset changes the digest"
        if subset
        else "same index digest as the source"
    )
    if len(docs) < max(len(children), 1):
        note += f"; {max(len(children), 1) - len(docs)} manifest(s) already there"
    return Copy(src, dest, "native", digest, top.digest, copied, counts, note)


def _missing_children(
    client: RegistryClient, job: Job, children: list[Descriptor]
) -> list[Document]:
    """The child manifests DEST lacks, read from SRC (HEAD and GET per child, concurrently)."""

    def missing(child: Descriptor) -> Document | None:
        if client.head_manifest(job.dest.with_digest(child.digest)) is not None:
            return None
        return client.get_manifest(job.src.with_digest(child.digest))

    docs = [d for d in client.map(missing, children) if d is not None]
    nested = [d for d in docs if d.is_index]
    if nested:
        raise InvalidValueError(
            f"{job.src} holds nested indexes ({nested[0].digest}); use --tool skopeo for it"
        )
    return docs


def _copy_blobs(client: RegistryClient, job: Job, docs: list[Document]) -> dict[str, int]:
    blobs: dict[str, Descriptor] = {}
    for doc in docs:
        for blob in [doc.config, *doc.layers]:
            if not any(marker in blob.media_type for marker in _FOREIGN_MARKERS):
                blobs.setdefault(blob.digest, blob)
    todo = list(blobs.values())
    # HEADs are cheap: all at once; the copies stream, so only a few at a time.
    there = client.map(lambda blob: client.blob_exists(job.dest, blob.digest), todo)
    missing = [blob for blob, have in zip(todo, there, strict=True) if not have]
    outcomes = client.map(lambda blob: _copy_blob(client, job, blob), missing, workers=BLOB_WORKERS)
    counts = {kind: outcomes.count(kind) for kind in (COPIED, MOUNTED)}
    return {**counts, SKIPPED: len(todo) - len(missing)}


def _copy_blob(client: RegistryClient, job: Job, blob: Descriptor) -> str:
    same_registry = job.src.registry == job.dest.registry
    if (
        same_registry
        and job.src.repository != job.dest.repository
        and client.mount_blob(job.dest, blob.digest, job.src.repository)
    ):
        return MOUNTED
    client.copy_blob(job.src, job.dest, blob.digest, blob.size)
    return COPIED
