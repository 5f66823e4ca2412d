"""Reading binfmt_misc: which QEMU emulators the kernel will run, and with which flags.

Pure reads of ``/proc/sys/fs/binfmt_misc`` (no process is started); registering handlers
is :mod:`multiarch_tasks.steps.qemu`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from multiarch_tasks.model.platforms import Platform

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


@dataclass(frozen=True)
class Handler:
    """One binfmt_misc entry, e.g. ``qemu-aarch64``."""

    name: str
    enabled: bool
    interpreter: str
    flags: str

    @property
    def fix_binary(self) -> bool:
        """Flag ``F``: the interpreter is opened at registration, so it works in containers."""
        return "F" in self.flags

    @property
    def usable(self) -> bool:
        """Enabled with the F flag: what docker builds need."""
        return self.enabled and self.fix_binary


def parse_handler(name: str, text: str) -> Handler:
    """Parse the text of ``/proc/sys/fs/binfmt_misc/<name>``."""
    enabled = False
    interpreter = flags = ""
    for line in text.splitlines():
        if line.strip() == "enabled":
            enabled = True
        elif line.startswith("interpreter "):
            interpreter = line.split(" ", 1)[1].strip()
        elif line.startswith("flags:"):
            flags = line.split(":", 1)[1].strip()
    return Handler(name, enabled, interpreter, flags)


def read_handler(name: str, root: Path = BINFMT_DIR) -> Handler | None:
    """The handler called ``name`` or None when it is not registered."""
    path = root / name
    try:
        return parse_handler(name, path.read_text())
    except OSError:
        return None


def handler_for(platform: Platform, root: Path = BINFMT_DIR) -> Handler | None:
    """The ``qemu-<arch>`` handler that would run ``platform``'s binaries, if registered."""
    return read_handler(f"qemu-{platform.qemu_name}", root)


def is_mounted(root: Path = BINFMT_DIR) -> bool:
    """True when binfmt_misc is mounted (the ``register`` file exists)."""
    return (root / "register").exists()


def needs_emulation(platform: Platform, native: tuple[Platform, ...]) -> bool:
    """True when no native platform can run ``platform``.

    Only exact os/arch matches count as native: arm64 hosts run arm/v7 natively only on
    some CPUs, and amd64 hosts run 386 only with 32-bit support in the kernel.
    """
    return not any(n.os == platform.os and n.architecture == platform.architecture for n in native)
