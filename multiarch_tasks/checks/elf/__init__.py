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

The work is done in two modules, re-exported here: :mod:`.header` parses an ELF
file's header (and ARM's build attributes), :mod:`.layers` reads the image's layers
(tar streams, whiteouts) and says which programs are foreign.
"""

from __future__ import annotations

from multiarch_tasks.checks.elf.header import (
    CLASS_32,
    CLASS_64,
    DATA_BE,
    DATA_LE,
    ELF_MAGIC,
    EM_ARM,
    ET_DYN,
    ET_EXEC,
    EXPECTED_ELF,
    HEADER_SIZE,
    SHT_ARM_ATTRIBUTES,
    TAG_COMPATIBILITY,
    TAG_CPU_ARCH,
    TAG_FILE,
    ElfHeader,
    arm_cpu_arch,
    expected_arch,
)
from multiarch_tasks.checks.elf.layers import (
    ARM_READ_LIMIT,
    GZIP_MAGIC,
    OPAQUE,
    WHITEOUT,
    ZSTD_MAGIC,
    LayerChanges,
    LayerFormatError,
    ScanResult,
    apply_layer,
    normalise,
    open_tar,
    read_layer,
    scan_image,
    scan_tar,
    shared_layer_notes,
)

__all__ = [
    "ARM_READ_LIMIT",
    "CLASS_32",
    "CLASS_64",
    "DATA_BE",
    "DATA_LE",
    "ELF_MAGIC",
    "EM_ARM",
    "ET_DYN",
    "ET_EXEC",
    "EXPECTED_ELF",
    "GZIP_MAGIC",
    "HEADER_SIZE",
    "OPAQUE",
    "SHT_ARM_ATTRIBUTES",
    "TAG_COMPATIBILITY",
    "TAG_CPU_ARCH",
    "TAG_FILE",
    "WHITEOUT",
    "ZSTD_MAGIC",
    "ElfHeader",
    "LayerChanges",
    "LayerFormatError",
    "ScanResult",
    "apply_layer",
    "arm_cpu_arch",
    "expected_arch",
    "normalise",
    "open_tar",
    "read_layer",
    "scan_image",
    "scan_tar",
    "shared_layer_notes",
]
