"""What the checks read an image through: a registry, or an OCI layout on disk.

:class:`ImageReader` is the part of :class:`~multiarch_tasks.registry.client.RegistryClient`
that verify, inspect and merge's sources use; :class:`~multiarch_tasks.registry.layout.LayoutSource`
offers the same, read from a directory. :func:`reader_for` picks the one a reference needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar

from multiarch_tasks.model.layoutref import LayoutRef

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.model.oci import Descriptor, Document
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.blobs import BlobStream

T = TypeVar("T")
R = TypeVar("R")


class ImageReader(Protocol):
    """Manifests by tag or digest (digest checked, media type known) and blobs."""

    def get_manifest(self, ref: ImageRef) -> Document:
        """The manifest or index ``ref`` names, its digest checked."""
        ...

    def head_manifest(self, ref: ImageRef) -> Descriptor | None:
        """Describe the manifest ``ref`` names; None when there is none."""
        ...

    def get_blob(self, ref: ImageRef, digest: str) -> bytes:
        """A small blob (a config) whole, its digest checked, within the size limit."""
        ...

    def open_blob(self, ref: ImageRef, digest: str) -> AbstractContextManager[BlobStream]:
        """Stream a blob; its digest is checked when the end is read."""
        ...

    def list_tags(self, ref: ImageRef) -> list[str]:
        """Every tag of ``ref``'s repository (or layout)."""
        ...

    def with_retries(self, func: Callable[[], R], what: str) -> R:
        """Run ``func`` again after a passing fault (a layout has none: once)."""
        ...

    def map(self, func: Callable[[T], R], items: Iterable[T], *, workers: int = ...) -> list[R]:
        """Call ``func`` on every item, results in order, first error re-raised."""
        ...


def reader_for(
    settings: Settings, ref: ImageRef, say: Callable[[str], None] | None = None
) -> ImageReader:
    """The layout source for an ``oci-layout://`` reference, else a registry client."""
    if isinstance(ref, LayoutRef):
        from multiarch_tasks.registry.layout import LayoutSource  # noqa: PLC0415

        return LayoutSource.open(ref, max_body=settings.max_manifest_size)
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415 - urllib3

    return RegistryClient.from_settings(settings, say=say)
