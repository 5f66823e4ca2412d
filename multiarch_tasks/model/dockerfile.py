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
  in scope expanded) for :mod:`multiarch_tasks.checks.lint`.

Pure: text in, plain frozen data out; the only I/O is :func:`parse_file` reading the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.model.errors import DockerfileError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# How a stage's platform is chosen.
TARGET = "target"  # the platform being built (no --platform, or $TARGETPLATFORM)
BUILD = "build"  # the build host's platform (--platform=$BUILDPLATFORM)
FIXED = "fixed"  # a literal platform, e.g. --platform=linux/amd64

SCRATCH = "scratch"
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_DIRECTIVE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Automatic platform ARGs: BuildKit fills them in per build, so they never count as unset.
_PLATFORM_ARGS = frozenset(
    {
        "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
        "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    }
)  # fmt: skip


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
        return _find_stage(self.stages, name, len(self.stages))

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


# --- variable expansion ------------------------------------------------------------------


def expand(text: str, env: Mapping[str, str], escape: str = "\\") -> tuple[str, tuple[str, ...]]:
    """Expand ``$VAR``/``${VAR...}`` in ``text`` from ``env``; return (text, unset names).

    Unset variables expand to "" as in Docker, and are reported so callers can say which
    ``--build-arg`` is missing. ``escape`` before ``$`` keeps it literal.
    """
    unset: list[str] = []
    out = _Expander(text, env, escape, unset).run()
    return out, tuple(dict.fromkeys(unset))


class _Expander:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, unset: list[str]) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.unset = unset

    def run(self, stop: str = "") -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if stop and char == stop:
                break
            if char == self.escape and self.text[self.pos + 1 : self.pos + 2] == "$":
                out.append("$")
                self.pos += 2
            elif char == "$":
                out.append(self._variable())
            else:
                out.append(char)
                self.pos += 1
        return "".join(out)

    def _lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None and name not in _PLATFORM_ARGS:
            self.unset.append(name)
        return value

    def _variable(self) -> str:
        self.pos += 1  # the "$"
        if self.text[self.pos : self.pos + 1] != "{":
            match = _VAR_NAME.match(self.text, self.pos)
            if not match:
                return "$"
            self.pos = match.end()
            return self._lookup(match.group()) or ""
        match = _VAR_NAME.match(self.text, self.pos + 1)
        if not match:
            raise DockerfileError(f"bad variable substitution in {self.text!r}")
        name = match.group()
        self.pos = match.end()
        rest = self.text[self.pos :]
        for operator in (":-", ":+", "-", "+"):
            if rest.startswith(operator):
                self.pos += len(operator)
                word = self.run(stop="}")
                self._close()
                value = self.env.get(name)
                set_ = value is not None and (value != "" or ":" not in operator)
                if operator.endswith("-"):
                    return value if set_ and value is not None else word
                return word if set_ else ""
        self._close()
        return self._lookup(name) or ""

    def _close(self) -> None:
        if self.text[self.pos : self.pos + 1] != "}":
            raise DockerfileError(f"missing '}}' in variable substitution in {self.text!r}")
        self.pos += 1


# --- lines -> instructions ---------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One logical instruction: keyword (upper case), its arguments, its first line."""

    keyword: str
    args: str
    line: int
    body: str = ""


def instructions(text: str) -> tuple[list[Instruction], str]:
    """Split Dockerfile text into instructions; return them and the escape character.

    Handles parser directives, comments, continuations (comment lines inside a
    continuation are dropped, as Docker does) and heredoc bodies (skipped).
    """
    lines = text.splitlines()
    escape = "\\"
    index = 0
    # Parser directives: only at the very top, before any comment or instruction.
    while index < len(lines):
        match = _DIRECTIVE.fullmatch(lines[index].strip())
        if not match:
            break
        if match.group(1).lower() == "escape":
            if match.group(2) not in {"\\", "`"}:
                raise DockerfileError(f"invalid escape directive {match.group(2)!r}")
            escape = match.group(2)
        index += 1
    out: list[Instruction] = []
    while index < len(lines):
        if _is_blank_or_comment(lines[index]):
            index += 1
            continue
        start = index
        logical, index = _logical_line(lines, index, escape)
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        body = ""
        if keyword in _HEREDOC_INSTRUCTIONS:
            after = _skip_heredocs(lines, index, args)
            body = "\n".join(lines[index:after])
            index = after
        out.append(Instruction(keyword, args.strip(), start + 1, body))
    return out, escape


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _logical_line(lines: list[str], index: int, escape: str) -> tuple[str, int]:
    """Join ``lines[index]`` with its continuation lines; return it and the next index."""
    parts: list[str] = []
    while index < len(lines):
        body = lines[index].rstrip()
        index += 1
        if not body.endswith(escape):
            parts.append(body)
            break
        parts.append(body[: -len(escape)])
        # Blank and comment lines inside a continuation are dropped, as Docker does.
        while index < len(lines) and _is_blank_or_comment(lines[index]):
            index += 1
    return " ".join(p.strip() for p in parts).strip(), index


def _skip_heredocs(lines: list[str], index: int, args: str) -> int:
    if args.lstrip().startswith("["):
        return index  # exec form: no heredocs
    for match in _HEREDOC.finditer(args):
        strip_tabs, word = match.group(1) == "-", match.group(3)
        while index < len(lines):
            line = lines[index].lstrip("\t") if strip_tabs else lines[index]
            index += 1
            if line == word:
                break
    return index


# --- instructions -> stages ---------------------------------------------------------------


def _flags(args: str) -> tuple[dict[str, list[str]], list[str]]:
    """Split ``--flag=value`` options from the positional words."""
    flags: dict[str, list[str]] = {}
    words = args.split()
    rest: list[str] = []
    for position, word in enumerate(words):
        if word.startswith("--") and not rest:
            name, _, value = word[2:].partition("=")
            flags.setdefault(name.lower(), []).append(value)
        else:
            rest = words[position:]
            break
    return flags, rest


def _find_stage(stages: tuple[Stage, ...] | list[Stage], name: str, before: int) -> Stage | None:
    if name.isdigit():
        number = int(name)
        return stages[number] if number < before else None
    lowered = name.lower()
    return next((s for s in stages[:before] if s.name == lowered), None)


def arg_assignments(args: str) -> Iterator[tuple[str, str | None]]:
    """``(name, default or None)`` for each word of an ``ARG`` (quotes around a value dropped)."""
    for word in args.split():
        name, sep, value = word.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":  # noqa: PLR2004
            value = value[1:-1]
        yield name, (value if sep else None)


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
            named = _find_stage(self.stages, use.image, len(self.stages))
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
    flags, _ = _flags(inst.args)
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
    flags, rest = _flags(inst.args)
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
    parent = _find_stage(stages, source, len(stages)) if source else None
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
