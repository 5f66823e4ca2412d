"""A real pseudo-terminal for the e2e tests of the live view (issue 18).

pexpect starts the console script on a pty of a given size, as a person's terminal would;
pyte plays every byte it writes on a virtual screen, so a test reads what a person sees
(not the escape codes), snapshots it while the command runs, resizes the terminal
(SIGWINCH) and sends Ctrl-C.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pexpect
import pyte

ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def person_env(**extra: str) -> dict[str, str]:
    """The environment as a person's terminal has it: no CI variables, a colour TERM."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CI", "GITHUB_ACTIONS", "GITLAB_CI", "NO_COLOR", "COLUMNS", "LINES"}
    }
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


class Terminal:
    """``multiarch ARGS`` on a ``cols`` x ``rows`` pty; its screen read through pyte."""

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cols: int = 120,
        rows: int = 50,
    ) -> None:
        program = str(Path(sys.executable).parent / "multiarch")
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.child = pexpect.spawn(
            program, list(args), env=dict(env or person_env()), dimensions=(rows, cols)
        )
        self.snapshots: list[str] = []

    def text(self) -> str:
        """The screen now, one line per row, trailing blanks removed."""
        return "\n".join(line.rstrip() for line in self.screen.display).rstrip("\n")

    def plain(self) -> str:
        """Everything written so far, escape codes removed (lines that scrolled away too)."""
        return ESCAPE.sub(b"", bytes(self.raw)).decode("utf-8", "replace")

    def pump(self, seconds: float) -> bool:
        """Read for ``seconds`` (or until the program ends); False once it ended."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.1)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return False
            self.raw += data
            self.stream.feed(data)
        return True

    def watch(
        self, until: Callable[[str], bool] | None = None, every: float = 0.4, limit: float = 900
    ) -> None:
        """Snapshot the screen every ``every`` seconds until it ends (or ``until`` holds)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            alive = self.pump(every)
            self.snapshots.append(self.text())
            if not alive or (until is not None and until(self.snapshots[-1])):
                return
        msg = f"still running after {limit}s:\n{self.text()}"
        raise AssertionError(msg)

    def resize(self, cols: int, rows: int) -> None:
        """Resize the terminal, as a person dragging its window does (the child gets SIGWINCH)."""
        self.child.setwinsize(rows, cols)
        self.screen.resize(rows, cols)

    def wait(self) -> int:
        """Read to the end; the exit code (128 + N for a signal, as a shell reports it)."""
        while self.pump(1.0):
            pass
        self.child.close()
        if self.child.signalstatus is not None:
            return 128 + int(self.child.signalstatus)
        return int(self.child.exitstatus or 0)

    def cursor_restored(self) -> bool:
        """The cursor was shown again (``ESC[?25h``) after it was last hidden."""
        return self.raw.rfind(b"\x1b[?25h") > self.raw.rfind(b"\x1b[?25l") >= 0
