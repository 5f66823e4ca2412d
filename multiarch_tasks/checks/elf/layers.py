r"""Read an image's layers and find the ELF programs of its final file system.

An image's layers are tar archives (plain, gzip or zstd) applied bottom first; a file
``.wh.NAME`` deletes ``NAME`` from the layers below, ``.wh..wh..opq`` empties its
directory of what the layers below put there. After applying them, every regular file
that starts with ``\x7fELF`` and is an executable or shared object has its header read
(:mod:`.elf_header`). Layers are streamed from the registry
(:meth:`multiarch_tasks.registry.client.RegistryClient.open_blob`), never stored whole;
32-bit ARM programs are read whole, up to :data:`ARM_READ_LIMIT`.

:class:`ScanResult` says which programs are foreign to a platform;
:func:`shared_layer_notes` which layer two architectures share.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from multiarch_tasks.checks.elf.header import HEADER_SIZE, ElfHeader, expected_arch, is_arm32
from multiarch_tasks.model.errors import MultiarchError, ToolMissingError

if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from _typeshed import WriteableBuffer

    from multiarch_tasks.model.oci import Descriptor
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.reader import ImageReader
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ARM_READ_LIMIT = 64 * 1024 * 1024


class LayerFormatError(MultiarchError):
    """A layer blob is not a (compressed) tar archive."""


@dataclass(frozen=True)
class LayerChanges:
    """What one layer does to the file system below it."""

    files: Mapping[str, ElfHeader | None]
    whiteouts: frozenset[str] = frozenset()
    opaque_dirs: frozenset[str] = frozenset()
    regular_files: int = 0


def normalise(name: str) -> str:
    """``./usr/bin/x`` or ``usr/bin/x`` -> ``/usr/bin/x``."""
    return posixpath.normpath("/" + name.lstrip("/"))


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def read_layer(tar: Iterable[tarfile.TarInfo], extract: _Extract) -> LayerChanges:
    """Collect a layer's whiteouts and its files (ELF header or None) from a tar stream."""
    files: dict[str, ElfHeader | None] = {}
    whiteouts: set[str] = set()
    opaque: set[str] = set()
    regular = 0
    for member in tar:
        path = normalise(member.name)
        directory, base = posixpath.split(path)
        if base == OPAQUE:
            opaque.add(directory)
        elif base.startswith(WHITEOUT):
            whiteouts.add(posixpath.join(directory, base[len(WHITEOUT) :]))
        elif member.isreg():
            regular += 1
            head = extract(member)
            files[path] = ElfHeader.parse(head)
        elif member.islnk():
            files[path] = files.get(normalise(member.linkname))
        elif not member.isdir():
            # A symlink or device replaces whatever was at this path.
            files[path] = None
    return LayerChanges(files, frozenset(whiteouts), frozenset(opaque), regular)


class _Extract(Protocol):
    def __call__(self, member: tarfile.TarInfo, /) -> bytes: ...


def _under(path: str, directory: str) -> bool:
    return directory == "/" or path.startswith(directory.rstrip("/") + "/")


def apply_layer(state: dict[str, ElfHeader], changes: LayerChanges) -> None:
    """Apply one layer over ``state`` (path -> ELF header of the files seen so far)."""
    removed = set(changes.whiteouts)
    for path in list(state):
        if (
            path in removed
            or any(_under(path, gone) for gone in removed)
            or any(_under(path, d) for d in changes.opaque_dirs)
        ):
            del state[path]
    for path, header in changes.files.items():
        state.pop(path, None)
        if header is not None:
            state[path] = header


@dataclass(frozen=True)
class ScanResult:
    """The ELF programs of an image's final file system, and how many files were seen.

    ``layer_programs`` maps each layer's digest to the ELF programs it adds.
    """

    programs: Mapping[str, ElfHeader] = field(default_factory=dict)
    regular_files: int = 0
    layer_programs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def foreign(self, platform: Platform) -> list[str]:
        """``path: found (expected wanted)`` for every program not built for ``platform``."""
        wanted = expected_arch(platform)
        if wanted is None:
            return []
        out = []
        slot = platform.variant or "v7"  # linux/arm without a variant means v7
        for path, header in sorted(self.programs.items()):
            if header.arch != wanted:
                out.append(f"{path}: {header.arch} (expected {wanted})")
            elif wanted == "arm" and header.arm_variant > slot:
                out.append(
                    f"{path}: arm/{header.arm_variant} (Tag_CPU_arch {header.cpu_arch_name};"
                    f" expected arm/{slot} or older: Illegal instruction on {slot} CPUs)"
                )
        return out


