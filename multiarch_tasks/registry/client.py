"""The one OCI Distribution client: every HTTP request to a registry goes through here.

Built on the standard library's ``http.client`` through :mod:`multiarch_tasks.registry.wire`
(pooled keep-alive connections shared by the worker threads of :meth:`RegistryClient.map`,
streaming, redirects, proxies; see docs/verify.md for why not requests, httpx or oras-py).
The client

- speaks plain HTTP to loopback registries and to the configured insecure ones, HTTPS
  to everything else;
- answers ``401`` challenges: Basic with the credentials of ``$DOCKER_CONFIG/config.json``
  (``auths``, ``credsStore``, ``credHelpers``), Bearer by fetching a token from the
  challenge's realm for the challenge's service and scope;
- retries ``429``/``5xx`` and connection errors with exponential backoff, honouring
  ``Retry-After``; a registry still rate limiting after the last retry raises
  :class:`~multiarch_tasks.model.errors.RateLimitedError`;
- checks every manifest and blob it reads against its sha256 digest before handing it on.

Credentials and tokens never appear in error messages.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import urlencode, urljoin

from multiarch_tasks.model.errors import DigestMismatchError, RateLimitedError, RegistryError
from multiarch_tasks.model.oci import ACCEPT, Descriptor, Document
from multiarch_tasks.model.reference import ImageRef, is_loopback_host
from multiarch_tasks.registry import wire
from multiarch_tasks.registry.credentials import (
    Credentials,
    credentials_from_config,
    docker_config_path,
    load_docker_config,
    run_credential_helper,
)

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_TIMEOUT = 30.0
# A Retry-After longer than this is not waited out: the error says how long to wait.
MAX_RETRY_AFTER = 60.0
MAX_WORKERS = 16
# Bytes per read off the wire: big enough that Python's per-chunk work is noise, small
# enough that a few blobs in flight stay within a few MiB.
CHUNK = 1 << 20
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_HTTP_OK = 200
_HTTP_CREATED = 201
_HTTP_ACCEPTED = 202
_HTTP_BAD_REQUEST = 400
_HTTP_UNAUTHORIZED = 401
_HTTP_FORBIDDEN = 403
_HTTP_NOT_FOUND = 404
_HTTP_TOO_MANY = 429


class _Hasher(Protocol):
    """What we use of a hashlib object (its own type is private)."""

    @property
    def name(self) -> str: ...
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Chunked(Protocol):
    """What :class:`BlobStream` uses of a streamed :class:`wire.Response`."""

    def iter_content(self, chunk_size: int) -> Iterator[bytes]: ...
    def close(self) -> None: ...


# --- credentials ---------------------------------------------------------------------


# --- challenges and retry timing -------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme plus its parameters."""

    scheme: str
    params: Mapping[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        """Parse ``Bearer realm="...",service="...",scope="..."`` (or ``Basic realm=...``)."""
        scheme, _, rest = header.strip().partition(" ")
        params = {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace(
                '\\"', '"'
            )
            for m in _CHALLENGE_PARAM.finditer(rest)
        }
        return cls(scheme.lower(), params)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - only for an HTTP date

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, retry_after: float | None) -> float:
    """Return the wait before retry ``attempt`` (1-based): Retry-After, else exponential."""
    if retry_after is not None:
        return retry_after
    return float(base * 2 ** (attempt - 1))


def _hasher(digest: str) -> _Hasher:
    algorithm = digest.partition(":")[0]
    if algorithm not in {"sha256", "sha384", "sha512"}:
        raise DigestMismatchError(f"unsupported digest algorithm in {digest!r}")
    return hashlib.new(algorithm)


def compute_digest(data: bytes, like: str = "sha256:") -> str:
    """Digest of ``data`` with the algorithm of ``like``."""
    hasher = _hasher(like)
    hasher.update(data)
    return f"{hasher.name}:{hasher.hexdigest()}"


