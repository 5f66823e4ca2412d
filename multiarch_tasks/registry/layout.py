"""An OCI image layout on disk, read and written as a registry would be (issue 20).

:class:`LayoutSource` reads ``DIR/index.json`` and ``DIR/blobs/<alg>/<hex>`` and offers what
the checks use of :class:`~multiarch_tasks.registry.client.RegistryClient`
(:class:`~multiarch_tasks.registry.reader.ImageReader`): manifests by tag or digest with
their media type, blobs whole or streamed. It applies the same rules: every manifest and
blob is hashed against its digest, a manifest, index or config read whole may hold
``max_manifest_size`` bytes (docker's 4 MiB), and every error is one line naming the path.

A tag is a manifest of ``index.json`` whose ``org.opencontainers.image.ref.name`` is the
tag, or a full name ending in ``:TAG`` (BuildKit writes ``registry/repo:tag`` there when
given a name). No tag: the one manifest ``index.json`` lists.

:class:`LayoutWriter` builds a layout (``merge --layout``): blobs hard-linked from the
shards' layouts where the file system allows, copied otherwise, each hashed on the way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

from multiarch_tasks.model.errors import (
    DigestMismatchError,
    InvalidReferenceError,
    RegistryError,
)
from multiarch_tasks.model.layoutref import LayoutRef
from multiarch_tasks.model.oci import OCI_INDEX, Descriptor, Document
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.blobs import CHUNK, BlobStream, compute_digest, hasher
from multiarch_tasks.registry.transport import MAX_BODY

__all__ = ["INDEX_FILE", "LAYOUT_FILE", "REF_NAME", "LayoutSource", "LayoutWriter"]

T = TypeVar("T")
R = TypeVar("R")

INDEX_FILE = "index.json"
LAYOUT_FILE = "oci-layout"
REF_NAME = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME = "io.containerd.image.name"
# The digest names a file under blobs/: nothing but an algorithm and hex may reach a path.
_SAFE_DIGEST = re.compile(r"(sha256|sha384|sha512):([a-f0-9]{32,128})")
_WORKERS = 4  # a local disk: a few readers keep the decompression busy


def _mib(limit: int) -> str:
    return f"{limit / (1 << 20):g} MiB"


class _FileChunks:
    """A file read chunk by chunk, as :class:`BlobStream` reads a streamed response."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        while chunk := self._handle.read(chunk_size):
            yield chunk

    def close(self) -> None:
        self._handle.close()


