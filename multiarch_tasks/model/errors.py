"""Every error this package raises on purpose.

One tree, rooted at :class:`MultiarchError`; tasks turn it into ``invoke.Exit`` with a
one-line message and exit code 1. Validation errors also subclass ``ValueError`` so
plain Python callers can catch them as such. This module imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence


class MultiarchError(Exception):
    """Base of every error raised by multiarch-tasks on purpose."""


class InvalidValueError(MultiarchError, ValueError):
    """A value given by the user (flag, config key, reference) cannot be used."""


class InvalidPlatformError(InvalidValueError):
    """A platform string names no known OS/architecture."""


class InvalidReferenceError(InvalidValueError):
    """An image reference does not follow the Distribution reference grammar."""


class ConfigError(InvalidValueError):
    """A config key is unknown or its value is invalid; names the key and its source."""

    def __init__(self, key: str, source: str, problem: str) -> None:
        self.key = key
        self.source = source
        self.problem = problem
        super().__init__(f"{key} (from {source}): {problem}")


class ToolMissingError(MultiarchError):
    """A program this step needs is not installed or its daemon is not running."""


class CommandError(MultiarchError):
    """An external command exited non-zero or timed out.

    ``argv`` is the redacted command line; ``stderr_tail`` the last lines it printed.
    """

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr_tail: str,
        *,
        label: str = "",
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.label = label
        what = f"{label}: " if label else ""
        status = "timed out" if returncode is None else f"exited {returncode}"
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no output"
        super().__init__(f"{what}`{argv[0]} {' '.join(argv[1:3])} ...` {status}: {last}")


class RegistryError(MultiarchError):
    """A registry answered with an error, could not be reached, or served bad content."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        self.status = status
        self.url = url
        super().__init__(message)


class RateLimitedError(RegistryError):
    """A registry kept answering 429 Too Many Requests after every retry."""


class DigestMismatchError(RegistryError):
    """Content read from a registry does not hash to the digest it was asked by."""


class BuildFailedError(MultiarchError):
    """One or more per-platform builds failed; carries each platform's log tail."""

    def __init__(self, failures: dict[str, str], logs: tuple[str, ...] = ()) -> None:
        self.failures = dict(failures)
        self.logs = tuple(dict.fromkeys(logs))
        names = ", ".join(sorted(failures))
        where = f"; full log: {', '.join(self.logs)}" if self.logs else ""
        super().__init__(f"build failed for {names}; the final tag was not moved{where}")


class CheckFailedError(MultiarchError):
    """A check (verify, preflight) ran and found problems; the report says which."""


class DockerfileError(InvalidValueError):
    """A Dockerfile is missing or cannot be read; ``path`` and ``line`` say where."""

    def __init__(self, message: str, *, path: str = "", line: int = 0) -> None:
        self.path = path
        self.line = line
        super().__init__(message)


class PlanError(InvalidValueError):
    """The settings ask for what the builder, engine or host cannot do (before any step)."""


class RunInterruptedError(MultiarchError):
    """The run got SIGINT or SIGTERM; ``code`` is the exit code (130 or 143)."""

    def __init__(self, message: str, code: int) -> None:
        self.code = code
        super().__init__(message)
