r"""Find out which CPU the binaries inside an image are built for (``verify --deep``).

An image's layers are tar archives (plain, gzip or zstd) applied bottom first; a file
``.wh.NAME`` deletes ``NAME`` from the layers below, ``.wh..wh..opq`` empties its
directory of what the layers below put there. After applying them, every regular file
that starts with ``\x7fELF`` and is an executable or shared object has its header read:
class (32/64-bit), data (endianness) and ``e_machine``. Layers are streamed from the
registry (:meth:`multiarch_tasks.registry.RegistryClient.open_blob`), never stored whole.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from multiarch_tasks.errors import MultiarchError, ToolMissingError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from _typeshed import WriteableBuffer

    from multiarch_tasks.oci import Descriptor
    from multiarch_tasks.platforms import Platform
    from multiarch_tasks.reference import ImageRef
    from multiarch_tasks.registry import RegistryClient

ELF_MAGIC = b"\x7fELF"
HEADER_SIZE = 20
CLASS_32, CLASS_64 = 1, 2
DATA_LE, DATA_BE = 1, 2
ET_EXEC, ET_DYN = 2, 3
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# e_machine -> base name; `arch_name` adds width/endianness where one number covers several.
_MACHINES: dict[int, str] = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    62: "x86-64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}

# canonical platform architecture -> the ELF arch name its binaries have
EXPECTED_ELF: dict[str, str] = {
    "amd64": "x86-64",
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "loong64": "loongarch64",
}


class LayerFormatError(MultiarchError):
    """A layer blob is not a (compressed) tar archive."""


@dataclass(frozen=True)
class ElfHeader:
    """The identifying bytes of an ELF file."""

    elf_class: int
    data: int
    elf_type: int
    machine: int

    @classmethod
    def parse(cls, head: bytes) -> ElfHeader | None:
        """Parse the first 20 bytes of a file; None when it is not ELF."""
        if len(head) < HEADER_SIZE or not head.startswith(ELF_MAGIC):
            return None
        elf_class, data = head[4], head[5]
        if data not in {DATA_LE, DATA_BE} or elf_class not in {CLASS_32, CLASS_64}:
            return None
        order: Literal["little", "big"] = "little" if data == DATA_LE else "big"
        return cls(
            elf_class=elf_class,
            data=data,
            elf_type=int.from_bytes(head[16:18], order),
            machine=int.from_bytes(head[18:20], order),
        )

    @property
    def is_program(self) -> bool:
        """True for executables and shared objects (not ``.o``/``.ko`` or core files)."""
        return self.elf_type in {ET_EXEC, ET_DYN}

    @property
    def arch(self) -> str:
        """``x86-64``, ``aarch64``, ``ppc64le``, ``s390x``, ``riscv64``... (file(1)'s spirit)."""
        base = _MACHINES.get(self.machine, f"e_machine {self.machine}")
        wide = self.elf_class == CLASS_64
        little = self.data == DATA_LE
        names = {
            "ppc64": "ppc64le" if little else "ppc64",
            "s390": "s390x" if wide else "s390",
            "riscv": "riscv64" if wide else "riscv32",
            "mips": ("mips64" if wide else "mips") + ("el" if little else ""),
            "loongarch": "loongarch64" if wide else "loongarch32",
        }
        return names.get(base, base)


def expected_arch(platform: Platform) -> str | None:
    """Return the ELF arch name of ``platform``'s programs (None: nothing to compare)."""
    if platform.os != "linux":
        return None
    return EXPECTED_ELF.get(platform.architecture)


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
    """The ELF programs of an image's final file system, and how many files were seen."""

    programs: Mapping[str, ElfHeader] = field(default_factory=dict)
    regular_files: int = 0

    def foreign(self, platform: Platform) -> list[str]:
        """``path: found (expected wanted)`` for every program not built for ``platform``."""
        wanted = expected_arch(platform)
        if wanted is None:
            return []
        return [
            f"{path}: {header.arch} (expected {wanted})"
            for path, header in sorted(self.programs.items())
            if header.arch != wanted
        ]


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

    def extract(member: tarfile.TarInfo) -> bytes:
        handle = tar.extractfile(member)
        return handle.read(HEADER_SIZE) if handle is not None else b""

    try:
        return read_layer(_members(tar), extract)
    except tarfile.TarError as err:
        raise LayerFormatError(f"layer is not a valid tar archive: {err}") from err


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    yield from tar


def scan_image(client: RegistryClient, ref: ImageRef, layers: Iterable[Descriptor]) -> ScanResult:
    """Stream ``layers`` (bottom first) from ``ref``'s repository and apply them."""
    state: dict[str, ElfHeader] = {}
    regular = 0
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
        regular += changes.regular_files
    return ScanResult({p: h for p, h in state.items() if h.is_program}, regular)
