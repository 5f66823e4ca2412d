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
    """``multiarch ARGS`` on a ``cols`` x ``rows`` pty; its screen read through pyte.

    ``program`` runs another console script of this environment (``inv``), in ``cwd``.
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cols: int = 120,
        rows: int = 50,
        program: str = "multiarch",
        cwd: str | Path | None = None,
    ) -> None:
        path = str(Path(sys.executable).parent / program)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.child = pexpect.spawn(
            path,
            list(args),
            env=dict(env or person_env()),
            dimensions=(rows, cols),
            cwd=str(cwd) if cwd else None,
        )
        self.snapshots: list[str] = []
        self.began = time.monotonic()
        self.ended: float | None = None  # when its output ended (pexpect's close waits more)

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
                if self.ended is None:
                    self.ended = time.monotonic()
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


def timed_on_pty(
    argv: list[str], env: Mapping[str, str] | None = None, cols: int = 120, rows: int = 50
) -> tuple[int, bytes, float, float, int]:
    """Run ``argv`` with a pty as its terminal; (exit code, output, wall s, CPU s, RSS KiB).

    Its own rusage (``wait4``: user + system seconds, peak RSS), as the benches take it for
    a piped run, so a run on a terminal and a piped one compare alike.
    """
    import fcntl  # noqa: PLC0415
    import pty  # noqa: PLC0415
    import struct  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import termios  # noqa: PLC0415
    import threading  # noqa: PLC0415

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = bytearray()

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed its end
                return
            if not data:
                return
            out.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=dict(env or person_env()),
        start_new_session=True,
    )
    os.close(slave)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    os.close(master)
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, bytes(out), wall, cpu, usage.ru_maxrss
