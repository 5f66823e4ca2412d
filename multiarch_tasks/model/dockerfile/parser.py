"""Read a Dockerfile far enough to know which images a build pulls, and for which platform.

Our own small parser rather than ``dockerfile-parse``: that library reads the body of a
``RUN <<EOF`` heredoc as instructions and does not expand ``${VAR:-default}``, both of
which would make preflight check images the build never pulls. This one follows BuildKit's
frontend where it matters here:

- parser directives (``# escape=``), comments, line continuations and heredocs;
- global ``ARG`` defaults (before the first ``FROM``) overridden by ``--build-arg``, and
  ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``;
- stage names (``FROM x AS build`` ... ``FROM build`` is not an image), ``scratch``;
- ``--platform=$BUILDPLATFORM`` stages (they run on the build host) and stages inheriting
  their platform from such a stage;
- images pulled by ``COPY --from=IMAGE`` and ``RUN --mount=...,from=IMAGE``;
- every instruction as a :class:`Step` (its stage, its text as written and with the ARGs
  in scope expanded) for :mod:`multiarch_tasks.checks.lint.checker`.

Pure: text in, plain frozen data out; the only I/O is :func:`parse_file` reading the file.
Here: instructions to stages (ARG scopes, ``FROM``, ``--from`` sources). The syntax
(continuations, heredocs, ``$VAR`` expansion) is :mod:`.dockerfile_syntax`'s, the parsed
values and their queries :mod:`.dockerfile_stages`'; their public names are importable
from here too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.model.dockerfile.stages import (
    BUILD,
    FIXED,
    TARGET,
    Dockerfile,
    ImageUse,
    Stage,
    Step,
    find_stage,
)
from multiarch_tasks.model.dockerfile.syntax import (
    Instruction,
    arg_assignments,
    expand,
    instructions,
    split_flags,
)
from multiarch_tasks.model.errors import DockerfileError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

SCRATCH = "scratch"


def parse(
    text: str, build_args: Mapping[str, str] | None = None, path: str = "Dockerfile"
) -> Dockerfile:
    """Parse Dockerfile ``text``; ``build_args`` override ARG defaults (``--build-arg``)."""
    found, escape = instructions(text)
    return _Parser(path, dict(build_args or {}), escape).run(found)


class _Parser:
    """The state of one parse: ARG scopes, stages so far, ``--from`` sources seen."""

    def __init__(self, path: str, given: dict[str, str], escape: str) -> None:
        self.path = path
        self.given = given
        self.escape = escape
        self.global_args: dict[str, str] = {}
        self.stage_env: dict[str, str] = {}
        self.stages: list[Stage] = []
        self.deps: dict[int, list[int]] = {}
        self.pending: list[ImageUse] = []
        self.steps: list[Step] = []

    def run(self, found: list[Instruction]) -> Dockerfile:
        for inst in found:
            at = len(self.stages) if inst.keyword == "FROM" else len(self.stages) - 1
            self.steps.append(
                Step(at, inst.keyword, inst.args, inst.line, self._expanded(inst), inst.body)
            )
            if inst.keyword == "ARG":
                self._arg(inst)
            elif inst.keyword == "FROM":
                stage = _from(inst, self.path, self.global_args, self.escape, self.stages)
                self.stages.append(stage)
                self.deps[stage.index] = [] if stage.parent is None else [stage.parent]
                self.stage_env = {}
            elif not self.stages:
                raise DockerfileError(
                    f"{self.path}:{inst.line}: {inst.keyword} before the first FROM"
                    " (only ARG may come first)",
                    path=self.path,
                    line=inst.line,
                )
            else:
                self._in_stage(inst)
        if not self.stages:
            raise DockerfileError(f"{self.path}: no FROM instruction", path=self.path)
        self.stages[-1] = replace(self.stages[-1], is_final=True)
        # --from may name any stage, also a later one; whatever names no stage is an image.
        uses: list[ImageUse] = []
        for use in self.pending:
            named = find_stage(self.stages, use.image, len(self.stages))
            if named is not None:
                self.deps[use.stage].append(named.index)
            else:
                uses.append(use)
        return Dockerfile(
            self.path,
            tuple(self.stages),
            tuple(uses),
            dict(self.global_args),
            {k: tuple(v) for k, v in self.deps.items()},
            tuple(self.steps),
        )

    def _expanded(self, inst: Instruction) -> str:
        if inst.keyword == "FROM":
            return ""
        # Inside a stage only its own ARGs are in scope (`ARG NAME` brings a global one in).
        scope = self.stage_env if self.stages else self.global_args
        try:
            return expand(inst.args, scope, self.escape)[0]
        except DockerfileError:
            # Shell syntax the Dockerfile grammar does not know (`${x//a/b}` in a RUN).
            return inst.args

    def _arg(self, inst: Instruction) -> None:
        for name, default in arg_assignments(inst.args):
            if not self.stages:
                value = self.given.get(name, default)
                if value is not None:
                    self.global_args[name] = expand(value, self.global_args, self.escape)[0]
            elif default is None and name in self.global_args:
                # `ARG NAME` inside a stage brings the global value into scope.
                self.stage_env[name] = self.global_args[name]
            else:
                value = self.given.get(name, default)
                if value is not None:
                    self.stage_env[name] = expand(value, self.stage_env, self.escape)[0]

    def _in_stage(self, inst: Instruction) -> None:
        current = self.stages[-1]
        if inst.keyword == "RUN" and not current.runs:
            self.stages[-1] = replace(current, runs=True)
        if inst.keyword in {"COPY", "RUN"}:
            scope = {**self.global_args, **self.stage_env}
            for source, via in _from_sources(inst):
                value, unset = expand(source, scope, self.escape)
                if value:
                    self.pending.append(ImageUse(inst.line, value, current.index, via, unset))


def _from_sources(inst: Instruction) -> Iterator[tuple[str, str]]:
    flags, _ = split_flags(inst.args)
    if inst.keyword == "COPY":
        for value in flags.get("from", []):
            yield value, "COPY --from"
    else:
        for mount in flags.get("mount", []):
            for part in mount.split(","):
                key, _, value = part.partition("=")
                if key.strip().lower() == "from" and value:
                    yield value, "RUN --mount"


def _from(
    inst: Instruction, path: str, global_args: Mapping[str, str], escape: str, stages: list[Stage]
) -> Stage:
    where = f"{path}:{inst.line}"
    flags, rest = split_flags(inst.args)
    if not rest:
        raise DockerfileError(f"{where}: FROM needs an image", path=path, line=inst.line)
    name = ""
    if len(rest) == 3 and rest[1].lower() == "as":  # noqa: PLR2004
        name = rest[2].lower()
    elif len(rest) != 1:
        raise DockerfileError(
            f"{where}: cannot read {inst.args!r}: FROM [--platform=P] IMAGE [AS NAME]",
            line=inst.line,
        )
    source, unset = expand(rest[0], global_args, escape)
    platform_flag = (flags.get("platform") or [""])[-1]
    parent = find_stage(stages, source, len(stages)) if source else None
    mode, literal = _platform_mode(platform_flag, global_args, escape)
    if not platform_flag and parent is not None:
        mode, literal = parent.platform_mode, parent.platform
    image: str | None = source
    if parent is not None or source.lower() == SCRATCH:
        image = None
    elif not source:
        raise DockerfileError(
            f"{where}: FROM {rest[0]} is empty;"
            f" pass --build-arg {', '.join(unset) or 'NAME'}=IMAGE",
            path=path,
            line=inst.line,
        )
    return Stage(
        index=len(stages),
        line=inst.line,
        text=rest[0],
        image=image,
        name=name,
        platform_flag=platform_flag,
        platform_mode=mode,
        platform=literal,
        parent=parent.index if parent is not None else None,
        unresolved=unset,
    )


def _platform_mode(flag: str, global_args: Mapping[str, str], escape: str) -> tuple[str, str]:
    if not flag:
        return TARGET, ""
    if "BUILDPLATFORM" in flag or "BUILDARCH" in flag or "BUILDOS" in flag:
        return BUILD, ""
    if "TARGET" in flag:
        return TARGET, ""
    return FIXED, expand(flag, global_args, escape)[0]


def parse_file(path: str | Path, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Read and parse the Dockerfile at ``path``; a missing file is a one-line error."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise DockerfileError(
            f"Dockerfile not found: {file} (pass --file PATH or --context DIR)", path=str(file)
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise DockerfileError(f"cannot read Dockerfile {file}: {err}", path=str(file)) from err
    return parse(text, build_args, str(file))


__all__ = [
    "BUILD",
    "FIXED",
    "SCRATCH",
    "TARGET",
    "Dockerfile",
    "ImageUse",
    "Instruction",
    "Stage",
    "Step",
    "arg_assignments",
    "expand",
    "instructions",
    "parse",
    "parse_file",
]