class _Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, rest: _Readable) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out, self._head = self._head + self._rest.read(), b""
            return out
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._rest.read(size)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def open_tar(stream: _Readable, what: str = "layer") -> tarfile.TarFile:
    """Open a plain, gzip or zstd tar stream for sequential reading (sniffing the magic)."""
    import tarfile  # noqa: PLC0415 - only verify --deep reads layers; lint needs the tables

    head = stream.read(4)
    source = _Prefixed(head, stream)
    try:
        if head.startswith(GZIP_MAGIC):
            return tarfile.open(fileobj=source, mode="r|gz")
        if head.startswith(ZSTD_MAGIC):
            try:
                import zstandard  # noqa: PLC0415 - optional dependency
            except ImportError as err:
                raise ToolMissingError(
                    f"{what} is zstd-compressed and the zstandard package is missing:"
                    " pip install 'multiarch-tasks[zstd]'"
                ) from err
            reader = zstandard.ZstdDecompressor().stream_reader(io.BufferedReader(source))
            return tarfile.open(fileobj=reader, mode="r|")
        return tarfile.open(fileobj=source, mode="r|")
    except tarfile.TarError as err:
        raise LayerFormatError(f"{what} is not a tar archive: {err}") from err


def scan_tar(tar: tarfile.TarFile) -> LayerChanges:
    """Read one opened layer, taking the first bytes of each regular file."""
    import tarfile  # noqa: PLC0415

    def extract(member: tarfile.TarInfo) -> bytes:
        handle = tar.extractfile(member)
        if handle is None:
            return b""
        head = handle.read(HEADER_SIZE)
        if is_arm32(head) and member.size <= ARM_READ_LIMIT:
            # Its build attributes sit near the end of the file, after the code.
            head += handle.read()
        return head

    try:
        return read_layer(_members(tar), extract)
    except tarfile.TarError as err:
        raise LayerFormatError(f"layer is not a valid tar archive: {err}") from err


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    yield from tar


def scan_image(
    client: ImageReader,
    ref: ImageRef,
    layers: Iterable[Descriptor],
    on_layer: Callable[[Descriptor], None] | None = None,
) -> ScanResult:
    """Stream ``layers`` (bottom first) from ``ref``'s repository and apply them.

    ``on_layer`` hears each layer once it was read (a live view's layers per platform).
    """
    state: dict[str, ElfHeader] = {}
    regular = 0
    added: dict[str, tuple[str, ...]] = {}
    for layer in layers:
        # Foreign (Windows) layers are not distributable and hold no Linux programs.
        if "foreign" in layer.media_type or "nondistributable" in layer.media_type:
            continue
        with client.open_blob(ref, layer.digest) as stream:
            with open_tar(stream, f"layer {layer.digest}") as tar:
                changes = scan_tar(tar)
            # Reading to the end makes the stream check the layer's digest.
            stream.drain()
        apply_layer(state, changes)
        if on_layer is not None:
            on_layer(layer)
        regular += changes.regular_files
        added[layer.digest] = tuple(
            sorted(p for p, h in changes.files.items() if h is not None and h.is_program)
        )
    return ScanResult({p: h for p, h in state.items() if h.is_program}, regular, added)


def shared_layer_notes(
    layers: Mapping[Platform, Sequence[str]], scans: Mapping[Platform, ScanResult]
) -> dict[Platform, str]:
    """Note, per platform, a layer that adds ELF programs and is shared by two architectures.

    ``layers`` is each platform's layer digests. Such a layer cannot be right for both:
    the programs it adds are foreign in the other platform, and the note says why (the
    very same build output). Layers of data files only may rightly be shared.
    """
    users: dict[str, list[Platform]] = {}
    for plat, digests in layers.items():
        for digest in digests:
            users.setdefault(digest, []).append(plat)
    out: dict[Platform, str] = {}
    for digest, plats in users.items():
        arches = {p.architecture for p in plats}
        if len(arches) < 2:  # noqa: PLR2004
            continue
        programs = next((scans[p].layer_programs.get(digest) for p in plats if p in scans), ())
        if not programs:
            continue
        shown = ", ".join(programs[:3]) + (", ..." if len(programs) > 3 else "")  # noqa: PLR2004
        for plat in plats:
            scan = scans.get(plat)
            headers = [scan.programs[p] for p in programs if p in scan.programs] if scan else []
            if headers and all(h.arch == expected_arch(plat) for h in headers):
                continue  # the platform these programs were built for
            others = ", ".join(str(p) for p in plats if p.architecture != plat.architecture)
            algorithm, _, hexpart = digest.partition(":")
            out[plat] = (
                f"layer {algorithm}:{hexpart[:12]} is also a layer of {others} and adds"
                f" programs ({shown}): one build output shipped to {len(arches)} architectures"
            )
    return out