def _error_detail(resp: wire.Response) -> str:
    """Extract the registry's own error code and message (Distribution's ``errors``)."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    first = errors[0]
    return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")


# --- streamed blobs ------------------------------------------------------------------


class TransientError(RegistryError):
    """A fault worth trying again: 5xx, 429, a dropped connection, a timeout."""


class BlobStream:
    """A file-like, iterable view of a blob being downloaded; checks the digest on the fly.

    Memory stays bounded by one chunk (``CHUNK``) plus what a caller asked for: chunks are
    hashed as they arrive and handed on, never gathered. ``read(n)`` returns up to ``n``
    bytes; iterating yields the chunks as they come (what an upload streams). The read that
    hits end of stream raises :class:`DigestMismatchError` when the bytes do not hash to
    ``digest``; a connection dropped mid-blob raises :class:`TransientError`.
    """

    def __init__(self, resp: _Chunked, digest: str, url: str, size: int = -1) -> None:
        self._resp = resp
        self._chunks = resp.iter_content(CHUNK)
        # A bytearray: appending and dropping its head are amortised O(1) per byte, where
        # `bytes += chunk` copied the whole buffer each time (quadratic on big layers).
        self._buffer = bytearray()
        self._hasher = _hasher(digest)
        self._eof = False
        self.digest = digest
        self.url = url
        self.size = size
        self.bytes_read = 0

    def readable(self) -> bool:
        """Tell io users this stream can be read."""
        return True

    def _next_chunk(self) -> bytes:
        """The next chunk off the wire, hashed; b"" at the end (digest checked there)."""
        chunk = b""
        while not chunk:  # an empty chunk is not the end: only StopIteration is
            if self._eof:
                return b""
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._finish()
                return b""
            except wire.TransportError as err:
                raise TransientError(
                    f"reading blob {self.digest} failed after {self.bytes_read} bytes: {err.kind}",
                    url=self.url,
                ) from err
        self._hasher.update(chunk)
        self.bytes_read += len(chunk)
        return chunk

    def _finish(self) -> None:
        self._eof = True
        got = f"{self._hasher.name}:{self._hasher.hexdigest()}"
        if got != self.digest:
            raise DigestMismatchError(
                f"blob {self.digest} from {self.url} hashes to {got}", url=self.url
            )

    def read(self, size: int = -1) -> bytes:
        """Read ``size`` bytes, fewer only at the end (everything left when negative)."""
        if size < 0:
            parts = [bytes(self._buffer)]
            self._buffer.clear()
            while chunk := self._next_chunk():
                parts.append(chunk)
            return b"".join(parts)
        if not self._buffer:
            chunk = self._next_chunk()
            if len(chunk) == size or not chunk:
                return chunk  # no copy at all
            self._buffer += chunk
        while len(self._buffer) < size and (chunk := self._next_chunk()):
            self._buffer += chunk
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def __iter__(self) -> Iterator[bytes]:
        """Yield what is left, chunk by chunk, as it arrives."""
        if self._buffer:
            head = bytes(self._buffer)
            self._buffer.clear()
            yield head
        while chunk := self._next_chunk():
            yield chunk

    def drain(self) -> None:
        """Read (and hash) whatever is left, so the digest is checked."""
        self._buffer.clear()
        while self._next_chunk():
            pass

    @property
    def verified(self) -> bool:
        """True once the whole blob was read and matched its digest."""
        return self._eof

    def close(self) -> None:
        """Release the connection."""
        self._resp.close()


class _SizedBody:
    """An upload body wire sends with ``Content-Length`` (its ``len``), chunk by chunk."""

    def __init__(self, chunks: Iterable[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)


# --- the client ----------------------------------------------------------------------


class RegistryClient:
    """OCI Distribution API client with docker's auth, retries and digest checks.

    ``insecure`` lists ``host[:port]`` registries reached like loopback ones: HTTPS without
    certificate checks when they speak TLS, else plain HTTP. ``retries`` is how often a
    429/5xx/connection error is retried, ``backoff`` the first wait in seconds (doubled
    each time unless the registry sends ``Retry-After``); ``docker_config`` a directory
    holding ``config.json``; ``say`` prints the one line each retry logs (stderr by
    default; the tasks pass their runner's ``say``).
    """

    def __init__(
        self,
        *,
        insecure: Iterable[str] = (),
        retries: int = 3,
        timeout: float = DEFAULT_TIMEOUT,
        docker_config: str | None = None,
        backoff: float = 1.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.insecure = frozenset(insecure)
        self.retries = max(0, retries)
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.backoff = backoff
        self.say = say or _say_stderr
        self.config_path = docker_config_path(docker_config)
        # Keep-alive connections, shared by the threads of map().
        self.session = wire.Transport()
        self._lock = threading.Lock()
        self._tentative: set[str] = set()
        # Held while config.json / a credential helper is read, so a helper runs once.
        self._credentials_lock = threading.Lock()
        self._credentials: dict[str, Credentials | None] = {}
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._schemes: dict[str, str] = {}
        # Manifests read by digest: content-addressed, so a second read (build, merge and
        # verify all look at the same index) is answered from here.
        self._by_digest: dict[tuple[str, str, str], Document] = {}

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
        )

    # -- URLs -----------------------------------------------------------------------

    def scheme(self, registry: str) -> str:
        """``https``; for loopback and insecure registries, plain HTTP until it fails.

        dockerd tries HTTPS without certificate checks first and falls back to plain
        HTTP. This client tries plain HTTP first, with the first real request (no probe:
        a TLS handshake costs ~100 ms of certificate loading, a probe a round trip): a
        registry that speaks TLS answers it with ``400`` ("HTTP request to an HTTPS
        server") or drops the connection, and from then on this registry is spoken to in
        HTTPS without certificate checks (see :meth:`_settle_scheme`).
        """
        if not (is_loopback_host(registry) or registry in self.insecure):
            return "https"
        with self._lock:
            known = self._schemes.get(registry)
            if known:
                return known
            self._schemes[registry] = "http"
            self._tentative.add(registry)
        return "http"

    def _settle_scheme(
        self, registry: str, url: str, resp: wire.Response | None, err: wire.TransportError | None
    ) -> str:
        """After a first plain-HTTP request to ``registry``: the URL to try again, or "".

        A TLS server answers plain HTTP with ``400`` naming HTTPS (Go's and nginx's
        wording) or by closing the connection (then an HTTPS request decides: a transient
        drop must not switch an HTTP registry to HTTPS); then HTTPS it is. Any other
        answer, or a refused connection (nobody listening), settles on HTTP.
        """
        with self._lock:
            if registry not in self._tentative or not url.startswith("http://"):
                return ""
            self._tentative.discard(registry)
        if resp is not None:
            speaks_tls = resp.status_code == _HTTP_BAD_REQUEST and "HTTPS" in resp.text.upper()
        elif err is None or err.refused:
            speaks_tls = False
        else:
            # Dropped: a TLS server hanging up on plain HTTP, or a transient fault. Ask.
            # (The user declared this registry insecure, or it is on loopback: like docker,
            # nothing is said about the unchecked certificate.)
            try:
                self.session.request(
                    "GET", f"https://{registry}/v2/", timeout=min(self.timeout, 5.0), verify=False
                ).close()
                speaks_tls = True
            except wire.TransportError:
                speaks_tls = False
        if not speaks_tls:
            return ""
        with self._lock:
            self._schemes[registry] = "https"
        return "https://" + url.removeprefix("http://")

    def _current_url(self, url: str, ref: ImageRef) -> str:
        """``url`` in the scheme ``ref``'s registry turned out to speak (URLs built earlier)."""
        if url.startswith(f"http://{ref.api_host}/") and self._schemes.get(ref.registry) == (
            "https"
        ):
            return "https://" + url.removeprefix("http://")
        return url

    def _verify_tls(self, registry: str) -> bool:
        """Check certificates except for loopback/insecure registries that speak HTTPS."""
        return self._schemes.get(registry) != "https"

    def url(self, ref: ImageRef, kind: str, reference: str = "") -> str:
        """``SCHEME://API_HOST/v2/REPO/KIND[/REFERENCE]``."""
        base = f"{self.scheme(ref.registry)}://{ref.api_host}/v2/{ref.repository}/{kind}"
        return f"{base}/{reference}" if reference else base

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
        expected = ref.digest or resp.headers.get("Docker-Content-Digest", "")
        got = compute_digest(raw, expected or "sha256:")
        if expected and got != expected:
            raise DigestMismatchError(
                f"manifest {ref} hashes to {got}, expected {expected}", url=url
            )
        doc = Document.parse(raw, resp.headers.get("Content-Type", ""), got)
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
        digest = resp.headers.get("Docker-Content-Digest", "")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if not digest:
            # Registries need not send the digest on HEAD; fetch and hash instead.
            doc = self.get_manifest(ref)
            return Descriptor(doc.media_type, doc.digest, len(doc.raw))
        return Descriptor(media_type, digest, int(resp.headers.get("Content-Length") or 0))

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
        answered = resp.headers.get("Docker-Content-Digest", "")
        if answered and answered != digest and answered.startswith(digest.split(":")[0]):
            raise DigestMismatchError(
                f"registry stored manifest {ref} as {answered}, expected {digest}", url=url
            )
        return digest

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
        """Download a small blob (a config) whole, its digest checked.

        Layers go through :meth:`open_blob` or :meth:`copy_blob`, which never hold a blob.
        """

        def once() -> bytes:
            with self.open_blob(ref, digest) as stream:
                return stream.read()

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
            size = int(resp.headers.get("Content-Length") or -1)
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
        self._put_blob(dest, digest, data, retries=self.retries)

    def upload_blob_stream(
        self, dest: ImageRef, digest: str, chunks: Iterable[bytes], size: int
    ) -> None:
        """Upload a blob from chunks (a file read piece by piece, a generator) of ``size`` bytes.

        Sent as one monolithic PUT with ``Content-Length``, hashed on the way: a mismatch
        raises :class:`DigestMismatchError` (and the registry refuses the upload). Sent
        once: an iterable cannot be replayed, so a fault is the caller's to retry.
        """

        def hashed() -> Iterator[bytes]:
            hasher = _hasher(digest)
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk
            got = f"{hasher.name}:{hasher.hexdigest()}"
            if got != digest:
                raise DigestMismatchError(
                    f"blob to upload to {dest.name} hashes to {got}, not {digest}"
                )

        self._put_blob(dest, digest, _SizedBody(hashed(), size) if size else b"", retries=0)

    def copy_blob(self, src: ImageRef, dest: ImageRef, digest: str, size: int = -1) -> None:
        """Stream blob ``digest`` from ``src``'s repository to ``dest``'s (any registry).

        The bytes go from the GET straight into a monolithic PUT with ``Content-Length``,
        one chunk at a time, hashed on the way: memory stays at a chunk or two whatever the
        blob's size. A transient fault mid-stream (a dropped connection, a 5xx after the
        body) starts the copy again, within ``retries``.
        """

        def once() -> None:
            with self.open_blob(src, digest) as stream:
                length = stream.size if stream.size >= 0 else size
                # Unknown length: chunked transfer encoding; empty: an empty body.
                body: bytes | Iterable[bytes] = (
                    _SizedBody(stream, length) if length > 0 else (stream if length else b"")
                )
                self._put_blob(dest, digest, body, retries=0)

        self.with_retries(once, f"copying {digest} to {dest.registry}")

    def with_retries(self, func: Callable[[], R], what: str) -> R:
        """Run ``func`` (a whole streamed read or copy) again after a :class:`TransientError`.

        For work a single request's retry cannot redo: a blob cut off mid-stream is read
        again from the start. Within ``retries``, with backoff, one line per retry.
        """
        attempt = 0
        while True:
            try:
                return func()
            except TransientError as err:
                if attempt >= self.retries:
                    raise
                attempt += 1
                delay = backoff_delay(attempt, self.backoff, None)
                self.say(f"registry: {what}: {err}; retry {attempt}/{self.retries} in {delay:g}s")
                time.sleep(delay)

    def _put_blob(
        self, dest: ImageRef, digest: str, body: bytes | Iterable[bytes], *, retries: int
    ) -> None:
        """``POST uploads/`` then a monolithic ``PUT <location>?digest=`` of ``body``."""
        start = self.url(dest, "blobs", "uploads/")
        resp = self._request("POST", start, dest, push=True)
        self._raise_for(resp, f"starting an upload to {dest.name}", dest.registry)
        location = resp.headers.get("Location")
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
            headers={"Content-Type": "application/octet-stream"},
            data=body,
            retries=retries,
        )
        self._raise_for(resp, f"uploading {digest} to {dest.name}", dest.registry)

    # -- concurrency ----------------------------------------------------------------

    def map(
        self, func: Callable[[T], R], items: Iterable[T], *, workers: int = MAX_WORKERS
    ) -> list[R]:
        """Call ``func`` on every item concurrently; results in order, first error re-raised."""
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        with ThreadPoolExecutor(max(1, workers)) as pool:
            return list(pool.map(func, items))

    # -- plumbing -------------------------------------------------------------------

    def _raise_for(self, resp: wire.Response, what: str, registry: str) -> None:
        if resp.status_code < 300:  # noqa: PLR2004
            return
        detail = _error_detail(resp)
        reason = f"{resp.status_code} {resp.reason}" + (f" ({detail})" if detail else "")
        kind: type[RegistryError] = RegistryError
        if resp.status_code == _HTTP_NOT_FOUND:
            message = f"{what}: not found ({detail or '404'})"
        elif resp.status_code == _HTTP_UNAUTHORIZED:
            message = (
                f"{registry} refused {what}: {reason} (authentication failed); log in with"
                f" `docker login {registry}` or check the credentials in {self.config_path}"
            )
        elif resp.status_code == _HTTP_FORBIDDEN:
            message = f"{registry} denies access to {what}: {reason}"
        else:
            message = f"{what}: {reason}"
            if resp.status_code in _RETRY_STATUSES:
                kind = TransientError
        raise kind(message, status=resp.status_code, url=_safe_url(resp.url))

    def _request(  # noqa: C901 - one loop: scheme, auth, then the retry rules
        self,
        method: str,
        url: str,
        ref: ImageRef,
        *,
        push: bool = False,
        extra_scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: bytes | Iterable[bytes] | None = None,
        stream: bool = False,
        retries: int | None = None,
    ) -> wire.Response:
        """Send one request with auth, answering one 401 challenge and retrying faults.

        Retried (``retries``, default the client's, with exponential backoff or the
        registry's ``Retry-After``): 429, 500/502/503/504, refused or dropped connections
        and timeouts; one line per retry goes to ``say``. Everything else is returned as
        it came. A streamed body cannot be sent twice: its caller passes ``retries=0`` and
        retries the whole copy; a connection fault then raises :class:`TransientError`.
        """
        limit = self.retries if retries is None else retries
        actions = "pull,push" if push else "pull"
        scopes = (f"repository:{ref.repository}:{actions}", *extra_scopes)
        retried_auth = False
        attempt = 0
        url = self._current_url(url, ref)
        while True:
            auth = self._authorization(ref.registry, scopes)
            sent = {**(headers or {}), **({"Authorization": auth} if auth else {})}
            try:
                resp = self.session.request(
                    method,
                    url,
                    headers=sent,
                    params=params,
                    body=data,
                    stream=stream,
                    timeout=self.timeout,
                    verify=self._verify_tls(ref.registry),
                )
            except wire.TransportError as err:
                if again := self._settle_scheme(ref.registry, url, None, err):
                    url = again
                    continue
                if attempt < limit:
                    attempt += 1
                    self._retrying(method, url, err.kind, attempt, limit, None)
                    continue
                raise TransientError(
                    f"{method} {_safe_url(url)}: cannot reach {ref.registry}"
                    f" after {attempt + 1} attempt{'s' if attempt else ''} ({err.kind})",
                    url=_safe_url(url),
                ) from err
            if again := self._settle_scheme(ref.registry, url, resp, None):
                resp.close()
                url = again
                continue
            if resp.status_code == _HTTP_UNAUTHORIZED and not retried_auth:
                header = resp.headers.get("WWW-Authenticate", "")
                if header and self._learn_challenge(ref.registry, Challenge.parse(header)):
                    retried_auth = True
                    resp.close()
                    continue
            if resp.status_code in _RETRY_STATUSES:
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
                if resp.status_code == _HTTP_TOO_MANY and (
                    attempt >= limit or (wait is not None and wait > MAX_RETRY_AFTER)
                ):
                    resp.close()
                    after = f" (it asks to wait {wait:.0f}s)" if wait is not None else ""
                    raise RateLimitedError(
                        f"{ref.registry} is rate limiting requests (429 Too Many Requests)"
                        f" after {attempt + 1} attempts{after}; log in for a higher limit or"
                        " copy the image to your own registry with `multiarch mirror`",
                        status=_HTTP_TOO_MANY,
                        url=_safe_url(url),
                    )
                if attempt < limit:
                    attempt += 1
                    resp.close()
                    why = f"{resp.status_code} {resp.reason}"
                    self._retrying(method, url, why, attempt, limit, wait)
                    continue
            return resp

    def _retrying(
        self, method: str, url: str, why: str, attempt: int, limit: int, wait: float | None
    ) -> None:
        """Log one line for retry ``attempt`` and wait before it."""
        delay = min(backoff_delay(attempt, self.backoff, wait), MAX_RETRY_AFTER)
        self.say(
            f"registry: {method} {_safe_url(url)}: {why}; retry {attempt}/{limit} in {delay:g}s"
        )
        time.sleep(delay)

    # -- auth -----------------------------------------------------------------------

    def credentials(self, registry: str) -> Credentials | None:
        """Look up (once) the credentials config.json holds for ``registry``."""
        with self._credentials_lock:
            if registry not in self._credentials:
                config = load_docker_config(self.config_path)
                self._credentials[registry] = credentials_from_config(
                    config, registry, run_credential_helper, source=str(self.config_path)
                )
            return self._credentials[registry]

    def _learn_challenge(self, registry: str, challenge: Challenge) -> bool:
        """Remember how ``registry`` wants to be spoken to; False if we cannot answer."""
        if challenge.scheme == "basic":
            if self.credentials(registry) is None:
                return False
        elif challenge.scheme == "bearer":
            if not challenge.params.get("realm"):
                raise RegistryError(f"{registry} sent a Bearer challenge without a realm")
        else:
            raise RegistryError(f"{registry} asks for unsupported auth scheme {challenge.scheme!r}")
        with self._lock:
            self._challenges[registry] = challenge
            # A 401 despite a token means it expired or lacks a scope: fetch new ones.
            self._tokens = {k: v for k, v in self._tokens.items() if k[0] != registry}
        return True

    def _authorization(self, registry: str, scopes: Sequence[str]) -> str:
        """Return the ``Authorization`` header for a request, or "" before any challenge."""
        with self._lock:
            challenge = self._challenges.get(registry)
        if challenge is None:
            return ""
        creds = self.credentials(registry)
        if challenge.scheme == "basic":
            return creds.basic if creds else ""
        key = (registry, " ".join(scopes))
        with self._lock:
            cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        token, expires_in = self._fetch_token(registry, challenge, scopes, creds)
        with self._lock:
            # Renew a little early so a token never expires between check and use.
            self._tokens[key] = (token, time.monotonic() + max(0.0, expires_in - 10))
        return f"Bearer {token}"

    def _fetch_token(
        self,
        registry: str,
        challenge: Challenge,
        scopes: Sequence[str],
        creds: Credentials | None,
    ) -> tuple[str, float]:
        """Get a Bearer token from the challenge's realm (Distribution token spec)."""
        realm = challenge.params["realm"]
        service = challenge.params.get("service", "")
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        try:
            if creds and creds.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "service": service,
                    "scope": " ".join(scopes),
                    "client_id": "multiarch-tasks",
                }
                resp = self.session.request(
                    "POST",
                    realm,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    body=urlencode(form).encode(),
                    timeout=self.timeout,
                )
            else:
                headers = {"Authorization": creds.basic} if creds and creds.username else {}
                resp = self.session.request(
                    "GET", realm, params=params, headers=headers, timeout=self.timeout
                )
        except wire.TransportError as err:
            raise RegistryError(
                f"cannot reach the token service of {registry} ({err.kind})",
                url=_safe_url(realm),
            ) from err
        if resp.status_code != _HTTP_OK:
            raise RegistryError(
                f"token service of {registry} refused a token: {resp.status_code} {resp.reason}"
                + ("" if creds else " (no credentials in config.json; run `docker login`)"),
                status=resp.status_code,
                url=_safe_url(realm),
            )
        try:
            body = resp.json()
        except ValueError as err:
            raise RegistryError(f"token service of {registry} answered no JSON") from err
        token = str(body.get("token") or body.get("access_token") or "")
        if not token:
            raise RegistryError(f"token service of {registry} answered without a token")
        # The spec's default lifetime is 60 seconds when expires_in is absent.
        return token, float(body.get("expires_in") or 60)


def _say_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _safe_url(url: str) -> str:
    """``url`` without its query (upload URLs carry state tokens) or user info."""
    head = url.split("?", 1)[0]
    scheme, sep, rest = head.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
