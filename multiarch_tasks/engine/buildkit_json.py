"""BuildKit's progress as structured events: ``docker buildx build --progress=rawjson``.

buildx prints each ``SolveStatus`` as an indented JSON object (``{`` and ``}`` alone on
their lines) with ``vertexes`` (a step: its name ``[linux/arm64 2/3] RUN ...``, started,
completed, cached, error), ``statuses`` (a push's or pull's progress) and ``logs`` (a
step's output, base64). Its final error (``ERROR: failed to solve: ...``) is plain text.

:class:`RawJson` reads that stream line by line and gives back two things: the lines
BuildKit's plain printer would have written (``#8 [linux/arm64 2/3] RUN ...``,
``#8 0.412 hello``, ``#8 DONE 1.2s``, ``#8 ERROR: ...``), so the log files, the failure
analysis and the retry decision read what they always read; and, per platform, a
:class:`BuildProgress` (current step, done, cached and total steps) for the live view.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["BuildProgress", "RawJson"]

# `[linux/arm64 2/3] RUN ...`, `[linux/amd64 internal] load metadata ...`, `[internal] ...`
_NAME = re.compile(
    r"^\[(?:(?P<platform>[a-z][a-z0-9]*/[a-z0-9_]+(?:/v\d+)?)\s*)?"
    r"(?:(?P<index>\d+)/(?P<total>\d+)|[^\]]*)\]\s*(?P<rest>.*)$"
)


@dataclass(frozen=True)
class BuildProgress:
    """Where one platform's build is: its current step and how many are done of how many."""

    current: str  # `[2/3] RUN make`, or "" before the first
    done: int
    cached: int
    total: int
    failed: bool = False
    took: float = 0.0  # from its first step's start to its last step's end (BuildKit's clock)

    def to_json(self) -> dict[str, object]:
        """The progress as JSON."""
        return {
            "current": self.current,
            "done": self.done,
            "cached": self.cached,
            "total": self.total,
            "failed": self.failed,
            "took": round(self.took, 3),
        }


@dataclass
class _Vertex:
    number: int
    name: str
    platform: str
    index: int
    total: int
    started: str = ""
    completed: str = ""
    cached: bool = False
    error: str = ""
    said: set[str] = field(default_factory=set)


def _seconds(start: str, end: str) -> float:
    try:
        # BuildKit's RFC 3339 times carry nanoseconds: Python reads up to microseconds.
        a, b = (datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", t)) for t in (start, end))
    except ValueError:
        return 0.0
    return max(0.0, (b - a).total_seconds())


class RawJson:
    """Reads ``--progress=rawjson`` output: plain lines out, per-platform progress beside."""

    def __init__(self, platform: str = "") -> None:
        # A one-platform build's steps do not name their platform: they are all this one's.
        self._platform = platform
        self._buffer: list[str] | None = None
        self._vertices: dict[str, _Vertex] = {}
        self._current: dict[str, str] = {}

    def feed(self, line: str) -> tuple[list[str], dict[str, BuildProgress]]:
        """One output line in: the plain lines it completes, and the platforms it moved."""
        if self._buffer is None:
            if line != "{":
                return [line], {}  # buildx's own text: the final error, a warning
            self._buffer = [line]
            return [], {}
        self._buffer.append(line)
        if line != "}":
            return [], {}
        text, self._buffer = "\n".join(self._buffer), None
        try:
            status = json.loads(text)
        except json.JSONDecodeError:
            return text.splitlines(), {}
        return self._status(status if isinstance(status, dict) else {})

    def _status(self, status: dict[str, object]) -> tuple[list[str], dict[str, BuildProgress]]:
        lines: list[str] = []
        moved: set[str] = set()
        for raw in _dicts(status.get("vertexes")):
            lines += self._vertex(raw, moved)
        for raw in _dicts(status.get("logs")):
            vertex = self._vertices.get(str(raw.get("vertex", "")))
            try:
                data = base64.b64decode(str(raw.get("data", ""))).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                continue
            number = f"#{vertex.number} " if vertex else ""
            lines += [f"{number}{part}".rstrip() for part in data.splitlines()]
        for raw in _dicts(status.get("statuses")):
            vertex = self._vertices.get(str(raw.get("vertex", "")))
            what = str(raw.get("id", ""))
            if vertex is not None and raw.get("completed") and what not in vertex.said:
                vertex.said.add(what)
                lines.append(f"#{vertex.number} {what} done")
        return lines, {p: self.progress(p) for p in moved}

    def _vertex(self, raw: dict[str, object], moved: set[str]) -> list[str]:
        digest = str(raw.get("digest", ""))
        name = str(raw.get("name", ""))
        vertex = self._vertices.get(digest)
        lines: list[str] = []
        if vertex is None:
            m = _NAME.match(name)
            platform = (m.group("platform") or "") if m else ""
            platform = platform or self._platform
            index = int(m.group("index")) if m and m.group("index") else 0
            total = int(m.group("total")) if m and m.group("total") else 0
            vertex = _Vertex(len(self._vertices) + 1, name, platform, index, total)
            self._vertices[digest] = vertex
            lines.append(f"#{vertex.number} {name}")
        if raw.get("started") and not vertex.started:
            vertex.started = str(raw["started"])
            self._current[vertex.platform] = digest
        # BuildKit may say "cached" after "completed" (a FROM, a step found in the cache).
        if raw.get("cached") and not vertex.cached:
            vertex.cached = True
            lines.append(f"#{vertex.number} CACHED")
        if raw.get("error") and not vertex.error:
            vertex.error = str(raw["error"])
            # BuildKit's own printer: a step stopped because another failed is CANCELED,
            # not an error of its platform (the failed platform is the one named).
            if vertex.error.endswith("context canceled"):
                lines.append(f"#{vertex.number} CANCELED")
            else:
                lines.append(f"#{vertex.number} ERROR: {vertex.error}")
        elif raw.get("completed") and not vertex.completed:
            vertex.completed = str(raw["completed"])
            if not vertex.cached:
                took = _seconds(vertex.started or vertex.completed, vertex.completed)
                lines.append(f"#{vertex.number} DONE {took:.1f}s")
        if vertex.platform:
            moved.add(vertex.platform)
        else:
            # A step of no one platform (exporting, pushing) moves every platform's row.
            moved.update(v.platform for v in self._vertices.values() if v.platform)
        return lines

    def progress(self, platform: str) -> BuildProgress:
        """Where ``platform``'s build is now."""
        mine = [v for v in self._vertices.values() if v.platform == platform]
        steps = [v for v in mine if v.total]
        total = max((v.total for v in steps), default=0)
        current = self._vertices.get(self._current.get(platform, ""))
        shared = self._vertices.get(self._current.get("", ""))
        if shared is not None and current is not None and shared.started > current.started:
            current = shared  # after its own steps: the export and push of the build
        shown = ""
        if current is not None:
            m = _NAME.match(current.name)
            shown = current.name
            if m and m.group("index"):
                shown = f"[{m.group('index')}/{m.group('total')}] {m.group('rest')}"
            elif m and m.group("platform"):
                shown = f"[internal] {m.group('rest')}"
        starts = [v.started for v in mine if v.started]
        ends = [v.completed for v in mine if v.completed]
        return BuildProgress(
            current=shown,
            took=_seconds(min(starts), max(ends)) if starts and ends else 0.0,
            done=sum(1 for v in steps if v.completed and not v.error),
            cached=sum(1 for v in steps if v.cached),
            total=total,
            failed=any(v.error and not v.error.endswith("context canceled") for v in mine),
        )


def _dicts(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
