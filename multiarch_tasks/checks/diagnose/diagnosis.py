"""Turn a known failure's output into its cause and the exact fix.

Every error of this field has a well-known cause users hunt for on the web (``... is a
manifest list``, ``exec format error``, ``no match for platform in manifest``...). The
:data:`SIGNATURES` table maps a regular expression over a failed command's output to a
one-line cause and a fix (a setting, a task or a command). :func:`diagnose` finds the
first signature that matches; :func:`explain` does it for a raised error
(:class:`~multiarch_tasks.model.errors.CommandError`,
:class:`~multiarch_tasks.model.errors.BuildFailedError`).

Pure: text in, a :class:`Diagnosis` out. ``Context`` carries what the caller knows (the
image, the platform being built) so the message can name them. The table itself, and
``Context``, are in :mod:`.signatures` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from multiarch_tasks.checks.diagnose.signatures import SIGNATURES, Context, Signature
from multiarch_tasks.model.errors import (
    BuildFailedError,
    CommandError,
    InvalidPlatformError,
    MultiarchError,
)
from multiarch_tasks.model.platforms import Platform

__all__ = [
    "SIGNATURES",
    "Context",
    "Diagnosis",
    "Signature",
    "diagnose",
    "explain",
    "explained",
]


@dataclass(frozen=True)
class Diagnosis:
    """A matched signature: its id, the cause, the fix; ``message`` is the one-liner."""

    signature: str
    cause: str
    fix: str
    matched: str

    @property
    def message(self) -> str:
        """``cause: fix`` on one line."""
        return f"{self.cause}: {self.fix}"

    def to_json(self) -> dict[str, Any]:
        """Return the diagnosis as JSON."""
        return {
            "signature": self.signature,
            "cause": self.cause,
            "fix": self.fix,
            "matched": self.matched,
        }


def diagnose(text: str, context: Context | None = None) -> Diagnosis | None:
    """Match ``text`` (a failure's output) against :data:`SIGNATURES`; None when unknown.

    The first signature in table order wins: specific ones come before generic ones
    (``Invalid ELF image`` before ``exec format error``).
    """
    ctx = context or Context()
    for signature in SIGNATURES:
        match = signature.pattern.search(text)
        if match:
            cause, fix = signature.explain(match, ctx)
            return Diagnosis(signature.id, cause, fix, match.group(0))
    return None


def explain(err: MultiarchError, context: Context | None = None) -> Diagnosis | None:
    """Diagnose a raised error from what the command printed (and its message)."""
    ctx = context or Context()
    if isinstance(err, BuildFailedError):
        for platform, tail in sorted(err.failures.items()):
            found = diagnose(tail, Context(ctx.image, platform, ctx.platforms, ctx.step))
            if found is not None:
                return found
        return None
    text = str(err)
    if isinstance(err, CommandError):
        text = f"{err.stderr_tail}\n{text}"
        if not ctx.platform:
            ctx = replace(ctx, platform=_platform_of(err))
    return diagnose(text, ctx)


def _platform_of(err: CommandError) -> str:
    """The one platform a failed command was for: its ``--platform`` value or its label."""
    argv = err.argv
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--platform"]
    values += [a.split("=", 1)[1] for a in argv if a.startswith("--platform=")]
    candidates = [v for v in values if "," not in v] + err.label.split()[-1:]
    for candidate in candidates:
        try:
            return str(Platform.parse(candidate))
        except InvalidPlatformError:
            continue
    return ""


def explained(err: MultiarchError, context: Context | None = None) -> str:
    """``str(err)``, followed by ``; cause: fix`` when a signature matches."""
    found = explain(err, context)
    return f"{err}; {found.message}" if found is not None else str(err)
