"""The Dockerfile's syntax: text to instructions, and ``$VAR`` expansion.

What BuildKit's frontend does before it knows any stage: parser directives
(``# escape=``), comments, line continuations (comment lines inside one dropped), heredoc
bodies (``RUN <<EOF``), ``--flag=value`` options, the words of an ``ARG``, and
``$VAR``/``${VAR:-word}``-style substitution. :mod:`.dockerfile` builds the stages from
these. Pure: text in, plain values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from multiarch_tasks.model.errors import DockerfileError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

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


def split_flags(args: str) -> tuple[dict[str, list[str]], list[str]]:
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


def arg_assignments(args: str) -> Iterator[tuple[str, str | None]]:
    """``(name, default or None)`` for each word of an ``ARG`` (quotes around a value dropped)."""
    for word in args.split():
        name, sep, value = word.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":  # noqa: PLR2004
            value = value[1:-1]
        yield name, (value if sep else None)
