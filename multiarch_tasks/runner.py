"""The one place that starts processes.

Every external program runs here, from an argv list, without a shell, through plumbum
(looked up at the last moment: ``local["docker"]`` raises when docker is absent, so no
command object exists at import time). The runner honours invoke's ``--dry`` (print, run
nothing, except read-only probes so the printed plan is true) and ``--echo``, prints
commands shell-quoted with secrets redacted, keeps the tail of what a command printed, and
turns failures into :class:`~multiarch_tasks.errors.CommandError`.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from subprocess import PIPE, STDOUT, Popen, TimeoutExpired
from typing import Any, TextIO, TypeVar

from multiarch_tasks.errors import CommandError, ToolMissingError

T = TypeVar("T")
R = TypeVar("R")

REDACTED = "***"
TAIL_LINES = 30
# Options whose next argv element is a secret, in the CLIs we drive.
_SECRET_OPTIONS = frozenset(
    {"--password", "-p", "--creds", "--src-creds", "--dest-creds", "--registry-token", "--token"}
)
# Options whose value is `K=SECRET`, where only the part after "=" is hidden.
_SECRET_ASSIGN_PREFIXES = ("--password=", "--creds=", "--src-creds=", "--dest-creds=")


def redact(argv: Sequence[str], secrets: Iterable[str] = ()) -> list[str]:
    """Return ``argv`` with secret values replaced by ``***`` for display."""
    hidden = [s for s in secrets if s]
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        shown = arg
        for prefix in _SECRET_ASSIGN_PREFIXES:
            if shown.startswith(prefix):
                shown = prefix + REDACTED
        for secret in hidden:
            shown = shown.replace(secret, REDACTED)
        hide_next = arg in _SECRET_OPTIONS
        out.append(shown)
    return out


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide every occurrence of each secret in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def display(argv: Sequence[str], secrets: Iterable[str] = ()) -> str:
    """Shell-quoted, redacted command line, as a user could paste it."""
    return shlex.join(redact(argv, secrets))


@dataclass(frozen=True)
class Result:
    """What a finished command left behind (stdout/stderr already redacted)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    dry: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited 0 (or did not run because of ``--dry``)."""
        return self.returncode == 0


@dataclass
class Runner:
    """Runs argv lists; configured from invoke's ``c.config.run`` by the tasks.

    ``secrets`` are values never to print; ``out`` is where echoed commands and streamed
    output go (stdout by default).
    """

    dry: bool = False
    echo: bool = False
    echo_format: str = "{command}"
    secrets: tuple[str, ...] = ()
    out: TextIO = field(default_factory=lambda: sys.stdout)
    retry_delay: float = 1.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _facts: dict[tuple[str, ...], Result] = field(default_factory=dict, repr=False)

    def with_secrets(self, *secrets: str) -> Runner:
        """Return a runner that also hides ``secrets``."""
        return Runner(
            dry=self.dry,
            echo=self.echo,
            echo_format=self.echo_format,
            secrets=tuple({*self.secrets, *(s for s in secrets if s)}),
            out=self.out,
            retry_delay=self.retry_delay,
        )

    def display(self, argv: Sequence[str]) -> str:
        """The redacted, shell-quoted form of ``argv``."""
        return display(argv, self.secrets)

    def say(self, line: str) -> None:
        """Print one line of progress (thread-safe, redacted)."""
        with self._lock:
            print(redact_text(line, self.secrets), file=self.out, flush=True)

    def run(
        self,
        argv: Sequence[str],
        *,
        probe: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        stream_prefix: str | None = None,
        stdin: str | None = None,
        check: bool = True,
        label: str = "",
        memo: bool = False,
    ) -> Result:
        """Run ``argv``; raise :class:`CommandError` on failure when ``check``.

        ``probe`` marks a read-only command that runs even under ``--dry``; ``memo`` (a
        probe whose answer cannot change during one task: tool versions, daemon up, git
        revision) runs it once per runner and hands out the same result afterwards;
        ``stream_prefix`` prints each output line as it arrives, prefixed (parallel builds);
        ``retries`` re-runs a failed command with exponential backoff.
        """
        argv = [str(a) for a in argv]
        if not argv:
            msg = "empty command"
            raise ValueError(msg)
        if self.dry and not probe:
            self.say(self.echo_format.format(command=self.display(argv)))
            return Result(tuple(argv), 0, "", "", dry=True)
        known = self._facts.get(tuple(argv)) if memo and probe else None
        if known is not None:
            return self._checked(known, check, label)
        if self.echo or (stream_prefix is not None and not probe):
            self.say(self.echo_format.format(command=self.display(argv)))
        attempt = 0
        while True:
            result = self._run_once(argv, env, cwd, timeout, stream_prefix, stdin)
            if result.ok or attempt >= retries:
                break
            attempt += 1
            delay = self.retry_delay * 2 ** (attempt - 1)
            self.say(f"retrying in {delay:g}s ({attempt}/{retries}): {self.display(argv)}")
            time.sleep(delay)
        if memo and probe:
            with self._lock:
                self._facts[tuple(argv)] = result
        return self._checked(result, check, label)

    def _checked(self, result: Result, check: bool, label: str) -> Result:
        argv = list(result.argv)
        if check and not result.ok:
            tail = "\n".join((result.stderr or result.stdout).splitlines()[-TAIL_LINES:])
            raise CommandError(
                redact(argv, self.secrets),
                None if result.returncode < 0 else result.returncode,
                tail,
                label=label,
            )
        return result

    def _run_once(
        self,
        argv: list[str],
        env: Mapping[str, str] | None,
        cwd: str | None,
        timeout: float | None,
        stream_prefix: str | None,
        stdin: str | None,
    ) -> Result:
        # Imported here: plumbum costs ~25 ms, which `multiarch --version` need not pay.
        from plumbum import local  # noqa: PLC0415
        from plumbum.commands.processes import CommandNotFound  # noqa: PLC0415

        try:
            command: Any = local[argv[0]][argv[1:]]
        except CommandNotFound as err:
            raise ToolMissingError(
                f"{argv[0]} is not installed (not found on PATH); scripts/engine-up installs it"
            ) from err
        # plumbum looks up bare names only; a path is taken as is and fails later in Popen.
        if "/" in argv[0] and not shutil.which(argv[0]):
            raise ToolMissingError(f"{argv[0]} is not installed (no such executable file)")
        if env:
            command = command.with_env(**env)
        if cwd:
            command = command.with_cwd(cwd)
        if stream_prefix is None:
            # plumbum returns a subprocess.Popen; its stubs type a narrower object.
            proc: Popen[str] = command.popen(stdin=PIPE, stdout=PIPE, stderr=PIPE, text=True)
            try:
                out, errout = proc.communicate(stdin, timeout=timeout)
            except TimeoutExpired:
                proc.kill()
                out, errout = proc.communicate()
                return Result(
                    tuple(argv), -1, self._clean(out), self._clean(errout) + "\n(timed out)"
                )
            return Result(tuple(argv), proc.returncode, self._clean(out), self._clean(errout))
        return self._stream(command, argv, timeout, stream_prefix)

    def _stream(
        self, command: object, argv: list[str], timeout: float | None, prefix: str
    ) -> Result:
        proc = command.popen(stdin=PIPE, stdout=PIPE, stderr=STDOUT, text=True)  # type: ignore[attr-defined]
        proc.stdin.close()
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        tail: deque[str] = deque(maxlen=200)
        try:
            for line in proc.stdout:
                clean = self._clean(line.rstrip("\n"))
                tail.append(clean)
                self.say(f"[{prefix}] {clean}")
            proc.wait()
        finally:
            if timer:
                timer.cancel()
        text = "\n".join(tail)
        return Result(tuple(argv), proc.returncode, text, text)

    def _clean(self, text: str | None) -> str:
        return redact_text(text or "", self.secrets)

    def map_parallel(
        self, func: Callable[[T], R], items: Sequence[T], jobs: int | None = None
    ) -> list[R | BaseException]:
        """Call ``func`` on each item concurrently; return results or the exception raised."""
        workers = max(1, min(jobs or len(items) or 1, len(items) or 1))

        def guarded(item: T) -> R | BaseException:
            try:
                return func(item)
            except Exception as err:  # noqa: BLE001 - collected and re-raised per item by callers
                return err

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(guarded, items))


def which(program: str) -> str | None:
    """Full path of ``program`` on PATH, or None (no process is started)."""
    return shutil.which(program)
