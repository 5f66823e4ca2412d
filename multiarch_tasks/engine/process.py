"""Starting and stopping processes: plumbum commands, each in a process group of its own.

Every external program starts here, from an argv list, without a shell, as a plumbum
command (``local[program][argv]``) started with ``popen(new_session=True)``. Each child
leads a session (and so a process group) of its own, so a timeout, SIGINT or SIGTERM stops
it together with whatever it started (buildx's helpers, a shell's background jobs).

plumbum is imported at the first process start: ``multiarch --version`` starts none.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, cast

from multiarch_tasks.model.errors import RunInterruptedError, ToolMissingError

if TYPE_CHECKING:
    from plumbum.commands.base import BoundCommand
    from plumbum.machines.local import LocalMachine

# signal, subprocess and shutil are imported where used: a command that starts no process
# (inspect, verify) need not load them.


class Process(Protocol):
    """What the runner uses of a started process (plumbum's Popen forwards all of Popen)."""

    pid: int
    returncode: int | None
    stdin: IO[str] | None
    stdout: IO[str] | None

    def communicate(
        self,
        input: str | None = None,  # noqa: A002 - Popen's own name
        timeout: float | None = None,
    ) -> tuple[str, str]:
        """Feed ``input``, read both pipes to their end, wait: (stdout, stderr)."""
        ...

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit; its return code."""
        ...


class _Children:
    """Every process the runners started and that still runs, by process group.

    A terminal's Ctrl-C reaches only us (the children lead sessions of their own), and we
    pass it on to each group.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: set[Process] = set()
        self.signal = 0  # the signal that interrupted the run, or 0

    def add(self, proc: Process) -> None:
        with self.lock:
            self.live.add(proc)

    def discard(self, proc: Process) -> None:
        with self.lock:
            self.live.discard(proc)

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every child's group, then SIGKILL what is left after ``grace``."""
        import signal  # noqa: PLC0415
        from subprocess import TimeoutExpired  # noqa: PLC0415

        with self.lock:
            procs = list(self.live)
        for proc in procs:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            with suppress(TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        for proc in procs:
            kill_group(proc)


CHILDREN = _Children()


def kill_group(proc: Process) -> None:
    """SIGKILL ``proc``'s process group: the child and everything it started."""
    import signal  # noqa: PLC0415

    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`RunInterruptedError` after stopping every child.

    Only the main thread can own signal handlers; elsewhere this does nothing. No new
    process starts once the run was interrupted.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import signal  # noqa: PLC0415

    def handler(signum: int, _frame: object) -> None:
        first = not CHILDREN.signal
        CHILDREN.signal = signum
        if first:
            CHILDREN.stop_all()
            name = signal.Signals(signum).name
            raise RunInterruptedError(f"interrupted by {name}", 128 + signum)

    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def which(program: str) -> str | None:
    """Full path of ``program`` on PATH, or None (no process is started)."""
    import shutil  # noqa: PLC0415

    return shutil.which(program)


def start(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: str | None,
    *,
    merge_stderr: bool = False,
) -> Process:
    """Start ``argv`` in a session of its own, pipes in text mode; tracked in :data:`CHILDREN`.

    ``env`` adds to (or overrides) this process's environment, and its ``PATH``, when it
    has one, is where ``argv[0]`` is looked up. Raises :class:`ToolMissingError` naming a
    missing program, and :class:`RunInterruptedError` once the run was interrupted.
    """
    from subprocess import PIPE, STDOUT  # noqa: PLC0415

    command = _command(argv, env)
    proc = cast(
        "Process",
        command.popen(
            stdin=PIPE,
            stdout=PIPE,
            stderr=STDOUT if merge_stderr else PIPE,
            text=True,
            errors="replace",
            new_session=True,
            # Always given whole: plumbum would otherwise start from its own copy of the
            # environment, taken when it was imported (a later PATH or DOCKER_HOST missed).
            env={**os.environ, **(env or {})},
            cwd=cwd or str(Path.cwd()),
        ),
    )
    CHILDREN.add(proc)
    return proc


def _command(argv: Sequence[str], env: Mapping[str, str] | None) -> BoundCommand:
    """The plumbum command for ``argv``; nothing starts once the run was interrupted."""
    if CHILDREN.signal:
        import signal  # noqa: PLC0415

        signame = signal.Signals(CHILDREN.signal).name
        raise RunInterruptedError(f"interrupted by {signame}", 128 + CHILDREN.signal)
    local = _local()
    from plumbum.commands.processes import CommandNotFound  # noqa: PLC0415

    name = argv[0]
    try:
        return local[_executable(name, env)][list(argv[1:])]
    except CommandNotFound as err:
        if "/" in name:
            raise ToolMissingError(f"{name} is not installed (no such executable file)") from err
        raise ToolMissingError(
            f"{name} is not installed (not found on PATH); scripts/engine-up installs it"
        ) from err


def _executable(name: str, env: Mapping[str, str] | None) -> str:
    """The file ``name`` runs: a bare name looked up on PATH (the child's, if given), now.

    Not plumbum's ``local.which``: it reads the PATH plumbum copied at its import and
    remembers its answers, where a test or a credential helper sets PATH later.
    """
    import shutil  # noqa: PLC0415

    from plumbum.commands.processes import CommandNotFound  # noqa: PLC0415

    if "/" in name:
        if shutil.which(name) is None:
            raise CommandNotFound(name, [str(Path(name).parent)])
        return name
    path = (env or {}).get("PATH", os.environ.get("PATH", os.defpath))
    found = shutil.which(name, path=path)
    if found is None:
        raise CommandNotFound(name, path.split(os.pathsep))
    return found


@cache
def _local() -> LocalMachine:
    """The plumbum local machine, its debug log of each argv kept quiet.

    argv carries secrets (``--password``), and ``invoke --debug`` turns the root logger to
    DEBUG, which would print them unredacted.
    """
    import logging  # noqa: PLC0415

    from plumbum import local  # noqa: PLC0415

    logging.getLogger("plumbum.local").setLevel(logging.INFO)
    return local
