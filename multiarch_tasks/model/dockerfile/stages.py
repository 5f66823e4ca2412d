"""The parsed Dockerfile: its stages, their instructions, the images they pull.

:class:`Dockerfile` and what it answers: the stages a ``--target`` needs
(:meth:`~Dockerfile.reachable`), the chain a stage is built ``FROM``, the
``$BUILDPLATFORM`` stage a stage takes its platform from. :mod:`.dockerfile` builds one
from text. Pure frozen data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multiarch_tasks.model.errors import DockerfileError

if TYPE_CHECKING:
    from collections.abc import Mapping

# How a stage's platform is chosen.
TARGET = "target"  # the platform being built (no --platform, or $TARGETPLATFORM)
BUILD = "build"  # the build host's platform (--platform=$BUILDPLATFORM)
FIXED = "fixed"  # a literal platform, e.g. --platform=linux/amd64


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and what it means for the build.

    ``image`` is the reference pulled (after ARG substitution), or None for ``scratch``
    and for stages built on an earlier stage (``parent`` is then that stage's index).
    ``platform_mode`` is :data:`TARGET`, :data:`BUILD` or :data:`FIXED` (then
    ``platform`` holds the literal); a stage without ``--platform`` built on another stage
    inherits that stage's mode, as BuildKit does. ``unresolved`` lists variables the FROM
    line uses that have no value.
    """

    index: int
    line: int
    text: str
    image: str | None
    name: str = ""
    platform_flag: str = ""
    platform_mode: str = TARGET
    platform: str = ""
    parent: int | None = None
    is_final: bool = False
    runs: bool = False
    unresolved: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How messages name the stage: ``stage 'build'`` or ``stage 2``."""
        return f"stage {self.name!r}" if self.name else f"stage {self.index}"


@dataclass(frozen=True)
class ImageUse:
    """An image a stage pulls besides its base: ``COPY --from=IMAGE`` or ``RUN --mount``."""

    line: int
    image: str
    stage: int
    via: str  # "COPY --from" or "RUN --mount"
    unresolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One instruction of a stage (``stage`` -1: an ``ARG`` before the first ``FROM``).

    ``args`` is the text as written (continuations joined); ``expanded`` the same with the
    ARGs in scope substituted (unset ones and BuildKit's platform ARGs become "").
    ``body`` is the text of its heredocs (``RUN <<EOF``), which the shell runs.
    """

    stage: int
    keyword: str
    args: str
    line: int
    expanded: str = ""
    body: str = ""


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: its stages, extra image uses and the global ARG values."""

    path: str
    stages: tuple[Stage, ...]
    uses: tuple[ImageUse, ...] = ()
    args: Mapping[str, str] = field(default_factory=dict)
    stage_deps: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()

    def steps_of(self, stage: Stage) -> tuple[Step, ...]:
        """The instructions of ``stage`` after its ``FROM``, in file order."""
        return tuple(s for s in self.steps if s.stage == stage.index and s.keyword != "FROM")

    def origin(self, stage: Stage) -> tuple[Stage, ...]:
        """``stage`` and the stages it is built ``FROM``, nearest first."""
        chain = [stage]
        parent = stage.parent
        while parent is not None:
            chain.append(self.stages[parent])
            parent = self.stages[parent].parent
        return tuple(chain)

    @property
    def final(self) -> Stage:
        """The last stage (what ``docker build`` ships without ``--target``)."""
        return self.stages[-1]

    def stage_named(self, name: str) -> Stage | None:
        """Find the stage called ``name`` (case-insensitive) or numbered ``name``."""
        return find_stage(self.stages, name, len(self.stages))

    def reachable(self, target: str = "") -> tuple[Stage, ...]:
        """Stages the build of ``target`` (default: the final stage) needs, in file order.

        BuildKit skips stages the target does not depend on, so their images are not
        pulled; ``target`` that names no stage is an error.
        """
        start = self.final
        if target:
            found = self.stage_named(target)
            if found is None:
                names = ", ".join(s.name for s in self.stages if s.name) or "none"
                raise DockerfileError(
                    f"{self.path}: no stage named {target!r} for --target (stages: {names})",
                    path=self.path,
                )
            start = found
        seen: set[int] = set()
        todo = [start.index]
        while todo:
            index = todo.pop()
            if index in seen:
                continue
            seen.add(index)
            todo.extend(self.stage_deps.get(index, ()))
        return tuple(s for s in self.stages if s.index in seen)

    def build_platform_ancestor(self, stage: Stage) -> Stage | None:
        """Find the ``--platform=$BUILDPLATFORM`` stage ``stage`` takes its platform from."""
        current: Stage | None = stage
        while current is not None:
            if current.platform_flag:
                return current if current.platform_mode == BUILD else None
            current = self.stages[current.parent] if current.parent is not None else None
        return None


def find_stage(stages: tuple[Stage, ...] | list[Stage], name: str, before: int) -> Stage | None:
    """The stage named (case-insensitive) or numbered ``name``, among the first ``before``."""
    if name.isdigit():
        number = int(name)
        return stages[number] if number < before else None
    lowered = name.lower()
    return next((s for s in stages[:before] if s.name == lowered), None)
