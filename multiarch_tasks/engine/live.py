"""The live terminal view of a run (issue 18): ``--progress tty``, or ``auto`` on a terminal.

A sink like the plain and JSON ones (:mod:`multiarch_tasks.engine.progress`), drawn with
rich's ``Live`` at the bottom of the terminal: the plan's steps as a checklist (state and
elapsed time), and during the build one row per platform (native or emulated, the node,
elapsed time, done and cached of its BuildKit steps, the current step); a retry on the row
it belongs to; a failed platform's last lines and its log file under its row. The lines
meant for people (a step's result, the verify report) scroll above it; a child's raw output
never shows: it is in the run's log files. On close the last frame stays as the record of
the run, the cursor is shown again, and what is printed next (the result) follows it.

This module imports rich: only the tasks import it, and only when the view is used.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.padding import Padding
from rich.text import Text

from multiarch_tasks.engine.progress import Event, Outline, Transfer, short_platform

if TYPE_CHECKING:
    from multiarch_tasks.engine.buildkit_json import BuildProgress

__all__ = ["LiveView"]

TAIL = 6  # a failed platform's last lines shown under its row
MARKS = {"pending": "·", "running": "▸", "done": "✓", "failed": "✗", "stopped": "-"}
STYLES = {"running": "bold cyan", "done": "green", "failed": "bold red", "stopped": "yellow"}


def took(seconds: float) -> str:
    """``4.2s``, ``1m05s``: an elapsed time, short."""
    if seconds < 60:  # noqa: PLR2004 - a minute
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


@dataclass
class _Row:
    """A plan step or a platform: its state and times."""

    name: str
    summary: str = ""
    state: str = "pending"
    began: float = 0.0
    elapsed: float | None = None
    note: str = ""

    def seconds(self, now: float) -> float | None:
        if self.elapsed is not None:
            return self.elapsed
        return now - self.began if self.state == "running" else None


@dataclass
class _Platform(_Row):
    step: str = "build"  # the step whose row it is drawn under
    mode: str = ""
    node: str = ""
    progress: BuildProgress | None = None
    transfer: Transfer | None = None
    retry: str = ""
    log: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))


class LiveView:
    """A :class:`~multiarch_tasks.engine.progress.Sink` drawing the run on a terminal."""

    def __init__(self, out: TextIO | None = None, *, force: bool = False) -> None:
        self.console = Console(file=out or sys.stderr, force_terminal=force or None)
        self._lock = threading.Lock()
        self._title = ""
        self._steps: dict[str, _Row] = {}
        # A platform has a row under each step that reports on it (build, verify, mirror).
        self._platforms: dict[tuple[str, str], _Platform] = {}
        self._live: Live | None = None
        self._name_w, self._node_w = 7, 8

    def _start(self) -> Live:
        if self._live is None:
            self._live = Live(
                get_renderable=self._frame,
                console=self.console,
                refresh_per_second=4,
                # Other writers (a library's warning) print above the view, not through it.
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.start()
        return self._live

    def emit(self, event: Event) -> None:
        """Take ``event`` into the view; a line for people is printed above it."""
        with self._lock:
            above = self._take(event)
        live = self._start()
        if above:
            live.console.print(Text(above), soft_wrap=False, overflow="fold")

    def close(self) -> None:
        """Draw the last frame, stop, show the cursor again."""
        live, self._live = self._live, None
        if live is not None:
            live.refresh()
            live.stop()
        else:
            self.console.show_cursor(show=True)

    def _take(self, event: Event) -> str:  # noqa: C901, PLR0912 - one branch per kind
        """Update the state from ``event``; return the text to print above the view, if any."""
        if event.state == "plan":
            self._plan(event.outline)
            return "" if event.outline is not None else event.detail
        if event.state in {"log", "command"}:
            # A child's output and the commands: in the log files, not on the screen.
            for each in self._rows(event.platform, event.step):
                each.tail.append(event.detail)
            return ""
        if event.state == "progress":
            for each in self._rows(event.platform, event.step):
                each.progress = event.progress or each.progress
                each.transfer = event.transfer or each.transfer
            return ""
        if event.state == "retry":
            rows = self._rows(event.platform, event.step)
            for each in rows:
                each.retry = event.detail
            return "" if rows else event.detail
        if event.state in {"info", "failure"}:
            return event.detail if event.state == "info" else ""
        row: _Row = (
            self._platform(event.platform, event.step)
            if event.platform
            else self._steps.setdefault(event.step, _Row(event.step))
        )
        if event.state == "start":
            row.state, row.began, row.elapsed = "running", event.time, None
            if event.detail and not isinstance(row, _Platform):
                row.note = event.detail
            elif event.detail and isinstance(row, _Platform) and row.step == "rehearse":
                row.node = event.detail  # the runner label the shard's job asks for
        else:
            row.state = event.state
            row.elapsed = event.elapsed
            if isinstance(row, _Platform) and event.state == "failed":
                row.log = event.detail
        return ""

    def _plan(self, outline: Outline | None) -> None:
        if outline is None:
            return
        self._title = outline.title
        for name, summary in outline.steps:
            self._steps[name] = _Row(name, summary)
        for platform, mode, node in outline.platforms:
            self._platforms["build", platform] = _Platform(
                platform, step="build", mode=mode, node=node
            )

    def _platform(self, platform: str, step: str) -> _Platform:
        step = step or "build"
        return self._platforms.setdefault((step, platform), _Platform(platform, step=step))

    def _rows(self, platforms: str, step: str) -> list[_Platform]:
        return [self._platform(p, step) for p in platforms.split(",") if p]

    def _frame(self) -> Group:
        """The view as it is now (called by rich's refresh thread)."""
        now = time.time()
        with self._lock:
            rows = self._platforms.values()
            # Columns as wide as their widest value: a shard's name is longer than arm64.
            self._name_w = max([7, *(len(short_platform(r.name)) for r in rows)])
            self._node_w = max([7, *(len(r.node) for r in rows)])
            title = Text(self._title, style="bold", no_wrap=True, overflow="ellipsis")
            lines: list[RenderableType] = [title] if self._title else []
            for row in self._steps.values():
                lines.append(self._step_line(row, now))
                for platform in self._platforms.values():
                    if platform.step == row.name:
                        lines += self._platform_lines(platform, now)
            # Rows of a command with no plan (mirror): drawn on their own.
            for platform in self._platforms.values():
                if platform.step not in self._steps:
                    lines += self._platform_lines(platform, now)
        return Group(*lines)

    def _step_line(self, row: _Row, now: float) -> Text:
        seconds = row.seconds(now)
        line = Text(f" {MARKS.get(row.state, '?')} ", style=STYLES.get(row.state, "dim"))
        line.append(f"{row.name:<10} ", style=STYLES.get(row.state, ""))
        line.append(f"{took(seconds) if seconds is not None else '':>7}  ")
        line.append(row.note or row.summary, style="dim")
        line.no_wrap, line.overflow = True, "ellipsis"
        return line

    def _platform_lines(self, row: _Platform, now: float) -> list[RenderableType]:
        if row.transfer is not None:
            return [self._transfer_line(row, row.transfer, now)]
        seconds = row.seconds(now)
        if row.state == "done" and row.progress is not None and row.progress.took:
            # Its own time: in a multi-platform build the native one ends long before.
            seconds = row.progress.took
        line = Text(f"   {MARKS.get(row.state, '?')} ", style=STYLES.get(row.state, "dim"))
        line.append(f"{short_platform(row.name):<{self._name_w}} ", style="bold")
        if row.mode:
            line.append(f"{row.mode:<8} ", style="magenta" if row.mode == "emulated" else "blue")
        line.append(f"{row.node:<{self._node_w}} ")
        line.append(f"{took(seconds) if seconds is not None else '':>7}  ")
        progress = row.progress
        if progress is not None and progress.total:
            line.append(f"{progress.done}/{progress.total} ({progress.cached} cached)  ")
        if row.state == "running" and progress is not None:
            line.append(progress.current)
        elif row.state == "running" and row.step == "rehearse" and row.tail:
            # A rehearsed shard's own last line: what its job is doing now.
            line.append(row.tail[-1].strip(), style="dim")
        elif row.state in {"done", "failed", "stopped"}:
            line.append(row.state, style=STYLES.get(row.state, ""))
        line.no_wrap, line.overflow = True, "ellipsis"
        return [line, *self._below(row)]

    def _below(self, row: _Platform) -> list[RenderableType]:
        """A retry under its row; a failed row's last lines and its log file."""
        lines: list[RenderableType] = []
        if row.retry and row.state == "running":
            lines.append(self._under(f"↻ {row.retry}", "yellow", wrap=True))
        if row.state == "failed":
            # What failed is worth its lines: these wrap at the width, they are not cut.
            lines += [self._under(f"│ {text}", "red", wrap=True) for text in row.tail]
            if row.log:
                lines.append(self._under(f"full log: {row.log}", "bold", wrap=True))
        return lines

    def _transfer_line(self, row: _Platform, transfer: Transfer, now: float) -> Text:
        """``arm64  120.4/300.0 MB  48.2 MB/s  3/5 blobs  2.5s``: a platform's copy."""
        seconds = row.seconds(now) or 0.0
        rate = transfer.done / seconds if seconds > 0 else 0.0
        unit, size = ("MB", 1e6) if transfer.total >= 1e6 else ("kB", 1e3)  # noqa: PLR2004
        per, speed = ("MB", 1e6) if rate >= 1e6 else ("kB", 1e3)  # noqa: PLR2004
        line = Text(f"   {MARKS.get(row.state, '?')} ", style=STYLES.get(row.state, "dim"))
        line.append(f"{short_platform(row.name):<{self._name_w}} ", style="bold")
        if transfer.counted or transfer.done == transfer.total:
            line.append(f"{transfer.done / size:>7.1f}/{transfer.total / size:.1f} {unit}  ")
            line.append(f"{rate / speed:>6.1f} {per}/s  ", style="cyan")
            line.append(f"{transfer.blobs_done}/{transfer.blobs} {transfer.unit}  ")
        else:
            # skopeo tells no bytes until an image is whole: the blobs it has begun.
            line.append(f"{'?':>7}/{transfer.total / size:.1f} {unit}  ")
            line.append(f"{'':>6}        ")
            line.append(f"{transfer.started}/{transfer.blobs} {transfer.unit} begun  ", style="dim")
        line.append(took(seconds))
        line.no_wrap, line.overflow = True, "ellipsis"
        return line

    @staticmethod
    def _under(text: str, style: str, *, wrap: bool = False) -> RenderableType:
        if wrap:
            # Every wrapped line indented alike: still under its row.
            return Padding(Text(text, style=style), (0, 0, 0, 7))
        line = Text(f"       {text}", style=style)
        line.no_wrap, line.overflow = True, "ellipsis"
        return line