class LayoutSource:
    """One OCI image layout directory, read with a registry client's checks."""

    def __init__(self, path: str | Path, index: Document, *, max_body: int = MAX_BODY) -> None:
        self.path = Path(path)
        self.index = index
        self.max_body = max_body or MAX_BODY
        # Media types known from the descriptors read so far: a blob on disk has no
        # Content-Type, and a manifest read by digest alone takes its own mediaType field.
        self._media: dict[str, str] = {d.digest: d.media_type for d in index.descriptors}

    @classmethod
    def open(cls, ref: LayoutRef | str | Path, *, max_body: int = MAX_BODY) -> LayoutSource:
        """Read ``DIR/index.json``; a missing directory or index is one line naming it."""
        path = Path(ref.path if isinstance(ref, LayoutRef) else ref)
        if not path.is_dir():
            what = "is a file, not a directory" if path.exists() else "no such directory"
            raise InvalidReferenceError(f"OCI layout {path}: {what}")
        index_file = path / INDEX_FILE
        if not index_file.is_file():
            raise InvalidReferenceError(
                f"OCI layout {path}: no {INDEX_FILE} (not an OCI image layout; build one with"
                " `multiarch build --layout`)"
            )
        raw = _read_limited(index_file, max_body or MAX_BODY, f"{INDEX_FILE} of {path}")
        try:
            doc = Document.parse(raw, OCI_INDEX)
        except RegistryError as err:
            raise RegistryError(f"OCI layout {path}: {INDEX_FILE}: {err}") from err
        if not doc.is_index:
            raise RegistryError(f"OCI layout {path}: {INDEX_FILE} is not an image index")
        return cls(path, doc, max_body=max_body)

    # -- tags -------------------------------------------------------------------------

    def tags(self) -> list[str]:
        """The tags ``index.json`` names, in its order."""
        out = [_tag_of(d) for d in self.index.descriptors]
        return [t for t in dict.fromkeys(out) if t]

    def resolve(self, tag: str) -> Descriptor:
        """The manifest ``index.json`` lists under ``tag`` (the only one when no tag)."""
        entries = self.index.descriptors
        if not tag:
            if len(entries) == 1:
                return entries[0]
            names = ", ".join(self.tags()) or "none"
            what = "no manifest" if not entries else f"{len(entries)} manifests (tags: {names})"
            raise InvalidReferenceError(
                f"OCI layout {self.path}: {INDEX_FILE} lists {what}; name one:"
                f" oci-layout://{self.path}:TAG"
            )
        found = [d for d in entries if _tag_of(d) == tag]
        if not found:
            names = ", ".join(self.tags()) or "none"
            raise InvalidReferenceError(
                f"OCI layout {self.path}: no tag {tag!r} in {INDEX_FILE} (it has: {names})"
            )
        return found[0]

    # -- what a registry client offers -----------------------------------------------

    def get_manifest(self, ref: ImageRef) -> Document:
        """The manifest or index ``ref`` names (by digest, tag, or the only one)."""
        if ref.digest:
            digest, media = ref.digest, self._media.get(ref.digest, "")
        else:
            desc = self.resolve(ref.tag)
            digest, media = desc.digest, desc.media_type
        what = f"manifest {digest} of {self.path}"
        raw = self._read_whole(digest, what)
        try:
            doc = Document.parse(raw, media, digest)
        except RegistryError as err:
            raise RegistryError(f"{what}: {err}") from err
        self._media.update((d.digest, d.media_type) for d in doc.descriptors)
        return doc

    def head_manifest(self, ref: ImageRef) -> Descriptor | None:
        """Describe the manifest ``ref`` names; None when the layout has no such one."""
        try:
            if not ref.digest:
                return self.resolve(ref.tag)
        except InvalidReferenceError:
            return None
        if not self._blob_path(ref.digest).is_file():
            return None
        doc = self.get_manifest(ref)
        return Descriptor(doc.media_type, doc.digest, len(doc.raw))

    def get_blob(self, ref: ImageRef, digest: str) -> bytes:
        """A small blob (a config) whole, hashed, up to ``max_body`` bytes."""
        del ref  # one layout: the digest names the file
        return self._read_whole(digest, f"blob {digest} of {self.path}")

    @contextmanager
    def open_blob(self, ref: ImageRef, digest: str) -> Iterator[BlobStream]:
        """Stream a blob from disk; its digest is checked when the end is read."""
        del ref
        path = self._blob_path(digest)
        try:
            handle = path.open("rb")
        except OSError as err:
            raise RegistryError(f"blob {digest} of {self.path}: {_why(err)}") from err
        stream = BlobStream(
            _FileChunks(handle), digest, str(path), os.fstat(handle.fileno()).st_size
        )
        try:
            yield stream
            stream.drain()
        finally:
            stream.close()

    def blob_exists(self, ref: ImageRef, digest: str) -> bool:
        """Tell whether the layout holds blob ``digest``."""
        del ref
        return self._blob_path(digest).is_file()

    def list_tags(self, ref: ImageRef) -> list[str]:
        """The layout's tags (``ref`` names the layout, not a repository)."""
        del ref
        return self.tags()

    def with_retries(self, func: Callable[[], R], what: str) -> R:
        """A file has no passing faults: ``func`` once."""
        del what
        return func()

    def map(
        self, func: Callable[[T], R], items: Iterable[T], *, workers: int = _WORKERS
    ) -> list[R]:
        """Call ``func`` on every item, a few at once; results in order, first error raised."""
        todo = list(items)
        if len(todo) <= 1 or workers <= 1:
            return [func(item) for item in todo]
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - loads logging

        with ThreadPoolExecutor(min(workers, len(todo)), thread_name_prefix="layout") as pool:
            futures = [pool.submit(func, item) for item in todo]
            return [future.result() for future in futures]

    # -- files ------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where blob ``digest`` lives (a malformed digest is an error, never a path)."""
        return self._blob_path(digest)

    def _blob_path(self, digest: str) -> Path:
        found = _SAFE_DIGEST.fullmatch(digest)
        if not found:
            raise RegistryError(f"OCI layout {self.path}: malformed digest {digest!r}")
        return self.path / "blobs" / found[1] / found[2]

    def _read_whole(self, digest: str, what: str) -> bytes:
        raw = _read_limited(self._blob_path(digest), self.max_body, what)
        got = compute_digest(raw, digest)
        if got != digest:
            raise DigestMismatchError(f"{what} hashes to {got}, expected {digest}")
        return raw


