"""qemu-setup: make sure every emulated target platform has a binfmt_misc handler with F.

Modes: ``host`` registers the host's qemu-user-static (Debian's binfmt-support);
``docker`` runs the pinned ``tonistiigi/binfmt`` image (configurable for mirrors);
``auto`` inspects first, does nothing when all handlers are there, and otherwise prefers
the host's emulators when installed; ``off`` only reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import binfmt
from multiarch_tasks.engine import facts as facts_mod
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import MultiarchError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.decide import EMULATED, NATIVE
from multiarch_tasks.planning.plan.make import Plan, make_plan


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


def run_qemu_step(plan: Plan, runner: Runner, root: Path = binfmt.BINFMT_DIR) -> QemuResult:
    """Run the plan's qemu-setup step; check every handler it registers is now usable."""
    native = tuple(a.platform for a in plan.assignments if a.mode == NATIVE)
    emulated = [a for a in plan.assignments if a.mode == EMULATED and a.handler]
    already = tuple(a.platform for a in emulated if not a.register)
    todo = plan.qemu_register
    step = plan.step("qemu-setup")
    if not todo or step is None:
        return QemuResult(native, already, (), plan.qemu_mode)
    if runner.dry:
        return QemuResult(native, already, tuple(a.platform for a in todo), plan.qemu_mode)
    for a in todo:
        # Registered with F but switched off: the plan writes 1 to its entry (host mode).
        if any(op.startswith(f"enable {a.handler}:") for op in step.ops):
            (root / a.handler).write_text("1")
    for argv in step.commands:
        runner.run(argv, label="qemu-setup")
    missing = tuple(
        a.platform for a in todo if not ((h := binfmt.read_handler(a.handler, root)) and h.usable)
    )
    added = tuple(a.platform for a in todo if a.platform not in missing)
    if missing:
        raise MultiarchError(
            f"qemu-setup ({plan.qemu_mode}) could not register emulators for "
            f"{', '.join(str(p) for p in missing)}; install qemu-user-static and binfmt-support"
            " or use --mode docker"
        )
    return QemuResult(native, already, added, plan.qemu_mode)


def qemu_setup(settings: Settings, runner: Runner) -> QemuResult:
    """Register the emulators the plan needs for ``settings.platforms``; report the rest."""
    facts = facts_mod.gather(settings, runner, docker=settings.backend == "buildx")
    plan = make_plan(settings, facts, run_id="", task="qemu-setup")
    if runner.dry:
        from multiarch_tasks.steps.outline import say_plan  # noqa: PLC0415

        say_plan(plan, runner)
    return run_qemu_step(plan, runner)
