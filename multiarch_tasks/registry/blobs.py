"""Blobs on the way in and out: digests, and downloads and uploads hashed as they stream."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Protocol

from multiarch_tasks.model.errors import DigestMismatchError
from multiarch_tasks.registry.faults import TransportError
from multiarch_tasks.registry.retry import TransientError

# Bytes per read off the wire: big enough that Python's per-chunk work is noise, small
# enough that a few blobs in flight stay within a few MiB.
CHUNK = 1 << 20


class _Hasher(Protocol):
    """What we use of a hashlib object (its own type is private)."""

    @property
    def name(self) -> str: ...
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Chunked(Protocol):
    """What :class:`BlobStream` uses of a streamed :class:`~.transport.Response`."""

    def iter_content(self, chunk_size: int) -> Iterator[bytes]: ...
    def close(self) -> None: ...


def hasher(digest: str) -> _Hasher:
    """A fresh hash object for the algorithm of ``digest`` (sha256, sha384, sha512)."""
    algorithm = digest.partition(":")[0]
    if algorithm not in {"sha256", "sha384", "sha512"}:
        raise DigestMismatchError(f"unsupported digest algorithm in {digest!r}")
    return hashlib.new(algorithm)


def compute_digest(data: bytes, like: str = "sha256:") -> str:
    """Digest of ``data`` with the algorithm of ``like``."""
    state = hasher(like)
    state.update(data)
    return f"{state.name}:{state.hexdigest()}"


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
        # A bytearray: appending and dropping its head are amortised O(1) per byte.
        self._buffer = bytearray()
        self._hasher = hasher(digest)
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
            except TransportError as err:
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


def hashed(chunks: Iterable[bytes], digest: str, what: str) -> Iterator[bytes]:
    """Pass ``chunks`` on, hashed: DigestMismatchError after the last if not ``digest``."""
    state = hasher(digest)
    for chunk in chunks:
        state.update(chunk)
        yield chunk
    got = f"{state.name}:{state.hexdigest()}"
    if got != digest:
        raise DigestMismatchError(f"{what} hashes to {got}, not {digest}")