def _tag_of(desc: Descriptor) -> str:
    """The tag a descriptor of ``index.json`` names: the ref name, or a full name's tag."""
    for key in (REF_NAME, _CONTAINERD_NAME):
        name = desc.annotations.get(key, "")
        if not name:
            continue
        head, colon, tail = name.rpartition(":")
        if key == REF_NAME and (not colon or "/" in tail):
            return name  # the spec's form: the tag alone
        if colon and head and "/" not in tail:
            return tail
    return ""


def _why(err: OSError) -> str:
    return "missing from the layout" if isinstance(err, FileNotFoundError) else str(err)


def _read_limited(path: Path, limit: int, what: str) -> bytes:
    """A file whole, refused past ``limit`` bytes (one byte more tells over from at)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise RegistryError(f"{what}: {_why(err)} ({path})") from err
    if len(data) > limit:
        raise RegistryError(
            f"{what}: {path} is larger than the {_mib(limit)} limit on a manifest, index or"
            " config read into memory; raise the setting max_manifest_size to read it"
        )
    return data


class LayoutWriter:
    """A new OCI image layout at ``path``: blobs in, then ``index.json`` last."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        (self.path / "blobs").mkdir(parents=True, exist_ok=True)
        (self.path / LAYOUT_FILE).write_text('{"imageLayoutVersion":"1.0.0"}')
        self.linked = 0
        self.copied = 0

    def _dest(self, digest: str) -> Path:
        found = _SAFE_DIGEST.fullmatch(digest)
        if not found:
            raise RegistryError(f"OCI layout {self.path}: malformed digest {digest!r}")
        folder = self.path / "blobs" / found[1]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / found[2]

    def add_from(self, source: LayoutSource, digest: str) -> None:
        """Take blob ``digest`` from ``source``: hashed, then hard-linked or copied."""
        dest = self._dest(digest)
        if dest.is_file():
            return  # content-addressed: another shard brought the same blob
        src = source.blob_path(digest)
        with source.open_blob(ImageRef("", ""), digest) as stream:
            while stream.read(CHUNK):
                pass  # hashed as read: a corrupt shard fails here, naming the file
        partial = dest.with_name(f".{dest.name}.{os.getpid()}")
        try:
            os.link(src, partial)
            self.linked += 1
        except OSError:
            # Another file system, or one without hard links: copy (and hash) instead.
            _copy_hashed(src, partial, digest)
            self.copied += 1
        partial.replace(dest)

    def add_bytes(self, data: bytes) -> str:
        """Write a blob held in memory (the merged index); return its digest."""
        digest = compute_digest(data)
        dest = self._dest(digest)
        if not dest.is_file():
            partial = dest.with_name(f".{dest.name}.{os.getpid()}")
            partial.write_bytes(data)
            partial.replace(dest)
        return digest

    def write_index(self, entries: Iterable[Descriptor]) -> None:
        """Write ``index.json`` over ``entries`` (last: the layout is whole once it is there)."""
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [d.to_json() for d in entries],
        }
        partial = self.path / f".{INDEX_FILE}.{os.getpid()}"
        partial.write_text(json.dumps(doc, indent=2) + "\n")
        partial.replace(self.path / INDEX_FILE)


def _copy_hashed(src: Path, dest: Path, digest: str) -> None:
    state = hasher(digest)
    with src.open("rb") as reader, dest.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            state.update(chunk)
            writer.write(chunk)
    got = f"{state.name}:{state.hexdigest()}"
    if got != digest:
        dest.unlink()
        raise DigestMismatchError(f"blob {digest} in {src} hashes to {got}")


def clear(path: str | Path) -> None:
    """Remove a layout an earlier merge left at ``path`` (a merge writes a fresh one)."""
    target = Path(path)
    if target.is_dir():
        shutil.rmtree(target)
