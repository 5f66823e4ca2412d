"""The one OCI Distribution client: every request to a registry goes through here.

:class:`RegistryClient` reads and writes manifests, tags and blobs over
:class:`~multiarch_tasks.registry.calls.RegistryCalls` (scheme, auth, retries, errors),
which sends them through :mod:`~multiarch_tasks.registry.transport` (urllib3). It checks
every manifest and blob it reads against its digest before handing it on, streams blobs
in bounded memory, and runs independent calls on a thread pool (:meth:`RegistryClient.map`).
Credentials and tokens never appear in error messages.

The names other packages use are importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urljoin

from multiarch_tasks.model.errors import DigestMismatchError, RateLimitedError, RegistryError
from multiarch_tasks.model.oci import ACCEPT, Descriptor, Document
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.auth import Challenge
from multiarch_tasks.registry.blobs import CHUNK, BlobStream, compute_digest, hashed
from multiarch_tasks.registry.calls import DEFAULT_TIMEOUT, RegistryCalls, too_large
from multiarch_tasks.registry.retry import (
    MAX_RETRY_AFTER,
    TransientError,
    backoff_delay,
    retry_after_seconds,
)

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings

__all__ = [
    "CHUNK",
    "DEFAULT_TIMEOUT",
    "MAX_RETRY_AFTER",
    "MAX_WORKERS",
    "BlobStream",
    "Challenge",
    "DigestMismatchError",
    "RateLimitedError",
    "RegistryClient",
    "RegistryError",
    "TransientError",
    "backoff_delay",
    "compute_digest",
    "retry_after_seconds",
]

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 16
_HTTP_CREATED = 201
_HTTP_ACCEPTED = 202
_HTTP_NOT_FOUND = 404


class RegistryClient(RegistryCalls):
    """OCI Distribution API client with docker's auth, retries and digest checks.

    Takes :class:`~multiarch_tasks.registry.calls.RegistryCalls`' arguments.
    """

    @cached_property
    def _by_digest(self) -> dict[tuple[str, str, str], Document]:
        """Manifests read by digest, by (registry, repository, digest).

        Content-addressed, so a second read (build, merge and verify all look at the same
        index) is answered from here.
        """
        return {}

    @classmethod
    def from_settings(
        cls, settings: Settings, say: Callable[[str], None] | None = None
    ) -> RegistryClient:
        """Build a client for ``settings.insecure_registries``, ``retries``, ``timeout``."""
        return cls(
            insecure=settings.insecure_registries,
            retries=settings.retries,
            timeout=settings.timeout or DEFAULT_TIMEOUT,
            say=say,
            max_body=settings.max_manifest_size,
        )

    @classmethod
    def read_back(cls, settings: Settings) -> RegistryClient:
        """A quiet client that does not retry and waits 5 s at most.

        For reading where tags stand after SIGINT/SIGTERM: the run is ending, and a second
        Ctrl-C is not turned into another exception, so nothing here may take long.
        """
        timeout = min(settings.timeout or 5.0, 5.0)
        return cls(
            insecure=settings.insecure_registries,
            retries=0,
            timeout=timeout,
            say=lambda _line: None,
            max_body=settings.max_manifest_size,
        )

    # -- manifests ------------------------------------------------------------------

    def get_manifest(self, ref: ImageRef) -> Document:
        """Fetch a manifest or index by tag or digest, its digest checked."""
        if not ref.reference:
            raise RegistryError(f"{ref} names no tag or digest")
        key = (ref.registry, ref.repository, ref.digest or "")
        if ref.digest and key in self._by_digest:
            return self._by_digest[key]
        url = self.url(ref, "manifests", ref.reference)
        resp = self._request("GET", url, ref, headers={"Accept": ACCEPT})
        self._raise_for(resp, f"manifest {ref}", ref.registry)
        raw = resp.content
        expected = ref.digest or resp.header("Docker-Content-Digest")
        got = compute_digest(raw, expected or "sha256:")
        if expected and got != expected:
            raise DigestMismatchError(
                f"manifest {ref} hashes to {got}, expected {expected}", url=url
            )
        try:
            doc = Document.parse(raw, resp.header("Content-Type"), got)
        except RegistryError as err:
            # Which manifest, and so which registry: "manifest is not JSON" alone names none.
            raise RegistryError(f"manifest {ref}: {err}", url=url) from err
        if ref.digest:
            with self._lock:
                self._by_digest[key] = doc
        return doc

    def head_manifest(self, ref: ImageRef) -> Descriptor | None:
        """Describe a manifest (media type, digest, size) without its body; None if absent."""
        url = self.url(ref, "manifests", ref.reference)
        resp = self._request("HEAD", url, ref, headers={"Accept": ACCEPT})
        if resp.status_code == _HTTP_NOT_FOUND:
            return None
        self._raise_for(resp, f"manifest {ref}", ref.registry)
        digest = resp.header("Docker-Content-Digest")
        media_type = resp.header("Content-Type").split(";")[0].strip()
        if not digest:
            # Registries need not send the digest on HEAD; fetch and hash instead.
            doc = self.get_manifest(ref)
            return Descriptor(doc.media_type, doc.digest, len(doc.raw))
        return Descriptor(media_type, digest, int(resp.header("Content-Length") or 0))

    def put_manifest(self, ref: ImageRef, raw: bytes, media_type: str) -> str:
        """Upload a manifest or index under ``ref``'s tag or digest; return its digest."""
        digest = compute_digest(raw, ref.digest or "sha256:")
        if ref.digest and digest != ref.digest:
            raise DigestMismatchError(
                f"manifest to push to {ref} hashes to {digest}, not {ref.digest}"
            )
        url = self.url(ref, "manifests", ref.reference)
        resp = self._request(
            "PUT", url, ref, push=True, headers={"Content-Type": media_type}, data=raw
        )
        self._raise_for(resp, f"pushing manifest {ref}", ref.registry)
        answered = resp.header("Docker-Content-Digest")
        if answered and answered != digest and answered.startswith(digest.split(":")[0]):
            raise DigestMismatchError(
                f"registry stored manifest {ref} as {answered}, expected {digest}", url=url
            )
        return digest

    def delete_tag(self, ref: ImageRef) -> None:
        """Remove the tag ``ref`` names, never a manifest: the OCI tag delete, by tag only.

        ``DELETE /v2/<name>/manifests/<tag>`` (distribution-spec 1.1). A registry that
        does not offer it refuses with a 4xx (Distribution 2.8: 400 ``DIGEST_INVALID``
        with deletes enabled, 405 ``UNSUPPORTED`` without), raised as a
        :class:`RegistryError` for the caller to report. A delete *by digest* would
        remove the manifest every tag and index pointing at it needs: refused here.
        """
        if ref.digest or not ref.tag:
            raise RegistryError(f"delete_tag needs a tag, not a digest: {ref}")
        url = self.url(ref, "manifests", ref.tag)
        scopes = (f"repository:{ref.repository}:delete",)  # the token spec's delete action
        resp = self._request("DELETE", url, ref, push=True, extra_scopes=scopes)
        self._raise_for(resp, f"deleting tag {ref}", ref.registry)

    def list_tags(self, ref: ImageRef) -> list[str]:
        """Every tag of ``ref``'s repository (following ``Link`` pagination); [] if none."""
        url: str | None = self.url(ref, "tags", "list")
        tags: list[str] = []
        while url:
            resp = self._request("GET", url, ref)
            if resp.status_code == _HTTP_NOT_FOUND:
                return tags
            self._raise_for(resp, f"tags of {ref.name}", ref.registry)
            try:
                tags.extend(str(t) for t in (resp.json().get("tags") or []))
            except (ValueError, AttributeError) as err:
                raise RegistryError(f"tag list of {ref.name} is not JSON", url=url) from err
            nxt = resp.links.get("next", {}).get("url")
            url = urljoin(url, nxt) if nxt else None
        return tags

    # -- blobs ----------------------------------------------------------------------

    def get_blob(self, ref: ImageRef, digest: str) -> bytes:
        """Download a small blob (a config) whole, its digest checked, up to ``max_body``.

        Layers go through :meth:`open_blob` or :meth:`copy_blob`, which never hold a blob.
        """

        def once() -> bytes:
            with self.open_blob(ref, digest) as stream:
                # One byte past the limit tells a blob at the limit from one over it.
                data = b"" if stream.size > self.max_body else stream.read(self.max_body + 1)
                if stream.size > self.max_body or len(data) > self.max_body:
                    what = f"blob {digest} of {ref.name}"
                    raise too_large(what, ref.registry, self.max_body)
                return data

        return self.with_retries(once, f"reading {digest} from {ref.registry}")

    @contextmanager
    def open_blob(self, ref: ImageRef, digest: str) -> Iterator[BlobStream]:
        """Stream a blob; the digest is checked when the end is read.

        Leaving the ``with`` block normally reads whatever is left, so a blob is never
        used unchecked; leaving it by an exception does not.
        """
        url = self.url(ref, "blobs", digest)
        resp = self._request("GET", url, ref, stream=True)
        try:
            self._raise_for(resp, f"blob {digest} of {ref.name}", ref.registry)
            size = int(resp.header("Content-Length") or -1)
            stream = BlobStream(resp, digest, url, size)
            yield stream
            stream.drain()
        finally:
            resp.close()

    def blob_exists(self, ref: ImageRef, digest: str) -> bool:
        """Tell whether ``ref``'s repository holds the blob ``digest``."""
        resp = self._request("HEAD", self.url(ref, "blobs", digest), ref)
        if resp.status_code == _HTTP_NOT_FOUND:
            return False
        self._raise_for(resp, f"blob {digest} of {ref.name}", ref.registry)
        return True

    def mount_blob(self, dest: ImageRef, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob from another repository; True if it did (201)."""
        url = self.url(dest, "blobs", "uploads/")
        resp = self._request(
            "POST",
            url,
            dest,
            push=True,
            extra_scopes=(f"repository:{from_repository}:pull",),
            params={"mount": digest, "from": from_repository},
        )
        if resp.status_code == _HTTP_CREATED:
            return True
        # 202: the registry opened an ordinary upload instead; it expires on its own.
        if resp.status_code == _HTTP_ACCEPTED:
            return False
        self._raise_for(resp, f"mounting {digest} into {dest.name}", dest.registry)
        return False

    def upload_blob(self, dest: ImageRef, digest: str, data: bytes) -> None:
        """Upload a small blob held in memory (a config, a test's layer) in one go."""
        got = compute_digest(data, digest)
        if got != digest:
            raise DigestMismatchError(
                f"blob to upload to {dest.name} hashes to {got}, not {digest}"
            )
        self._put_blob(dest, digest, data, size=len(data), retries=self.retries)

    def upload_blob_stream(
        self, dest: ImageRef, digest: str, chunks: Iterable[bytes], size: int
    ) -> None:
        """Upload a blob from chunks (a file read piece by piece, a generator) of ``size`` bytes.

        Sent as one monolithic PUT with ``Content-Length``, hashed on the way: a mismatch
        raises :class:`DigestMismatchError` (and the registry refuses the upload). Sent
        once: an iterable cannot be replayed, so a fault is the caller's to retry.
        """
        what = f"blob to upload to {dest.name}"
        self._put_blob(dest, digest, hashed(chunks, digest, what), size=size, retries=0)

    def copy_blob(
        self,
        src: ImageRef,
        dest: ImageRef,
        digest: str,
        size: int = -1,
        *,
        moved: Callable[[int], None] | None = None,
    ) -> None:
        """Stream blob ``digest`` from ``src``'s repository to ``dest``'s (any registry).

        The bytes go from the GET straight into a monolithic PUT with ``Content-Length``,
        one chunk at a time, hashed on the way: memory stays at a chunk or two whatever the
        blob's size. A transient fault mid-stream (a dropped connection, a 5xx after the
        body) starts the copy again, within ``retries``. ``moved`` hears each chunk's size
        as it is handed to the upload, and minus what was counted when a try fails (its
        bytes are sent again): a live view's bytes and rate.
        """

        def once() -> None:
            with self.open_blob(src, digest) as stream:
                length = stream.size if stream.size >= 0 else size
                if moved is None:
                    # Unknown length (-1): chunked transfer encoding.
                    self._put_blob(dest, digest, stream, size=length, retries=0)
                    return
                counted = _Counted(stream, moved)
                try:
                    self._put_blob(dest, digest, counted, size=length, retries=0)
                except BaseException:
                    moved(-counted.bytes)
                    raise

        self.with_retries(once, f"copying {digest} to {dest.registry}")

    def _put_blob(
        self,
        dest: ImageRef,
        digest: str,
        body: bytes | Iterable[bytes],
        *,
        size: int,
        retries: int,
    ) -> None:
        """``POST uploads/`` then a monolithic ``PUT <location>?digest=`` of ``body``.

        ``size`` bytes, sent with ``Content-Length``; chunked when it is unknown (-1).
        """
        start = self.url(dest, "blobs", "uploads/")
        resp = self._request("POST", start, dest, push=True)
        self._raise_for(resp, f"starting an upload to {dest.name}", dest.registry)
        location = resp.header("Location")
        if not location:
            raise RegistryError(
                f"registry gave no upload location for {dest.name}",
                status=resp.status_code,
                url=start,
            )
        url = urljoin(start, location)
        resp = self._request(
            "PUT",
            url,
            dest,
            push=True,
            params={"digest": digest},
            headers={
                "Content-Type": "application/octet-stream",
                **({"Content-Length": str(size)} if size >= 0 else {}),
            },
            data=body if size else b"",
            retries=retries,
        )
        self._raise_for(resp, f"uploading {digest} to {dest.name}", dest.registry)

    # -- concurrency ----------------------------------------------------------------

    def map(
        self, func: Callable[[T], R], items: Iterable[T], *, workers: int = MAX_WORKERS
    ) -> list[R]:
        """Call ``func`` on every item concurrently; results in order, first error re-raised.

        The first failure (in the items' order) is raised once the items started before
        it have finished; items not started yet are cancelled.
        """
        todo = list(items)
        if len(todo) <= 1 or workers <= 1:
            return [func(item) for item in todo]
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - loads logging

        pool = ThreadPoolExecutor(min(workers, len(todo)), thread_name_prefix="registry")
        try:
            futures = [pool.submit(func, item) for item in todo]
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class _Counted:
    """Chunks passed on as they are, each one's size told to ``moved`` first."""

    def __init__(self, chunks: Iterable[bytes], moved: Callable[[int], None]) -> None:
        self.chunks = chunks
        self.moved = moved
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.bytes += len(chunk)
            self.moved(len(chunk))
            yield chunk
