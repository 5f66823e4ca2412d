"""builder-create: the builder buildx would use, reused, or created as the plan says.

The builder in use is decided by :mod:`multiarch_tasks.engine.facts` with buildx's own rule
(``builder`` setting, else ``BUILDX_BUILDER``, else the current builder). When the settings
name one that does not exist, it is created (``docker-container``/``remote``) with a
generated buildkitd config for plain-HTTP registries and mirrors; a remote builder's first
``create`` carries the first node's endpoint and each further node is appended with its
own. The ``docker`` driver is the engine's own builder and cannot be created, only reused.
The user's current builder is never switched unless asked (``use``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import facts as facts_mod
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.digests import make_output_dir
from multiarch_tasks.model.errors import InvalidValueError, MultiarchError
from multiarch_tasks.planning.plan.make import Assignment, Plan, make_plan


@dataclass(frozen=True)
class BuilderResult:
    """The builder the run uses, whether it was created now, and where each platform goes."""

    name: str
    driver: str
    created: bool
    assignments: tuple[Assignment, ...]
    source: str = ""
    dry: bool = False

    @property
    def ok(self) -> bool:
        """True when every platform can be built."""
        return all(a.buildable for a in self.assignments)

    def render(self) -> str:
        """A line for the builder and one per platform."""
        verb = "created" if self.created else "reusing"
        if self.dry:
            verb = "would create" if self.created else "would reuse"
        why = f", {self.source}" if self.source else ""
        lines = [f"builder-create: {verb} builder {self.name!r} (driver {self.driver}{why})"]
        lines += [f"  {a.platform}: {a.render()}" for a in self.assignments]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The result as JSON."""
        return {
            "ok": self.ok,
            "name": self.name,
            "driver": self.driver,
            "created": self.created,
            "source": self.source,
            "platforms": {str(a.platform): a.to_json() for a in self.assignments},
        }


def run_builder_step(plan: Plan, runner: Runner) -> BuilderResult:
    """Run the plan's builder step: write the buildkitd config, create and append nodes."""
    step = plan.step("builder")
    if step is not None and step.commands and not runner.dry:
        if plan.buildkitd_config:
            path = Path(plan.buildkitd_path)
            make_output_dir(path.parent)
            path.write_text(plan.buildkitd_config)
        for number, argv in enumerate(step.commands):
            label = "builder-create" if number == 0 else f"builder-create node {argv[-1]}"
            runner.run(argv, label=label)
    return BuilderResult(
        plan.builder_name,
        plan.driver,
        plan.create_builder,
        plan.assignments,
        plan.builder_source,
        dry=runner.dry,
    )


def builder_create(settings: Settings, runner: Runner) -> BuilderResult:
    """Reuse or create the builder; fail, before creating anything, on what it cannot build."""
    if settings.builder and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", settings.builder):
        raise InvalidValueError(f"invalid builder name {settings.builder!r}")
    facts = facts_mod.gather(settings, runner)
    plan = make_plan(settings, facts, run_id="", task="builder-create")
    waiting = [a for a in plan.assignments if a.register]
    if waiting:
        names = ", ".join(str(a.platform) for a in waiting)
        raise MultiarchError(
            f"builder {plan.builder_name!r} cannot build {names} yet: no node runs it natively"
            f" and {', '.join(a.handler for a in waiting)} is not usable; run"
            f" `multiarch qemu-setup --platforms {names}` or append a native node"
        )
    step = plan.step("builder")
    if runner.dry and step is not None:
        from multiarch_tasks.steps.outline import say_plan  # noqa: PLC0415

        say_plan(plan, runner)
    return run_builder_step(plan, runner)
