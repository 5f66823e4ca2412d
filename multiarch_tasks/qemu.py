"""qemu-setup: make sure every emulated target platform has a binfmt_misc handler with F.

Modes: ``host`` registers the host's qemu-user-static (Debian's binfmt-support);
``docker`` runs the pinned ``tonistiigi/binfmt`` image (configurable for mirrors);
``auto`` inspects first, does nothing when all handlers are there, and otherwise prefers
the host's emulators when installed; ``off`` only reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from multiarch_tasks import binfmt, commands
from multiarch_tasks.errors import MultiarchError
from multiarch_tasks.platforms import Platform
from multiarch_tasks.runner import Runner, which
from multiarch_tasks.settings import Settings


@dataclass(frozen=True)
class QemuResult:
    """What qemu-setup found and did, per platform."""

    native: tuple[Platform, ...]
    already: tuple[Platform, ...]
    added: tuple[Platform, ...]
    mode: str
    missing: tuple[Platform, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every emulated platform now has a usable handler."""
        return not self.missing

    def render(self) -> str:
        """One line per group of platforms."""

        def names(ps: tuple[Platform, ...]) -> str:
            return ", ".join(str(p) for p in ps) or "none"

        lines = [
            f"qemu-setup ({self.mode}): native: {names(self.native)}",
            f"  emulator already registered: {names(self.already)}",
            f"  emulator added: {names(self.added)}",
        ]
        if self.missing:
            lines.append(f"  still missing: {names(self.missing)}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The result as JSON."""
        return {
            "ok": self.ok,
            "mode": self.mode,
            "native": [str(p) for p in self.native],
            "already": [str(p) for p in self.already],
            "added": [str(p) for p in self.added],
            "missing": [str(p) for p in self.missing],
        }


def emulated_platforms(
    platforms: tuple[Platform, ...], native: tuple[Platform, ...]
) -> tuple[Platform, ...]:
    """The targets that no native platform runs."""
    return tuple(p for p in platforms if binfmt.needs_emulation(p, native))


def _host_emulator_installed(platform: Platform) -> bool:
    name = platform.qemu_name
    return (
        which(f"qemu-{name}-static") is not None
        or Path(f"/usr/libexec/qemu-binfmt/{name}-binfmt-P").exists()
    )


def qemu_setup(
    settings: Settings,
    runner: Runner,
    *,
    native: tuple[Platform, ...] | None = None,
    root: Path = binfmt.BINFMT_DIR,
) -> QemuResult:
    """Register missing emulators for ``settings.platforms``; report what was there."""
    native = native if native is not None else (Platform.host(),)
    emulated = emulated_platforms(settings.platforms, native)
    already = tuple(p for p in emulated if (h := binfmt.handler_for(p, root)) and h.usable)
    todo = tuple(p for p in emulated if p not in already)
    mode = settings.qemu_mode
    if not todo or mode == "off":
        return QemuResult(native, already, (), mode, todo)
    if not binfmt.is_mounted(root):
        raise MultiarchError(
            f"binfmt_misc is not mounted at {root}; as root run "
            f"`mount -t binfmt_misc binfmt_misc {root}` and retry"
        )
    if mode == "auto":
        mode = (
            "host"
            if all(_host_emulator_installed(p) for p in todo) and which("update-binfmts")
            else "docker"
        )
    if mode == "host":
        _setup_host(todo, runner, root)
    else:
        arches = sorted({p.architecture if p.architecture != "arm" else "arm" for p in todo})
        runner.run(
            commands.docker_binfmt_install(settings.binfmt_image, arches), label="qemu-setup"
        )
    if runner.dry:
        return QemuResult(native, already, todo, mode)
    missing = tuple(p for p in todo if not ((h := binfmt.handler_for(p, root)) and h.usable))
    added = tuple(p for p in todo if p not in missing)
    result = QemuResult(native, already, added, mode, missing)
    if missing:
        raise MultiarchError(
            f"qemu-setup ({mode}) could not register emulators for "
            f"{', '.join(str(p) for p in missing)}; install qemu-user-static and binfmt-support"
            " or use --mode docker"
        )
    return result


def _setup_host(todo: tuple[Platform, ...], runner: Runner, root: Path) -> None:
    for platform in todo:
        name = f"qemu-{platform.qemu_name}"
        handler = binfmt.read_handler(name, root)
        if handler is not None and not handler.enabled and handler.fix_binary:
            # Registered but switched off: switching it on is a write to its entry.
            if runner.dry:
                runner.say(f"echo 1 > {root / name}")
            else:
                (root / name).write_text("1")
            continue
        if not _host_emulator_installed(platform):
            raise MultiarchError(
                f"no host emulator for {platform} (qemu-{platform.qemu_name}-static);"
                " install qemu-user-static or use --mode docker"
            )
        runner.run(commands.update_binfmts_enable(name), label=f"qemu-setup {platform}")
