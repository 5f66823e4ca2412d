r"""Find out which CPU the binaries inside an image are built for (``verify --deep``).

An image's layers are tar archives (plain, gzip or zstd) applied bottom first; a file
``.wh.NAME`` deletes ``NAME`` from the layers below, ``.wh..wh..opq`` empties its
directory of what the layers below put there. After applying them, every regular file
that starts with ``\x7fELF`` and is an executable or shared object has its header read:
class (32/64-bit), data (endianness) and ``e_machine``. Layers are streamed from the
registry (:meth:`multiarch_tasks.registry.client.RegistryClient.open_blob`), never stored whole.

32-bit ARM programs are read whole (up to :data:`ARM_READ_LIMIT`): ``e_machine`` 40 covers
arm/v5, v6 and v7, so the ``.ARM.attributes`` section's ``Tag_CPU_arch`` (the ``aeabi``
build attributes) says which one; ARMv7 code stops with ``Illegal instruction`` on an
ARMv6 board such as a Raspberry Pi Zero.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from multiarch_tasks.model.errors import MultiarchError, ToolMissingError

if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from _typeshed import WriteableBuffer

    from multiarch_tasks.model.oci import Descriptor
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.registry.client import RegistryClient

ELF_MAGIC = b"\x7fELF"
HEADER_SIZE = 20
CLASS_32, CLASS_64 = 1, 2
DATA_LE, DATA_BE = 1, 2
ET_EXEC, ET_DYN = 2, 3
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
EM_ARM = 40
SHT_ARM_ATTRIBUTES = 0x70000003
ARM_READ_LIMIT = 64 * 1024 * 1024
# Tag_CPU_arch values (ARM IHI 0045, "Addenda to the ABI for the Arm architecture").
_CPU_ARCH_NAMES: dict[int, str] = {
    0: "Pre-v4", 1: "v4", 2: "v4T", 3: "v5T", 4: "v5TE", 5: "v5TEJ", 6: "v6", 7: "v6KZ",
    8: "v6T2", 9: "v6K", 10: "v7", 11: "v6-M", 12: "v6S-M", 13: "v7E-M", 14: "v8-A",
    15: "v8-R", 16: "v8-M.baseline", 17: "v8-M.mainline", 18: "v8.1-A", 19: "v8.2-A",
    20: "v8.3-A", 21: "v8.1-M.mainline", 22: "v9",
}  # fmt: skip
TAG_FILE = 1
TAG_CPU_ARCH = 6
TAG_COMPATIBILITY = 32
_STRING_TAGS = frozenset({4, 5, 67})  # Tag_CPU_raw_name, Tag_CPU_name, Tag_conformance

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
    cpu_arch: int | None = None

    @classmethod
    def parse(cls, head: bytes) -> ElfHeader | None:
        """Parse a file's first bytes (20 at least); None when it is not ELF.

        Given the whole of a 32-bit ARM file, also read its ``Tag_CPU_arch``.
        """
        if len(head) < HEADER_SIZE or not head.startswith(ELF_MAGIC):
            return None
        elf_class, data = head[4], head[5]
        if data not in {DATA_LE, DATA_BE} or elf_class not in {CLASS_32, CLASS_64}:
            return None
        order: Literal["little", "big"] = "little" if data == DATA_LE else "big"
        machine = int.from_bytes(head[18:20], order)
        cpu_arch = None
        if machine == EM_ARM and elf_class == CLASS_32 and len(head) > HEADER_SIZE:
            cpu_arch = arm_cpu_arch(head)
        return cls(
            elf_class=elf_class,
            data=data,
            elf_type=int.from_bytes(head[16:18], order),
            machine=machine,
            cpu_arch=cpu_arch,
        )

    @property
    def arm_variant(self) -> str:
        """``v5``, ``v6``, ``v7`` or ``v8``: the oldest arm variant that runs this program.

        Empty when it is not a 32-bit ARM program or its attributes were not read. ARMv6T2
        (Thumb-2) code does not run on the ARMv6 boards linux/arm/v6 means, so it counts as v7.
        """
        if self.machine != EM_ARM or self.cpu_arch is None:
            return ""
        if self.cpu_arch <= 5:  # noqa: PLR2004 - up to v5TEJ
            return "v5"
        if self.cpu_arch in {6, 7, 9}:
            return "v6"
        if self.cpu_arch < 14:  # noqa: PLR2004 - v6T2, v7 and the M profiles
            return "v7"
        return "v8"

    @property
    def cpu_arch_name(self) -> str:
        """``v7`` (Tag_CPU_arch 10) and so on; empty when unknown."""
        if self.cpu_arch is None:
            return ""
        return _CPU_ARCH_NAMES.get(self.cpu_arch, f"Tag_CPU_arch {self.cpu_arch}")

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


def arm_cpu_arch(data: bytes) -> int | None:
    """``Tag_CPU_arch`` of a whole 32-bit ARM ELF file; None when it has no such attribute."""
    order: Literal["little", "big"] = "little" if data[5:6] == b"\x01" else "big"

    def number(offset: int, size: int) -> int:
        return int.from_bytes(data[offset : offset + size], order)

    shoff, shentsize, shnum = number(32, 4), number(46, 2), number(48, 2)
    if not shoff or shentsize < 24 or shoff + shentsize * shnum > len(data):  # noqa: PLR2004
        return None
    for index in range(shnum):
        entry = shoff + index * shentsize
        if number(entry + 4, 4) != SHT_ARM_ATTRIBUTES:
            continue
        offset, size = number(entry + 16, 4), number(entry + 20, 4)
        return _attributes_cpu_arch(data[offset : offset + size], order)
    return None


def _uleb128(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, pos


def _attributes_cpu_arch(section: bytes, order: Literal["little", "big"]) -> int | None:
    """Walk ``'A'`` + subsections (length, vendor) to the ``aeabi`` file attributes."""
    if section[:1] != b"A":
        return None
    pos = 1
    while pos + 4 <= len(section):
        length = int.from_bytes(section[pos : pos + 4], order)
        end = min(pos + length, len(section))
        vendor_end = section.find(b"\0", pos + 4, end)
        if length < 5 or vendor_end < 0:  # noqa: PLR2004
            return None
        if section[pos + 4 : vendor_end] == b"aeabi":
            inner = vendor_end + 1
            while inner + 5 <= end:
                tag = section[inner]
                size = int.from_bytes(section[inner + 1 : inner + 5], order)
                if size < 5:  # noqa: PLR2004
                    break
                if tag == TAG_FILE:
                    return _file_cpu_arch(section[inner + 5 : inner + size])
                inner += size
        pos += length
    return None


def _file_cpu_arch(attributes: bytes) -> int | None:
    pos = 0
    while pos < len(attributes):
        tag, pos = _uleb128(attributes, pos)
        if tag == TAG_CPU_ARCH:
            return _uleb128(attributes, pos)[0]
        if tag == TAG_COMPATIBILITY:
            pos = _uleb128(attributes, pos)[1]
            pos = attributes.find(b"\0", pos) + 1 or len(attributes)
        elif tag in _STRING_TAGS or (tag > TAG_COMPATIBILITY and tag % 2):
            pos = attributes.find(b"\0", pos) + 1 or len(attributes)
        else:
            pos = _uleb128(attributes, pos)[1]
    return None


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
        if _is_arm32(head) and member.size <= ARM_READ_LIMIT:
            # Its build attributes sit near the end of the file, after the code.
            head += handle.read()
        return head

    try:
        return read_layer(_members(tar), extract)
    except tarfile.TarError as err:
        raise LayerFormatError(f"layer is not a valid tar archive: {err}") from err


def _is_arm32(head: bytes) -> bool:
    if len(head) < HEADER_SIZE or not head.startswith(ELF_MAGIC) or head[4] != CLASS_32:
        return False
    order: Literal["little", "big"] = "little" if head[5] == DATA_LE else "big"
    return int.from_bytes(head[18:20], order) == EM_ARM


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    yield from tar


def scan_image(client: RegistryClient, ref: ImageRef, layers: Iterable[Descriptor]) -> ScanResult:
    """Stream ``layers`` (bottom first) from ``ref``'s repository and apply them."""
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
