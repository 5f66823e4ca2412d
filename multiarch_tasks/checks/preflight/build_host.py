"""The build host: how each target platform would build here, and why it cannot.

Each target is native (the host, or a builder node), emulated (a binfmt_misc QEMU handler,
enabled, flag ``F``) or impossible. Emulation only matters when a target-platform stage has
a ``RUN``; a stage pinned with ``--platform`` that runs something needs its own emulator.
"""

from __future__ import annotations

from multiarch_tasks.checks.preflight.report import HostCheck, Problem
from multiarch_tasks.engine import binfmt
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.errors import InvalidPlatformError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.decide import EMULATED, IMPOSSIBLE, NATIVE, Assignment


def _handler_state(platform: Platform) -> str:
    name = f"qemu-{platform.qemu_name}"
    handler = binfmt.handler_for(platform)
    if handler is None:
        state = "not registered" if binfmt.is_mounted() else "binfmt_misc is not mounted"
    elif not handler.enabled:
        state = "disabled"
    else:
        state = f"registered without the F flag (flags: {handler.flags or 'none'})"
    return f"{name} {state}"


def classify(platform: Platform, native: tuple[Platform, ...]) -> tuple[str, str]:
    """(mode, detail) on this machine alone: native, or the host's binfmt handler."""
    if not binfmt.needs_emulation(platform, native):
        return NATIVE, ""
    handler = binfmt.handler_for(platform)
    if handler is not None and handler.usable:
        return EMULATED, handler.name
    return IMPOSSIBLE, _handler_state(platform)


def from_assignment(a: Assignment, *, registers: bool) -> tuple[str, str]:
    """(mode, detail) from the plan's decision; ``registers``: qemu-setup runs first."""
    if a.mode == NATIVE:
        return NATIVE, a.node
    if a.mode == EMULATED and a.register and not registers:
        return IMPOSSIBLE, _handler_state(a.platform)
    if a.mode == EMULATED:
        return EMULATED, a.render().removeprefix("emulated on ")
    return IMPOSSIBLE, a.why


def host_checks(
    parsed: dockerfile.Dockerfile,
    stages: tuple[dockerfile.Stage, ...],
    targets: tuple[Platform, ...],
    classified: list[tuple[str, str]],
) -> tuple[tuple[HostCheck, ...], list[Problem]]:
    """A row per target (mode, detail, whether a RUN needs it), and the emulators missing."""
    target_runs = any(s.runs and s.platform_mode == dockerfile.TARGET for s in stages)
    checks: list[HostCheck] = []
    problems: list[Problem] = []
    for platform, (mode, detail) in zip(targets, classified, strict=True):
        checks.append(HostCheck(platform, mode, detail, target_runs))
        if mode == IMPOSSIBLE and target_runs:
            emulator = f"qemu-{platform.qemu_name}"
            fix = f"multiarch qemu-setup --platforms {platform}"
            problems.append(
                Problem(
                    "emulator",
                    f"{parsed.path}: {platform} is not native here and would be emulated by"
                    f" QEMU, but {detail} in {binfmt.BINFMT_DIR}, so its RUN steps cannot"
                    f" run; fix: `{fix}` (registers {emulator} with flag F), or append a"
                    f" native {platform} node to the builder",
                    platforms=(str(platform),),
                    fix=fix,
                )
            )
    for stage in stages:
        if stage.runs and stage.platform_mode == dockerfile.FIXED:
            problems += _fixed_stage_problem(parsed.path, stage, targets, classified)
    return tuple(checks), problems


def _fixed_stage_problem(
    path: str,
    stage: dockerfile.Stage,
    targets: tuple[Platform, ...],
    classified: list[tuple[str, str]],
) -> list[Problem]:
    try:
        platform = Platform.parse(stage.platform)
    except InvalidPlatformError:
        return []  # reported with the base images
    known = dict(zip(targets, classified, strict=True))
    mode, detail = known.get(platform) or classify(platform, (Platform.host(),))
    if mode != IMPOSSIBLE:
        return []
    fix = f"multiarch qemu-setup --platforms {platform}"
    return [
        Problem(
            "emulator",
            f"{path}:{stage.line}: {stage.label} runs on {platform}, which needs QEMU, but"
            f" {detail}; fix: `{fix}`",
            line=stage.line,
            platforms=(str(platform),),
            fix=fix,
        )
    ]
