"""The runner: the seam every external program runs through.

It honours invoke's ``--dry`` (print, run nothing, except read-only probes so the printed
plan is true) and ``--echo``, prints commands shell-quoted with secrets redacted and URLs
scrubbed, remembers probes whose answer cannot change, retries, streams a build's output
line by line (held for a CI log group), runs work in parallel, keeps the tail of what a
command printed, and turns failures into :class:`~multiarch_tasks.model.errors.CommandError`.
Processes start and stop in :mod:`multiarch_tasks.engine.process`.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO, TypeVar, cast

from multiarch_tasks.engine.buildkit_json import RawJson
from multiarch_tasks.engine.process import (
    CHILDREN,
    Process,
    interruptible,
    kill_group,
    start,
    which,
)
from multiarch_tasks.engine.progress import (
    Event,
    PlainSink,
    PlatformLines,
    Sink,
    plain_lines,
    platform_list,
)
from multiarch_tasks.model.errors import CommandError
from multiarch_tasks.model.redaction import scrub_text

# CHILDREN, interruptible and which live in engine.process; they stay importable from here.
__all__ = [
    "CHILDREN",
    "REDACTED",
    "TAIL_LINES",
    "Probe",
    "Result",
    "Runner",
    "display",
    "interruptible",
    "redact",
    "redact_data",
    "redact_text",
    "which",
]

# subprocess, shlex and concurrent.futures are imported where used: a command that starts
# no process (inspect, verify) need not load them.

T = TypeVar("T")
R = TypeVar("R")

REDACTED = "***"
TAIL_LINES = 30
TAIL_KEPT = 200  # lines of a streamed run's output its result holds
# Options whose next argv element is a secret, in the CLIs we drive.
_SECRET_OPTIONS = frozenset(
    {"--password", "-p", "--creds", "--src-creds", "--dest-creds", "--registry-token", "--token"}
)
# Options whose value is `K=SECRET`, where only the part after "=" is hidden.
_SECRET_ASSIGN_PREFIXES = ("--password=", "--creds=", "--src-creds=", "--dest-creds=")


def _hidden(secrets: Iterable[str]) -> list[str]:
    # Longest first, so a secret that contains another is hidden whole.
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def redact(argv: Sequence[str], secrets: Iterable[str] = ()) -> list[str]:
    """Return ``argv`` for display: secret values replaced by ``***``, URLs scrubbed.

    A secret is hidden wherever it appears in an element (``--build-arg K=SECRET``); URLs
    lose ``user:password@`` and token-like query parameters; a secret-looking name's value
    (``API_TOKEN=x``) is masked even when nobody named it a secret.
    """
    hidden = _hidden(secrets)
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
        out.append(scrub_text(shown))
    return out


def redact_text(text: str, secrets: Iterable[str] = (), *, urls: bool = True) -> str:
    """Hide every occurrence of each secret in ``text``.

    With ``urls`` (for anything shown or written) also scrub its URLs and mask the values
    of secret-looking ``NAME=value`` pairs.
    """
    for secret in _hidden(secrets):
        text = text.replace(secret, REDACTED)
    return scrub_text(text) if urls else text


def redact_data(data: T, secrets: Iterable[str] = ()) -> T:
    """``data`` (dicts, lists, strings) with every string redacted, keys included.

    Each string goes through :func:`redact_text`: what ``--json``, CI summaries and the
    files a task writes get, the same rules as every printed line.
    """
    hidden = _hidden(secrets)

    def walk(value: object) -> object:
        if isinstance(value, str):
            return redact_text(value, hidden)
        if isinstance(value, Mapping):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, tuple):
            return tuple(walk(v) for v in value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return cast("T", walk(data))


def display(argv: Sequence[str], secrets: Iterable[str] = ()) -> str:
    """Shell-quoted, redacted command line, as a user could paste it."""
    import shlex  # noqa: PLC0415

    return shlex.join(redact(argv, secrets))


@dataclass(frozen=True)
class Result:
    """What a finished command left behind (stdout/stderr already redacted)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    dry: bool = False
    # Lines a streamed run's ``keep`` picked out of its whole output, also those that fell
    # out of the tail: what a retry decision needs from early in a long log.
    kept: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the command exited 0 (or did not run because of ``--dry``)."""
        return self.returncode == 0


class _Logs:
    """The full log of every child process of a run, one file per step or platform.

    Shared by a runner and its copies: a file is truncated the first time this run writes
    it, appended to afterwards (a retried build's attempts, the probes of one step).
    """

    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)
        self._lock = threading.Lock()
        self._written: set[str] = set()

    def path(self, name: str) -> Path:
        """Where the log called ``name`` goes."""
        return self.dir / f"{_slug(name)}.log"

    def open(self, name: str) -> IO[str]:
        """``name``'s file, opened for this run (truncated on its first use)."""
        path = self.path(name)
        with self._lock:
            first = path.name not in self._written
            self._written.add(path.name)
            self.dir.mkdir(parents=True, exist_ok=True)
        return path.open("w" if first else "a", encoding="utf-8")


def _slug(name: str) -> str:
    # `build linux/arm/v7` -> `build-linux-arm-v7`: a file name, still readable.
    import re  # noqa: PLC0415

    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-") or "run"


@dataclass
class Runner:
    """Runs argv lists; configured from invoke's ``c.config.run`` by the tasks.

    ``secrets`` are values never to print; ``out`` is where echoed commands and streamed
    output go (stdout by default). Everything shown goes as an :class:`Event` through one
    ``sink`` (plain lines on ``out`` when none is given); ``step`` names the plan step a
    copy of the runner works for (:meth:`stage`); with a log directory
    (:meth:`logging_to`) each child process's whole output is also written there.
    """

    dry: bool = False
    echo: bool = False
    echo_format: str = "{command}"
    secrets: tuple[str, ...] = ()
    out: TextIO = field(default_factory=lambda: sys.stdout)
    ci: str = ""  # "github" / "gitlab", for the task's summary and annotations
    # In CI, each streamed command's log is held and handed here at its end (title, lines)
    # for the CI's collapsible group (multiarch_tasks.ci.output.group): concurrent builds
    # would otherwise interleave inside one group.
    group_log: Callable[[str, list[str]], list[str]] | None = None
    retry_delay: float = 1.0
    sink: Sink | None = None
    step: str = ""
    _logs: _Logs | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _facts: dict[tuple[str, ...], Result] = field(default_factory=dict, repr=False)
    # Commands a printed plan showed already: a streamed one is not echoed again (issue 18).
    _shown: set[tuple[str, ...]] = field(default_factory=set, repr=False)

    def with_secrets(self, *secrets: str) -> Runner:
        """Return a runner that also hides ``secrets`` (same output, lock and probe memo).

        A shallow copy: a subclass keeps its type and state (a recording runner its log).
        """
        other = copy.copy(self)
        other.secrets = tuple(dict.fromkeys([*self.secrets, *filter(None, secrets)]))
        return other

    def redact(self, text: str) -> str:
        """``text`` with this runner's secrets hidden and URLs scrubbed, for any print."""
        return redact_text(text, self.secrets)

    def redact_data(self, data: T) -> T:
        """A JSON-like document with this runner's secrets hidden in every string."""
        return redact_data(data, self.secrets)

    def display(self, argv: Sequence[str]) -> str:
        """The redacted, shell-quoted form of ``argv``."""
        return display(argv, self.secrets)

    def say(self, line: str) -> None:
        """Print one line of progress (thread-safe, redacted)."""
        self.emit(Event(self.step, "info", detail=redact_text(line, self.secrets)))

    def emit(self, event: Event) -> None:
        """Hand ``event`` (its detail already redacted) to the sink, one at a time."""
        with self._lock:
            (self.sink or PlainSink(self.out)).emit(event)

    def at_step(self, step: str) -> Runner:
        """A runner whose lines and logs belong to plan step ``step``."""
        other = copy.copy(self)
        other.step = step
        return other

    @contextmanager
    def stage(self, step: str, platform: str = "") -> Iterator[Runner]:
        """Emit ``step``'s start, then its end (done, or failed on an error) with the time.

        Yields the runner of that step (:meth:`at_step`).
        """
        began = time.monotonic()
        self.emit(Event(step, "start", platform))
        try:
            yield self.at_step(step)
        except BaseException:
            self.emit(Event(step, "failed", platform, elapsed=time.monotonic() - began))
            raise
        self.emit(Event(step, "done", platform, elapsed=time.monotonic() - began))

    def logging_to(self, directory: str | Path) -> Runner:
        """A runner that also writes every child's output under ``directory`` (redacted)."""
        other = copy.copy(self)
        other._logs = _Logs(str(directory))  # noqa: SLF001 - a copy of our own type
        return other

    def log_path(self, name: str) -> str:
        """Where the log called ``name`` is written ("" without a log directory)."""
        return str(self._logs.path(name)) if self._logs is not None else ""

    def log_text(self, name: str, text: str) -> None:
        """Write ``text`` (already redacted) as the log called ``name``, if logs are kept."""
        if self._logs is not None:
            with self._logs.open(name) as f:
                f.write(text.rstrip("\n") + "\n")

    def _log_name(self, label: str, log: str) -> str:
        # Before any step: the probes that gather the facts.
        return log or label or self.step or "facts"

    def _write_log(self, name: str, argv: Sequence[str], result: Result) -> None:
        if self._logs is None:
            return
        with self._logs.open(name) as f:
            f.write(f"$ {self.display(argv)}\n")
            for text in (result.stdout, result.stderr):
                if text:
                    f.write(redact_text(text, self.secrets).rstrip("\n") + "\n")
            f.write(f"(exit {result.returncode})\n")

    def shown(self, commands: Iterable[Sequence[str]]) -> None:
        """Note ``commands`` as printed already (in a plan): they start without an echo."""
        self._shown.update(tuple(str(a) for a in argv) for argv in commands)

    def _said_command(self, argv: Sequence[str]) -> None:
        if not self.echo and not self.dry and tuple(argv) in self._shown:
            return
        line = self.echo_format.format(command=self.display(argv))
        self.emit(Event(self.step, "command", detail=redact_text(line, self.secrets)))

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
        retry_if: Callable[[Result], bool | str] | None = None,
        keep: Callable[[str], bool] | None = None,
        log: str = "",
        buildkit_json: bool = False,
        watch: Callable[[str], None] | None = None,
    ) -> Result:
        """Run ``argv``; raise :class:`CommandError` on failure when ``check``.

        ``probe`` marks a read-only command that runs even under ``--dry``; ``memo`` (a
        probe whose answer cannot change during one task: tool versions, daemon up, git
        revision) runs it once per runner and hands out the same result afterwards;
        ``stream_prefix`` prints each output line as it arrives, prefixed (parallel builds);
        ``retries`` re-runs a failed command with exponential backoff (only the failures
        ``retry_if`` accepts, when given: transient registry errors, not build errors; a
        string it returns is the cause the retry line names); ``keep`` picks the lines of a
        streamed run's output to hold beyond its tail (:attr:`Result.kept`); ``log`` names
        its log file (default: ``label``, else the step); ``buildkit_json`` says a streamed
        command prints BuildKit's ``--progress=rawjson`` (:class:`RawJson` reads it);
        ``watch`` hears each line of the output (stderr merged in) as it comes, and then
        says what matters itself: the lines go to the log file only (skopeo's progress).
        """
        argv = [str(a) for a in argv]
        if not argv:
            msg = "empty command"
            raise ValueError(msg)
        if self.dry and not probe:
            self._said_command(argv)
            return Result(tuple(argv), 0, "", "", dry=True)
        known = self._facts.get(tuple(argv)) if memo and probe else None
        if known is not None:
            return self._checked(known, check, label)
        if self.echo or (stream_prefix is not None and not probe):
            self._said_command(argv)
        attempt = 0
        while True:
            result = self._run_once(
                argv,
                env,
                cwd,
                timeout,
                stream_prefix,
                stdin,
                keep,
                self._log_name(label, log),
                buildkit_json=buildkit_json,
                watch=watch,
            )
            if result.ok or attempt >= retries:
                break
            verdict = True if retry_if is None else retry_if(result)
            if not verdict:
                break
            attempt += 1
            delay = self.retry_delay * 2 ** (attempt - 1)
            why = (
                verdict if isinstance(verdict, str) else _last_line(result.stderr or result.stdout)
            )
            # One line: the step (its label, else the command), the attempt, the cause.
            step = f" {label}" if label else ""
            where = "" if label else f": {self.display(argv)}"
            line = f"retrying in {delay:g}s ({attempt}/{retries}){step} after: {why}{where}"
            # On the row of the platforms it builds, in a live view.
            platforms = ",".join(platform_list(stream_prefix)) if stream_prefix else ""
            self.emit(Event(self.step, "retry", platforms, redact_text(line, self.secrets)))
            time.sleep(delay)
        if memo and probe:
            self._remember(result)
        return self._checked(result, check, label)

    def _checked(self, result: Result, check: bool, label: str) -> Result:
        argv = list(result.argv)
        if check and not result.ok:
            tail = "\n".join((result.stderr or result.stdout).splitlines()[-TAIL_LINES:])
            tail = redact_text(tail, self.secrets)
            raise CommandError(
                redact(argv, self.secrets),
                None if result.returncode < 0 else result.returncode,
                tail,
                label=label,
            )
        return result

    def start_probe(self, argv: Sequence[str], *, timeout: float | None = None) -> Probe:
        """Start a read-only probe now and hand back its handle; :meth:`Probe.wait` reads it.

        What ``run(argv, probe=True, memo=True, check=False)`` does, split in two: the
        process starts on the calling thread, at once, so several probes run side by side
        without a thread each competing to start them.
        """
        argv = [str(a) for a in argv]
        known = self._facts.get(tuple(argv))
        if known is not None:
            return Probe(known.argv, lambda: known)
        if self.echo:
            self.say(self.echo_format.format(command=self.display(argv)))
        proc = self._spawn(argv, None, None)

        def finish() -> Result:
            result = self._collect(proc, argv, timeout, None)
            self._remember(result)
            self._write_log(self._log_name("", ""), argv, result)
            return result

        return Probe(tuple(argv), finish)

    def _spawn(self, argv: list[str], env: Mapping[str, str] | None, cwd: str | None) -> Process:
        """Start ``argv`` with its output captured; tracked until collected."""
        return start(argv, env, cwd)

    def _collect(
        self, proc: Process, argv: Sequence[str], timeout: float | None, stdin: str | None
    ) -> Result:
        """Wait for a process :meth:`_spawn` started; what it printed, secrets hidden.

        On a timeout the whole process group is killed: a grandchild holding the pipes
        would otherwise keep the wait (and itself) going.
        """
        from subprocess import TimeoutExpired  # noqa: PLC0415

        try:
            out, errout = proc.communicate(stdin, timeout=timeout)
        except TimeoutExpired:
            kill_group(proc)
            out, errout = proc.communicate()
            return Result(tuple(argv), -1, self._clean(out), self._clean(errout) + "\n(timed out)")
        finally:
            CHILDREN.discard(proc)
        return Result(tuple(argv), proc.wait(), self._clean(out), self._clean(errout))

    def _remember(self, result: Result) -> None:
        with self._lock:
            self._facts[result.argv] = result

    def _run_once(
        self,
        argv: list[str],
        env: Mapping[str, str] | None,
        cwd: str | None,
        timeout: float | None,
        stream_prefix: str | None,
        stdin: str | None,
        keep: Callable[[str], bool] | None = None,
        log: str = "",
        *,
        buildkit_json: bool = False,
        watch: Callable[[str], None] | None = None,
    ) -> Result:
        if stream_prefix is None and watch is None:
            result = self._collect(self._spawn(argv, env, cwd), argv, timeout, stdin)
            self._write_log(log or "facts", argv, result)
            return result
        return self._stream(
            argv, env, cwd, timeout, stream_prefix or "", keep, log, buildkit_json, watch
        )

    def _stream(
        self,
        argv: list[str],
        env: Mapping[str, str] | None,
        cwd: str | None,
        timeout: float | None,
        prefix: str,
        keep: Callable[[str], bool] | None = None,
        log: str = "",
        buildkit_json: bool = False,
        watch: Callable[[str], None] | None = None,
    ) -> Result:
        """Run ``argv`` showing each line (stderr merged in) as it arrives, as a log event.

        ``prefix`` is the platform (or comma list of platforms) the command builds: each
        line is attributed to the one it concerns (:class:`PlatformLines`). With a log
        directory, every line also goes to the file ``log`` names, and in a build of
        several platforms, each platform's own lines to ``build-<platform>.log``. The
        result holds the last :data:`TAIL_KEPT` lines, and (``keep``) up to as many of the
        lines ``keep`` picked from the whole output. With ``buildkit_json`` the output is
        BuildKit's JSON: read as plain lines, each platform's progress said as an event.
        With ``watch`` each line is handed to it instead of shown (it is still logged).
        """
        proc = start(argv, env, cwd, merge_stderr=True)
        assert proc.stdin is not None  # noqa: S101 - opened as a pipe by start()
        assert proc.stdout is not None  # noqa: S101
        proc.stdin.close()
        # The group, not the child: its output ends only when everything it started is gone.
        timer = threading.Timer(timeout, kill_group, (proc,)) if timeout else None
        if timer:
            timer.start()
        tail: deque[str] = deque(maxlen=TAIL_KEPT)
        kept: deque[str] = deque(maxlen=TAIL_KEPT)
        held: list[str] | None = [] if self.group_log and watch is None else None
        platforms = platform_list(prefix)
        lines = PlatformLines(platforms) if len(platforms) > 1 else None
        files = _StreamLogs(self, log or prefix, platforms if lines else ())
        reader = RawJson(platforms[0] if len(platforms) == 1 else "") if buildkit_json else None
        deliver = self._deliverer(watch, held)
        try:
            files.command(argv)
            for raw in proc.stdout:
                found, moved = reader.feed(raw.rstrip("\n")) if reader else ([raw.rstrip("\n")], {})
                for text in found:
                    clean = self._clean(text)
                    tail.append(clean)
                    if keep is not None and keep(clean):
                        kept.append(clean)
                    platform = lines.platform(clean) if lines is not None else prefix
                    shown = redact_text(clean, self.secrets)
                    files.line(shown, platform)
                    deliver(Event(self.step or "build", "log", platform, shown), clean)
                for platform, progress in moved.items():
                    if platform in platforms:
                        self.emit(
                            Event(self.step or "build", "progress", platform, progress=progress)
                        )
            returncode = proc.wait()
        finally:
            if timer:
                timer.cancel()
            proc.stdout.close()
            CHILDREN.discard(proc)
            files.close(proc.returncode)
            if held is not None and self.group_log is not None:
                status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
                self.say("\n".join(self.group_log(f"{prefix}: {status}", held)))
        text = "\n".join(tail)
        return Result(tuple(argv), returncode, text, text, kept=tuple(kept))

    def _deliverer(
        self, watch: Callable[[str], None] | None, held: list[str] | None
    ) -> Callable[[Event, str], None]:
        """Where a streamed line goes: ``watch``, else held for a CI log group, else shown."""
        if watch is not None:
            return lambda _event, clean: watch(clean)
        if held is not None:
            return lambda event, _clean: held.extend(plain_lines(event))
        return lambda event, _clean: self.emit(event)

    def _clean(self, text: str | None) -> str:
        # Captured output is data (a probe's answer may hold ssh://user@host endpoints), so
        # only the secrets go here; URLs are scrubbed where text is printed or raised.
        return redact_text(text or "", self.secrets, urls=False)

    def map_parallel(
        self, func: Callable[[T], R], items: Sequence[T], jobs: int | None = None
    ) -> list[R | BaseException]:
        """Call ``func`` on each item concurrently; each result or what it raised, in order.

        On worker threads only: the calling thread waits, so a signal handler's exception
        (:func:`interruptible`) reaches it, not one of the items. What a worker raised is
        handed back, a ``KeyboardInterrupt`` as much as a :class:`CommandError`.
        """
        if not items:
            return []
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        pool = ThreadPoolExecutor(max(1, min(jobs or len(items), len(items))))
        try:
            futures = [pool.submit(func, item) for item in items]
            done = [(f.exception(), f) for f in futures]
        except BaseException:
            # Interrupted while waiting: the items not started yet never start.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return [err if err is not None else f.result() for err, f in done]


