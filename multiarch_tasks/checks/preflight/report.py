"""What preflight found: the base image x platform matrix, the build host, the problems.

:class:`PreflightReport` renders as text (the matrix, then the host, then the problems) and
as JSON (``--json``); :class:`Problem` is one finding with the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multiarch_tasks.model.platforms import Platform, compatible
from multiarch_tasks.planning.decide import NATIVE

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, where, and the command that fixes it."""

    kind: str
    message: str
    severity: str = ERROR
    line: int = 0
    ref: str = ""
    platforms: tuple[str, ...] = ()
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the problem as JSON."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "ref": self.ref,
            "platforms": list(self.platforms),
            "fix": self.fix,
        }


@dataclass(frozen=True)
class BaseCheck:
    """One row of the matrix: an image, where it is used, what it has, what is needed."""

    ref: str
    lines: tuple[int, ...]
    required: tuple[Platform, ...]
    available: tuple[Platform, ...] = ()
    digest: str = ""
    error: str = ""

    @property
    def reachable(self) -> bool:
        """True when the image's manifest could be read."""
        return not self.error

    def has(self, platform: Platform) -> bool:
        """Tell whether the image offers ``platform`` (or one containerd accepts for it)."""
        return any(compatible(platform, p) for p in self.available)

    @property
    def missing(self) -> tuple[Platform, ...]:
        """Required platforms the image lacks (empty when it could not be read)."""
        if not self.reachable:
            return ()
        return tuple(p for p in self.required if not self.has(p))


@dataclass(frozen=True)
class HostCheck:
    """How the build host would run one platform."""

    platform: Platform
    mode: str
    detail: str = ""
    needs_run: bool = True


@dataclass(frozen=True)
class PreflightReport:
    """What preflight found; ``ok`` is False when any problem is an error."""

    dockerfile: str
    platforms: tuple[Platform, ...]
    native: tuple[Platform, ...]
    bases: tuple[BaseCheck, ...] = ()
    host: tuple[HostCheck, ...] = ()
    problems: tuple[Problem, ...] = ()
    columns: tuple[Platform, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings allowed)."""
        return not any(p.severity == ERROR for p in self.problems)

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that fail the check."""
        return tuple(p for p in self.problems if p.severity == ERROR)

    def cell(self, base: BaseCheck, platform: Platform) -> str:
        """One matrix cell: ``ok``, ``MISSING``, ``?`` (unreadable) or ``-`` (not needed)."""
        needed = platform in base.required
        if not base.reachable:
            return "?" if needed else "-"
        if base.has(platform):
            return "ok" if needed else "(ok)"
        return "MISSING" if needed else "-"

    def render(self) -> str:
        """Show the matrix (base image x platform), the build host, then the problems."""
        targets = ", ".join(str(p) for p in self.platforms)
        host = ", ".join(str(p) for p in self.native) or "unknown"
        lines = [f"preflight: {self.dockerfile} for {targets} (native: {host})"]
        if self.bases:
            header = ["base image", "line", *(str(p) for p in self.columns)]
            rows = [
                [b.ref, ",".join(str(n) for n in b.lines), *(self.cell(b, p) for p in self.columns)]
                for b in self.bases
            ]
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
            lines += [
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                for row in [header, *rows]
            ]
        else:
            lines.append("no base images to check (scratch or stages only)")
        if self.host:
            lines.append("build host: " + "; ".join(_host_text(h) for h in self.host))
        lines += [f"{p.severity}: {p.message}" for p in self.problems]
        errors = len(self.errors)
        lines.append("preflight: ok" if self.ok else f"preflight: FAILED ({errors} problem(s))")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON (``--json``)."""
        return {
            "ok": self.ok,
            "dockerfile": self.dockerfile,
            "platforms": [str(p) for p in self.platforms],
            "native": [str(p) for p in self.native],
            "bases": [
                {
                    "ref": b.ref,
                    "lines": list(b.lines),
                    "digest": b.digest,
                    "reachable": b.reachable,
                    "error": b.error,
                    "available": [str(p) for p in b.available],
                    "platforms": {str(p): self.cell(b, p) for p in self.columns},
                }
                for b in self.bases
            ],
            "host": [
                {"platform": str(h.platform), "mode": h.mode, "detail": h.detail,
                 "needed": h.needs_run}
                for h in self.host
            ],
            "problems": [p.to_json() for p in self.problems],
        }  # fmt: skip


def _host_text(check: HostCheck) -> str:
    text = f"{check.platform} {check.mode}"
    if check.detail:
        text += f" ({check.detail})"
    if not check.needs_run and check.mode != NATIVE:
        text += " [no RUN: not needed]"
    return text
