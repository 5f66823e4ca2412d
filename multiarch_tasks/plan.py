"""The publish plan: what will run, on which builder, natively or under QEMU, to which tags.

Computed before anything changes (only read-only probes: ``docker buildx inspect``,
binfmt_misc, ``docker buildx version``), printed first by ``publish``; with ``--dry`` the
commands follow and nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from multiarch_tasks import binfmt, tools
from multiarch_tasks.build import BuildStep, git_labels, plan_build
from multiarch_tasks.builder import builder_name, coverage, inspect_builder
from multiarch_tasks.manifest import choose_tool
from multiarch_tasks.platforms import Platform
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import Settings


@dataclass(frozen=True)
class PublishPlan:
    """Every step publish will take, as data."""

    image: str
    tags: tuple[str, ...]
    steps: tuple[tuple[str, str], ...]
    builds: tuple[BuildStep, ...]
    how: dict[Platform, str]

    def render(self) -> str:
        """Numbered steps, the per-platform builds under the build step."""
        lines = [f"plan: publish {', '.join(self.tags)} for {len(self.how)} platform(s)"]
        width = max(len(name) for name, _ in self.steps)
        for number, (name, what) in enumerate(self.steps, 1):
            lines.append(f"  {number}. {name:<{width}}  {what}")
            if name == "build":
                label = max(len(b.label) for b in self.builds)
                lines += [
                    f"       {b.label:<{label}}  {b.how:<34} -> {', '.join(b.tags)}"
                    for b in self.builds
                ]
        return "\n".join(lines)


def _how(settings: Settings, runner: Runner) -> tuple[dict[Platform, str], str]:
    """How each platform will build, and what the builder step will do."""
    name = builder_name(settings)
    if settings.backend == "buildah":
        native = (Platform.host(),)
        return {
            p: "native" if not binfmt.needs_emulation(p, native) else _emulated(p, settings)
            for p in settings.platforms
        }, "none (buildah builds without a builder)"
    info = inspect_builder(name, runner)
    if info is None:
        host = Platform.host()
        how = {
            p: f"native on {name}"
            if not binfmt.needs_emulation(p, (host,))
            else _emulated(p, settings)
            for p in settings.platforms
        }
        return how, f"create {name!r} (driver {settings.driver})"
    how = coverage(info, settings.platforms)
    for platform, text in how.items():
        if text == "impossible":
            how[platform] = _emulated(platform, settings)
    return how, f"reuse {name!r} (driver {info.driver})"


def _emulated(platform: Platform, settings: Settings) -> str:
    handler = binfmt.handler_for(platform)
    name = f"qemu-{platform.qemu_name}"
    if handler is not None and handler.usable:
        return f"emulated ({name})"
    if settings.qemu_mode == "off":
        return "impossible (no emulator, qemu_mode off)"
    return f"emulated ({name}, registered by qemu-setup)"


def plan_publish(settings: Settings, runner: Runner) -> PublishPlan:
    """Compute the plan; runs only read-only probes."""
    how, builder_step = _how(settings, runner)
    tags = tuple(str(settings.ref(t)) for t in settings.tags)
    to_register = sorted({h.split("(", 1)[1].split(",")[0] for h in how.values()
                          if "registered by qemu-setup" in h})  # fmt: skip
    steps: list[tuple[str, str]] = []
    if settings.preflight:
        steps.append(("preflight", f"base images and build host for {settings.dockerfile}"))
    steps.append(
        ("qemu-setup", f"register {', '.join(to_register)}" if to_register else "nothing to add")
    )
    steps.append(("builder", builder_step))
    builds = plan_build(settings, how, git_labels(runner, settings.context))
    at_once = min(settings.jobs or len(builds), len(builds))
    kind = f"{settings.strategy}, {settings.backend}"
    if settings.backend == "buildx" and settings.strategy == "per-arch":
        kind += f", {at_once} at once"
    steps.append(("build", kind))
    if settings.backend == "buildx" and settings.strategy == "per-arch":
        tool = choose_tool(settings, runner)
        keep = "kept" if settings.attestations != "off" and tool != "docker" else "dropped"
        steps.append(("merge", f"{tool} index ({settings.media_type}), attestations {keep}"))
        steps.append(("push", ", ".join(tags)))
    if settings.verify:
        checks = "platforms, configs" + (", ELF headers" if settings.verify_deep else "")
        steps.append(("verify", checks + (", run" if settings.verify_run else "")))
    if settings.backend == "buildx":
        tools.buildx_info(runner)  # fail early, naming buildx, when it is missing
    return PublishPlan(str(settings.image_ref), tags, tuple(steps), tuple(builds), how)
