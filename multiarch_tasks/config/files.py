"""Where a setting is written in a config file: its line, and numbers as the user typed them.

invoke and tomllib hand us plain values without positions, so errors find the key again in
the file's text: ``jobs (from invoke.yaml:4): ...``. A best effort over YAML (block or flow
style), JSON and the ``[tool.multiarch-tasks]`` table of pyproject.toml; ``None`` when the
key cannot be found, and the message then names the layer without a line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# invoke's own search order for a project config file (`invoke/config.py`, _file_suffixes).
INVOKE_FILES = ("invoke.yaml", "invoke.yml", "invoke.json")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d[\d_]*\.\d*|\.\d+|\d[\d_]*)(?:[eE][-+]?\d+)?(?![\w.])")


@dataclass(frozen=True)
class Found:
    """A key found in a file: its 1-based line and the text of its value."""

    line: int
    value_text: str


def project_config_file(directory: str | os.PathLike[str] = ".") -> Path | None:
    """The invoke project config file in ``directory`` (as invoke would pick it), or None."""
    for name in INVOKE_FILES:
        path = Path(directory) / name
        if path.is_file():
            return path
    return None


def _read(path: str | os.PathLike[str]) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _key(name: str) -> str:
    # A mapping key as YAML or JSON writes it: at a line start or after `{`, `,` or a space.
    return rf"(?:^|(?<=[{{,\s]))[\"']?{re.escape(name)}[\"']?[ \t]*:"


def find_yaml_section(path: str | os.PathLike[str], section: str) -> Found | None:
    """Find the top-level ``section:`` of a YAML or JSON file."""
    text = _read(path)
    head = re.search(_key(section), text or "", re.MULTILINE)
    if text is None or head is None:
        return None
    return Found(_line_of(text, head.start()), _rest_of_line(text, head.end()))


def find_yaml_key(path: str | os.PathLike[str], section: str, key: str) -> Found | None:
    """Find ``section: {key: ...}`` in a YAML or JSON file (``multiarch:`` then ``jobs:``)."""
    text = _read(path)
    head = re.search(_key(section), text or "", re.MULTILINE)
    if text is None or head is None:
        return None
    start = head.end()
    # A block section ends where the next top-level key starts (column 0).
    nxt = re.compile(r"^[^\s#\-}\]]", re.MULTILINE).search(text, start)
    end = nxt.start() if nxt else len(text)
    rest = _rest_of_line(text, start).strip()
    if rest and not rest.startswith("#"):  # flow style (multiarch: {jobs: 1.7}) or JSON
        match = re.compile(_key(key), re.MULTILINE).search(text, start, end)
        if match is None:
            return None
        return Found(_line_of(text, match.start()), _rest_of_line(text, match.end()))
    first = re.compile(r"^([ \t]+)[^\s#]", re.MULTILINE).search(text, start, end)
    if first is None:
        return None
    indent = first.group(1)
    pattern = re.compile(rf"^{indent}[\"']?{re.escape(key)}[\"']?[ \t]*:", re.MULTILINE)
    match = pattern.search(text, start, end)
    if match is None:
        return None
    return Found(_line_of(text, match.start()), _block_value(text, match.end(), end, indent))


def find_toml_key(path: str | os.PathLike[str], table: str, key: str) -> Found | None:
    """Find ``key = ...`` inside ``[table]`` of a TOML file (pyproject.toml)."""
    text = _read(path)
    if text is None:
        return None
    head = re.search(rf"(?m)^\s*\[\s*{re.escape(table)}\s*\]", text)
    if head is None:
        return None
    nxt = re.compile(r"^\s*\[", re.MULTILINE).search(text, head.end())
    end = nxt.start() if nxt else len(text)
    for name in dict.fromkeys((key, key.replace("_", "-"), key.replace("-", "_"))):
        match = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=", re.MULTILINE).search(
            text, head.end(), end
        )
        if match is not None:
            following = re.compile(r"^\s*[\w\"'-]+\s*=", re.MULTILINE).search(
                text, match.end(), end
            )
            stop = following.start() if following else end
            return Found(_line_of(text, match.start()), text[match.end() : stop])
    return None


def _rest_of_line(text: str, offset: int) -> str:
    newline = text.find("\n", offset)
    return text[offset : newline if newline >= 0 else len(text)]


def _block_value(text: str, start: int, end: int, indent: str) -> str:
    lines = [_rest_of_line(text, start)]
    offset = text.find("\n", start)
    while 0 <= offset < end:
        line = _rest_of_line(text, offset + 1)
        stripped = line.strip()
        deeper = line.startswith(indent) and (
            line[len(indent) :].startswith((" ", "\t", "-")) or not stripped
        )
        if not deeper and stripped and not stripped.startswith("#"):
            break
        lines.append(line)
        offset = text.find("\n", offset + 1)
    return "\n".join(lines)


def spelled_number(value_text: str, number: float) -> str | None:
    """The number as written in ``value_text`` that reads as ``number`` (``1.10`` for 1.1)."""
    for match in _NUMBER.finditer(value_text):
        token = match.group(0)
        try:
            if float(token.replace("_", "")) == number:
                return token
        except ValueError:
            continue
    return None
