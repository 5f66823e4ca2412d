"""Progress as typed events, and the sinks that show them (issue 18).

Every step says what happens through one sink the runner owns (:meth:`Runner.emit`):
a step or a platform starting, ending or failing, an informational line, a line of a
child process's output. :class:`PlainSink` prints one line per event for people and CI
logs, a platform's lines prefixed by its short name (``arm64 │``); :class:`JsonSink`
prints one JSON object per line for machines. A live terminal view is one more sink.

A multi-platform BuildKit log names the platform on each vertex's first line
(``#8 [linux/arm64 2/3] RUN ...``) and only the vertex number after it (``#8 DONE``):
:class:`PlatformLines` attributes each line to its platform from that.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from multiarch_tasks.engine.buildkit_json import BuildProgress

__all__ = [
    "MODES",
    "Event",
    "JsonSink",
    "Outline",
    "PlainSink",
    "PlatformLines",
    "Sink",
    "Transfer",
    "platform_list",
    "resolve_mode",
    "short_platform",
    "transfer_events",
]

MODES = ("auto", "tty", "plain", "json")
BAR = "│"
PREFIX_WIDTH = 7  # the longest short platform people build for: ppc64le


def resolve_mode(
    mode: str, *, tty: bool, environ: Mapping[str, str], commands: bool = False
) -> str:
    """The mode ``auto`` means here: ``tty`` on a terminal outside CI, else ``plain``.

    ``TERM=dumb`` cannot move the cursor: plain, even when ``tty`` was asked for.
    ``commands`` (invoke's ``--dry`` or ``--echo``: the commands are what one asked to
    see) makes ``auto`` plain: the live view shows no command.
    """
    if environ.get("TERM") == "dumb" and mode in {"auto", "tty"}:
        return "plain"
    if mode == "auto":
        return "tty" if tty and not commands and not environ.get("CI") else "plain"
    return mode


@dataclass(frozen=True)
class Outline:
    """What a run will do, for a live view: its title, steps and platforms, from the plan.

    ``steps`` are (name, summary) in the plan's order; ``platforms`` (platform, mode, node)
    with mode ``native`` or ``emulated``.
    """

    title: str
    steps: tuple[tuple[str, str], ...] = ()
    platforms: tuple[tuple[str, str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        """The outline as JSON."""
        return {
            "title": self.title,
            "steps": [{"name": n, "summary": s} for n, s in self.steps],
            "platforms": [{"platform": p, "mode": m, "node": n} for p, m, n in self.platforms],
        }


@dataclass(frozen=True)
class Transfer:
    """How far one platform's copy is: bytes and blobs copied of those to copy.

    ``counted`` False: the copier (skopeo) tells no bytes as they move, only when a whole
    image is there; ``started`` is then how many of the blobs it has begun.
    """

    done: int
    total: int
    blobs_done: int
    blobs: int
    unit: str = "blobs"  # what is counted: blobs (mirror) or layers (verify --deep)
    counted: bool = True
    started: int = 0

    def to_json(self) -> dict[str, object]:
        """The transfer as JSON."""
        doc: dict[str, object] = {
            "bytes": self.done,
            "total": self.total,
            "blobs": self.blobs_done,
            "blobs_total": self.blobs,
            "unit": self.unit,
        }
        if not self.counted:
            doc.update(counted=False, started=self.started)
        return doc


def transfer_events(emit: Callable[[Event], None], step: str) -> Callable[[str, Transfer], None]:
    """A reporter of per-platform transfers as events: start, progress, then done.

    Called from several threads at once (a copy's or a scan's workers); ``platform`` ""
    is the image's own (a single-platform image, attestations).
    """
    began: dict[str, float] = {}
    finished: set[str] = set()
    lock = threading.Lock()

    def report(platform: str, transfer: Transfer) -> None:
        who = platform or "image"
        now = time.monotonic()
        with lock:
            first = who not in began
            began.setdefault(who, now)
            last = transfer.blobs_done == transfer.blobs and who not in finished
            if last:
                finished.add(who)
        if first:
            emit(Event(step, "start", who))
        emit(Event(step, "progress", who, transfer=transfer))
        if last:
            size = f"{transfer.total / 1e6:.1f} MB in {transfer.blobs} {transfer.unit}"
            emit(Event(step, "done", who, size, now - began[who]))

    return report


@dataclass(frozen=True)
class Event:
    """One thing that happened.

    ``state`` is start, done, failed or stopped (a step, or a platform's part of it), info
    (a line for people), log (a line of a child's output), command (a command started),
    retry (a command run again), failure (a failed build's last lines), plan (``detail``
    the plan, ``outline`` it as data) or progress (``progress``: where a platform's
    BuildKit build is; ``transfer``: how far a platform's copy is). ``step`` is the plan
    step (preflight, qemu-setup, builder, build, merge, verify, sign, promote, mirror) or ""
    outside one; ``platform`` the platform it concerns (a comma list when several), or "";
    ``detail`` the line shown (already redacted); ``elapsed`` seconds, on done and failed.
    """

    step: str
    state: str
    platform: str = ""
    detail: str = ""
    elapsed: float | None = None
    time: float = field(default_factory=time.time)
    outline: Outline | None = None
    progress: BuildProgress | None = None
    transfer: Transfer | None = None

    def to_json(self) -> dict[str, object]:
        """The event as one JSON object (``time`` in seconds since the epoch)."""
        doc: dict[str, object] = {
            "time": round(self.time, 3),
            "step": self.step,
            "platform": self.platform,
            "state": self.state,
        }
        if self.elapsed is not None:
            doc["elapsed"] = round(self.elapsed, 3)
        if self.detail:
            doc["detail"] = self.detail
        if self.outline is not None:
            doc["plan"] = self.outline.to_json()
        if self.progress is not None:
            doc["progress"] = self.progress.to_json()
        if self.transfer is not None:
            doc["transfer"] = self.transfer.to_json()
        return doc


class Sink(Protocol):
    """Where events go; called under the runner's lock, one event at a time."""

    def emit(self, event: Event) -> None:
        """Show ``event``."""
        ...

    def close(self) -> None:
        """The run is over: leave the terminal as it was found."""
        ...


def short_platform(platform: str) -> str:
    """``linux/arm64`` -> ``arm64``, ``linux/arm/v7`` -> ``arm/v7``; other OSes stay whole."""
    return platform.removeprefix("linux/")


_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/v\d+)?$")


def platform_list(prefix: str) -> tuple[str, ...]:
    """The platforms a stream prefix names (``linux/amd64,linux/arm64``), else itself whole.

    Only a comma list of platforms is split: a CI job's name such as
    ``build: [linux/s390x, my-runner]`` is one label, kept on each of its lines.
    """
    parts = tuple(prefix.split(","))
    if len(parts) > 1 and all(_PLATFORM.match(p) for p in parts):
        return parts
    return (prefix,)


def plain_lines(event: Event) -> list[str]:
    """The line(s) :class:`PlainSink` prints for ``event`` (a multi-line detail: several)."""
    # A progress event: the log lines said it already (a live view draws it); a blank line
    # of BuildKit's between steps: under a prefix, only noise.
    if event.state == "progress" or (event.state == "log" and not event.detail.strip()):
        return []
    if event.state in {"plan", "command", "retry", "failure"}:
        return event.detail.split("\n")
    if event.state in {"info", "log"}:
        who = short_platform(event.platform) if event.platform else ""
        if not who and event.state == "log" and event.step:
            who = event.step  # a build's own lines (exporting, pushing): no one platform's
        lines = event.detail.split("\n")
        if not who:
            return lines
        return [f"{who:>{PREFIX_WIDTH}} {BAR} {line}".rstrip() for line in lines]
    took = f" in {event.elapsed:.1f}s" if event.elapsed is not None else ""
    verb = {"start": "started", "done": f"done{took}", "failed": f"FAILED{took}"}.get(
        event.state, event.state
    )
    extra = f": {event.detail}" if event.detail else ""
    if event.platform:
        who = f"{short_platform(event.platform):>{PREFIX_WIDTH}}"
        return [f"{who} {BAR} {event.step} {verb}{extra}"]
    return [f"== {event.step} {verb}{extra}"]


@dataclass
class PlainSink:
    """One line per event on ``out`` (stdout by default): a log for people and CI."""

    out: TextIO

    def emit(self, event: Event) -> None:
        """Print ``event``'s line(s)."""
        if lines := plain_lines(event):
            print("\n".join(lines), file=self.out, flush=True)

    def close(self) -> None:
        """Nothing to restore: every line is printed."""


@dataclass
class JsonSink:
    """One JSON object per event on ``out`` (stderr): ``--progress json``."""

    out: TextIO

    def emit(self, event: Event) -> None:
        """Print ``event`` as one JSON line."""
        print(json.dumps(event.to_json()), file=self.out, flush=True)

    def close(self) -> None:
        """Nothing to restore: every event is printed."""


# `#8 [linux/arm64 2/3] RUN ...`, `#3 [linux/amd64 internal] load metadata ...`, and the
# failure summary's ` > [linux/arm64 2/3] RUN ...:`.
_VERTEX = re.compile(r"^#(?P<n>\d+) (?:\[(?P<platform>[a-z0-9]+/[a-z0-9]+(?:/v\d+)?)[ \]])?")
_SUMMARY = re.compile(r"^\s*> \[(?P<platform>[a-z0-9]+/[a-z0-9]+(?:/v\d+)?)[ \]]")


@dataclass
class PlatformLines:
    """Attributes a multi-platform BuildKit log's lines to the platform each concerns."""

    platforms: tuple[str, ...]
    _vertex: dict[str, str] = field(default_factory=dict)
    _last: str = ""

    def platform(self, line: str) -> str:
        """The platform ``line`` concerns, or "" when it names none (exporting, pushing)."""
        if m := _SUMMARY.match(line):
            found = m.group("platform")
            self._last = found if found in self.platforms else ""
            return self._last
        m = _VERTEX.match(line)
        if m is None:
            # A line of a failure's summary block follows the platform it named; a blank
            # line or `------` ends that block.
            if not line.strip() or line.startswith("-"):
                self._last = ""
            return self._last
        self._last = ""
        found = m.group("platform")
        if found in self.platforms:
            self._vertex[m.group("n")] = found
        return self._vertex.get(m.group("n"), "")
