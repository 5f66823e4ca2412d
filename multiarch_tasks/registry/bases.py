"""Which platforms an image offers: the read preflight and zero-config inference share.

:func:`read_platforms` reads an index's entries (or a single manifest's config);
:class:`MemoReader` keeps every answer, so publish can read its base images ahead while
the probes run (:func:`read_bases_ahead`) and preflight reads them from memory.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import TYPE_CHECKING, Protocol, TypeVar

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.model.platforms import Platform

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.model.oci import Document
    from multiarch_tasks.model.reference import ImageRef

T = TypeVar("T")
R = TypeVar("R")

# A quick look: wait less between retries than a copy or a build would.
PREFLIGHT_BACKOFF = 0.25
PREFLIGHT_TIMEOUT = 10.0


class ManifestReader(Protocol):
    """The part of :class:`~multiarch_tasks.registry.client.RegistryClient` preflight uses."""

    def get_manifest(self, ref: ImageRef) -> Document:
        """Fetch a manifest or index."""

    def get_blob(self, ref: ImageRef, digest: str) -> bytes:
        """Fetch a blob (an image config)."""

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Call ``func`` on every item concurrently."""


def read_platforms(client: ManifestReader, ref: ImageRef) -> tuple[str, tuple[Platform, ...]]:
    """(digest, platforms) of ``ref``: an index's entries, or a manifest's config platform."""
    doc = client.get_manifest(ref)
    if doc.is_index:
        return doc.digest, tuple(d.platform for d in doc.images if d.platform is not None)
    config = client.get_blob(ref, doc.config.digest)
    try:
        data = json.loads(config)
    except ValueError as err:
        raise RegistryError(f"config {doc.config.digest} of {ref} is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise RegistryError(f"config {doc.config.digest} of {ref} is not a JSON object")
    return doc.digest, (Platform.from_oci(data),)


class MemoReader:
    """A :class:`ManifestReader` that keeps every answer (or registry error) it got.

    publish reads its base images' indexes ahead, while the probes run
    (:func:`read_bases_ahead`); preflight then reads them from here, not twice.
    """

    def __init__(self, client: ManifestReader) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, ...], object] = {}

    def _once(self, key: tuple[str, ...], read: Callable[[], R]) -> R:
        with self._lock:
            if key in self._seen:
                found = self._seen[key]
                if isinstance(found, RegistryError):
                    raise found
                return found  # type: ignore[return-value] # stored by read() below
        try:
            value: object = read()
        except RegistryError as err:
            value = err
        with self._lock:
            self._seen[key] = value
        if isinstance(value, RegistryError):
            raise value
        return value  # type: ignore[return-value]

    def get_manifest(self, ref: ImageRef) -> Document:
        """The manifest or index of ``ref``, read once."""
        return self._once(("manifest", str(ref)), lambda: self.client.get_manifest(ref))

    def get_blob(self, ref: ImageRef, digest: str) -> bytes:
        """A blob of ``ref``'s repository, read once."""
        return self._once(("blob", ref.name, digest), lambda: self.client.get_blob(ref, digest))

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Call ``func`` on every item concurrently (the client's threads)."""
        return self.client.map(func, items)


def read_bases_ahead(settings: Settings) -> MemoReader:
    """Read the platforms of every image the Dockerfile names; keep the answers for preflight.

    Errors are kept too, for preflight to report in its matrix; a Dockerfile that cannot
    be read reads nothing (preflight says why).
    """
    from multiarch_tasks.engine.facts import base_images  # noqa: PLC0415

    reader = MemoReader(quick_client(settings))

    def read(ref: ImageRef) -> None:
        with suppress(RegistryError):
            read_platforms(reader, ref)

    reader.map(read, list(base_images(settings)))
    return reader


def quick_client(settings: Settings) -> ManifestReader:
    """A registry client for quick looks (preflight, inference): short timeout and backoff."""
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415 - the registry client is heavy

    return RegistryClient(
        insecure=settings.insecure_registries,
        retries=settings.retries,
        timeout=min(settings.timeout or PREFLIGHT_TIMEOUT, PREFLIGHT_TIMEOUT),
        backoff=PREFLIGHT_BACKOFF,
        max_body=settings.max_manifest_size,
    )
