"""What every build backend returns, and the interface they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.plan.make import BuildStep

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.planning.plan.make import Plan


@dataclass(frozen=True)
class PlatformBuild:
    """The outcome of one build step."""

    step: BuildStep
    digest: str = ""
    error: str = ""
    log_tail: str = ""
    # The platforms whose step failed, when the log says (a multi-platform build), and
    # where the build's whole log was written.
    failed: tuple[str, ...] = ()
    log: str = ""

    @property
    def ok(self) -> bool:
        """True when the build pushed."""
        return not self.error


@dataclass(frozen=True)
class BuildOutcome:
    """What a backend pushed: per platform, and the index when it made one."""

    builds: tuple[PlatformBuild, ...]
    digests: Mapping[Platform, str] = field(default_factory=dict)
    index_digest: str = ""


class Backend(Protocol):
    """A build program: runs the plan's build step, moves no final tag."""

    def __call__(self, plan: Plan, settings: Settings, runner: Runner) -> BuildOutcome:
        """Run ``plan``'s build step; raise BuildFailedError naming failed platforms."""
        ...