class _StreamLogs:
    """The log files one streamed command writes: its own, and one per platform it names."""

    def __init__(self, runner: Runner, name: str, platforms: tuple[str, ...]) -> None:
        self.runner = runner
        logs = runner._logs  # noqa: SLF001 - the runner's own helper
        self.whole = logs.open(name) if logs is not None else None
        self.each: dict[str, IO[str]] = {}
        if logs is not None:
            self.each = {p: logs.open(f"build {p}") for p in platforms}

    def command(self, argv: Sequence[str]) -> None:
        for f in [self.whole, *self.each.values()]:
            if f is not None:
                f.write(f"$ {self.runner.display(argv)}\n")

    def line(self, text: str, platform: str) -> None:
        if self.whole is not None:
            self.whole.write(text + "\n")
        if platform in self.each:
            self.each[platform].write(text + "\n")

    def close(self, returncode: int | None) -> None:
        for f in [self.whole, *self.each.values()]:
            if f is not None:
                f.write(f"(exit {returncode})\n")
                f.close()


class Probe:
    """A probe :meth:`Runner.start_probe` started; :meth:`wait` collects it, once."""

    def __init__(self, argv: tuple[str, ...], finish: Callable[[], Result]) -> None:
        self.argv = argv
        self._finish = finish
        self._result: Result | None = None

    def wait(self) -> Result:
        """Its result, once it exited (at once when it was known already)."""
        if self._result is None:
            self._result = self._finish()
        return self._result


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
