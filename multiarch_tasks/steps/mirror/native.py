"""mirror's native path: the copy through this package's registry client.

Each child manifest's config and layers are copied (mounted across repositories of the
same registry, skipped when DEST already has them, several at once), then each child
manifest by digest, then the index byte for byte, so the index digest does not change; a
subset of platforms or dropped attestations make a new index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from multiarch_tasks.engine.progress import Transfer
from multiarch_tasks.model.errors import InvalidValueError, RegistryError
from multiarch_tasks.model.oci import sha256_digest
from multiarch_tasks.steps.mirror.jobs import (
    COPIED,
    MOUNTED,
    SKIPPED,
    Copy,
    Job,
    filtered_index,
    select_children,
)

if TYPE_CHECKING:
    from multiarch_tasks.model.oci import Descriptor, Document
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.registry.client import RegistryClient

# Layers registries do not serve (Windows base layers): they stay where they are.
_FOREIGN_MARKERS = ("nondistributable", "foreign")
# Blobs copied at once (skopeo's default too): a few streams keep a link busy, memory
# stays at a few MiB per stream.
BLOB_WORKERS = 6


def copy_native(
    client: RegistryClient,
    job: Job,
    platforms: tuple[Platform, ...] | None,
    *,
    attestations: bool,
    report: Callable[[str, Transfer], None] | None = None,
) -> Copy:
    """Copy through the registry API: blobs, then child manifests, then the index.

    ``report`` hears, per platform, how far its blobs are (at the start, as their bytes
    stream, after each blob): a live view shows bytes and rate per platform from it. A
    blob two platforms share counts for the first that has it.

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
    owners: list[str] = [""]
    if top.is_index:
        docs, owners = _missing_children(client, job, children)
    counts = _copy_blobs(client, job, docs, _Tally(report) if report else None, owners)
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
) -> tuple[list[Document], list[str]]:
    """The child manifests DEST lacks, and the platform of each ("" for an attestation).

    Read from SRC: a HEAD and a GET per child, concurrently.
    """

    def missing(child: Descriptor) -> Document | None:
        if client.head_manifest(job.dest.with_digest(child.digest)) is not None:
            return None
        return client.get_manifest(job.src.with_digest(child.digest))

    found = client.map(missing, children)
    pairs = [
        (doc, str(child.platform) if child.platform and not child.is_attestation else "")
        for child, doc in zip(children, found, strict=True)
        if doc is not None
    ]
    docs = [doc for doc, _ in pairs]
    nested = [d for d in docs if d.is_index]
    if nested:
        raise InvalidValueError(
            f"{job.src} holds nested indexes ({nested[0].digest}); use --tool skopeo for it"
        )
    return docs, [platform for _, platform in pairs]


class _Tally:
    """Bytes and blobs copied per platform, told to ``report`` (from the copying threads).

    Bytes are counted as they stream (at most every :data:`EVERY` seconds per platform,
    so a view redrawn 4 times a second sees them move), blobs as they finish; a blob
    mounted rather than streamed counts whole when it is there.
    """

    EVERY = 0.1

    def __init__(self, report: Callable[[str, Transfer], None]) -> None:
        self.report = report
        self._lock = threading.Lock()
        self._owner: dict[str, str] = {}
        self._total: dict[str, list[int]] = {}  # platform -> [bytes, blobs]
        self._done: dict[str, list[int]] = {}
        self._streamed: dict[str, int] = {}  # blob digest -> bytes counted as they moved
        self._told: dict[str, float] = {}  # platform -> when its bytes were last told

    def plan(self, blobs: list[tuple[Descriptor, str]]) -> None:
        for blob, platform in blobs:
            self._owner[blob.digest] = platform
            total = self._total.setdefault(platform, [0, 0])
            total[0] += blob.size
            total[1] += 1
            self._done.setdefault(platform, [0, 0])
        for platform in self._total:
            self._tell(platform)

    def moving(self, blob: Descriptor) -> Callable[[int], None]:
        """What hears ``blob``'s chunks as they stream (minus a failed try's)."""
        platform = self._owner.get(blob.digest, "")

        def moved(count: int) -> None:
            now = time.monotonic()
            with self._lock:
                self._streamed[blob.digest] = self._streamed.get(blob.digest, 0) + count
                self._done.setdefault(platform, [0, 0])[0] += count
                due = now - self._told.get(platform, 0.0) >= self.EVERY
                if due:
                    self._told[platform] = now
            if due:
                self._tell(platform)

        return moved

    def copied(self, blob: Descriptor) -> None:
        platform = self._owner.get(blob.digest, "")
        with self._lock:
            done = self._done.setdefault(platform, [0, 0])
            done[0] += blob.size - self._streamed.pop(blob.digest, 0)
            done[1] += 1
        self._tell(platform)

    def _tell(self, platform: str) -> None:
        with self._lock:
            done, total = self._done[platform], self._total.get(platform, [0, 0])
            now = Transfer(min(done[0], total[0]), total[0], done[1], total[1])
        self.report(platform, now)


def _copy_blobs(
    client: RegistryClient,
    job: Job,
    docs: list[Document],
    tally: _Tally | None = None,
    owners: list[str] | None = None,
) -> dict[str, int]:
    blobs: dict[str, Descriptor] = {}
    owner: dict[str, str] = {}
    for doc, platform in zip(docs, owners or [""] * len(docs), strict=False):
        for blob in [doc.config, *doc.layers]:
            if not any(marker in blob.media_type for marker in _FOREIGN_MARKERS):
                blobs.setdefault(blob.digest, blob)
                owner.setdefault(blob.digest, platform)
    todo = list(blobs.values())
    # HEADs are cheap: all at once; the copies stream, so only a few at a time.
    there = client.map(lambda blob: client.blob_exists(job.dest, blob.digest), todo)
    missing = [blob for blob, have in zip(todo, there, strict=True) if not have]
    if tally is not None:
        tally.plan([(blob, owner[blob.digest]) for blob in missing])

    def copy(blob: Descriptor) -> str:
        outcome = _copy_blob(client, job, blob, tally.moving(blob) if tally else None)
        if tally is not None:
            tally.copied(blob)
        return outcome

    outcomes = client.map(copy, missing, workers=BLOB_WORKERS)
    counts = {kind: outcomes.count(kind) for kind in (COPIED, MOUNTED)}
    return {**counts, SKIPPED: len(todo) - len(missing)}


def _copy_blob(
    client: RegistryClient,
    job: Job,
    blob: Descriptor,
    moved: Callable[[int], None] | None = None,
) -> str:
    same_registry = job.src.registry == job.dest.registry
    if (
        same_registry
        and job.src.repository != job.dest.repository
        and client.mount_blob(job.dest, blob.digest, job.src.repository)
    ):
        return MOUNTED
    client.copy_blob(job.src, job.dest, blob.digest, blob.size, moved=moved)
    return COPIED
