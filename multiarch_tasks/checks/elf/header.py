"""Read an ELF file's identifying bytes: class, data, type, machine, and ARM's CPU arch.

``e_machine`` names the CPU family; :attr:`ElfHeader.arch` adds width and endianness where
one number covers several (``ppc64``/``ppc64le``, ``s390``/``s390x``...). 32-bit ARM programs
are read whole: ``e_machine`` 40 covers arm/v5, v6 and v7, so the ``.ARM.attributes``
section's ``Tag_CPU_arch`` (the ``aeabi`` build attributes) says which one; ARMv7 code stops
with ``Illegal instruction`` on an ARMv6 board such as a Raspberry Pi Zero.
:data:`EXPECTED_ELF` maps a platform's architecture to the arch name its programs have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from multiarch_tasks.model.platforms import ELF_NAMES

if TYPE_CHECKING:
    from multiarch_tasks.model.platforms import Platform

ELF_MAGIC = b"\x7fELF"
HEADER_SIZE = 20
CLASS_32, CLASS_64 = 1, 2
DATA_LE, DATA_BE = 1, 2
ET_EXEC, ET_DYN = 2, 3
EM_ARM = 40
SHT_ARM_ATTRIBUTES = 0x70000003
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

# canonical platform architecture -> the ELF arch name its binaries have: the model's.
EXPECTED_ELF = ELF_NAMES


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
    return platform.elf_name


def is_arm32(head: bytes) -> bool:
    """True when ``head`` (the first bytes) starts a 32-bit ARM ELF file, read whole then."""
    if len(head) < HEADER_SIZE or not head.startswith(ELF_MAGIC) or head[4] != CLASS_32:
        return False
    order: Literal["little", "big"] = "little" if head[5] == DATA_LE else "big"
    return int.from_bytes(head[18:20], order) == EM_ARM
