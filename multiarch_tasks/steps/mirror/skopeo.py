"""mirror's skopeo path, watched: skopeo's own lines as each platform's transfer.

``skopeo copy --multi-arch=all`` copies an index's images one after another and, off a
terminal, says so in lines: ``Copying image sha256:<child> (1/2)``, a ``Copying blob
sha256:<digest>`` as each blob starts (``... skipped: already exists`` when DEST has it),
``Copying config``, then ``Writing manifest to image destination`` when that image is
whole. It prints no byte counts there, so the sizes come from the manifests (read once,
before the copy): a platform's row shows its blobs started and its time while skopeo
copies, and its bytes and average rate once its manifest is written.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from multiarch_tasks.engine.progress import Transfer
from multiarch_tasks.model.errors import MultiarchError

if TYPE_CHECKING:
    from multiarch_tasks.model.oci import Document
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.client import RegistryClient

__all__ = ["Sizes", "SkopeoLines", "sizes", "sizes_later"]

_IMAGE = re.compile(r"^Copying image (?P<digest>sha256:[0-9a-f]{64}) \(\d+/\d+\)")
_BLOB = re.compile(r"^Copying (?:blob|config) sha256:[0-9a-f]{64}")
_WRITTEN = "Writing manifest to image destination"


@dataclass(frozen=True)
class Sizes:
    """What one image of the copy holds: its platform ("" for an attestation), bytes, blobs."""

    platform: str
    size: int
    blobs: int


def sizes_later(
    client: RegistryClient, src: ImageRef, top: Document
) -> Callable[[], dict[str, Sizes]]:
    """:func:`sizes` read on a thread of its own; what waits for them (first called).

    skopeo starts at once instead of after these reads: they are done long before its
    first image is, and only its lines wait for them. A daemon thread: an interrupted
    mirror does not wait for a slow registry's answer on its way out.
    """
    from concurrent.futures import Future  # noqa: PLC0415 - with a skopeo copy

    future: Future[dict[str, Sizes]] = Future()

    def read() -> None:
        try:
            future.set_result(sizes(client, src, top))
        except MultiarchError as err:
            future.set_exception(err)

    threading.Thread(target=read, name="skopeo-sizes", daemon=True).start()
    return future.result


def sizes(client: RegistryClient, src: ImageRef, top: Document) -> dict[str, Sizes]:
    """Each image skopeo will copy, by manifest digest: read from SRC, concurrently."""
    if not top.is_index:
        return {top.digest: _sizes("", top)}
    children = top.descriptors

    def read(digest: str) -> Document:
        return client.get_manifest(src.with_digest(digest))

    docs = client.map(read, [child.digest for child in children])
    return {
        child.digest: _sizes(
            str(child.platform) if child.platform and not child.is_attestation else "", doc
        )
        for child, doc in zip(children, docs, strict=True)
        if not doc.is_index
    }


def _sizes(platform: str, doc: Document) -> Sizes:
    blobs = [doc.config, *doc.layers]
    return Sizes(platform, sum(b.size for b in blobs), len(blobs))


class SkopeoLines:
    """Reads skopeo's lines (``watch`` of :meth:`Runner.run`) into ``report`` calls.

    Images of one platform key ("" for attestations) add up into one row; a row is done
    when each of its images has had its manifest written. ``single`` is the digest of a
    single-platform SRC: skopeo names no image then, its lines are all that image's.
    """

    def __init__(
        self,
        images: dict[str, Sizes] | Callable[[], dict[str, Sizes]],
        report: Callable[[str, Transfer], None],
        single: str = "",
    ) -> None:
        self._images = images
        self.report = report
        self._lock = threading.Lock()
        self._single = single
        self._current = ""
        self._started: dict[str, int] = {}  # platform -> blobs started
        self._written: dict[str, set[str]] = {}  # platform -> images written

    @cached_property
    def images(self) -> dict[str, Sizes]:
        """Each image's sizes, by manifest digest: read now, or waited for (:func:`sizes_later`).

        Sizes that could not be read leave the copy without rows; the copy itself and its
        read-back are what decide whether it worked.
        """
        if not callable(self._images):
            return self._images
        try:
            return self._images()
        except MultiarchError:
            return {}

    def __call__(self, line: str) -> None:
        """Take one line of skopeo's output."""
        if self._single and not self._current:
            self._current = self._single if self._single in self.images else ""
        text = line.strip()
        if m := _IMAGE.match(text):
            self._current = m.group("digest") if m.group("digest") in self.images else ""
            if self._current:
                self._tell(self.images[self._current].platform)
        elif _BLOB.match(text) and self._current:
            platform = self.images[self._current].platform
            with self._lock:
                self._started[platform] = self._started.get(platform, 0) + 1
            self._tell(platform)
        elif text.startswith(_WRITTEN) and self._current:
            platform = self.images[self._current].platform
            with self._lock:
                self._written.setdefault(platform, set()).add(self._current)
            self._tell(platform)

    def _tell(self, platform: str) -> None:
        mine = [d for d, s in self.images.items() if s.platform == platform]
        total = sum(self.images[d].size for d in mine)
        blobs = sum(self.images[d].blobs for d in mine)
        with self._lock:
            written = set(self._written.get(platform, ()))
            started = self._started.get(platform, 0)
        if len(written) == len(mine):
            self.report(platform, Transfer(total, total, blobs, blobs))
            return
        # Bytes and blobs are known done only for the images whose manifest is written.
        self.report(
            platform,
            Transfer(
                sum(self.images[d].size for d in written),
                total,
                sum(self.images[d].blobs for d in written),
                blobs,
                counted=False,
                started=min(started, blobs),
            ),
        )
