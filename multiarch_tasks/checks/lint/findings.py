"""What lint found: the rule names, a :class:`Finding` per hazard, the :class:`LintResult`.

A finding says where, which rule, why it breaks the other platforms and how to fix it;
the result renders as one line per finding and as JSON (``--json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiarch_tasks.model.platforms import Platform
ERROR = "error"
WARNING = "warning"

TARGET_ARG_DEFAULT = "target-arg-default"
ARCH_LITERAL = "arch-literal"
PINNED_PLATFORM = "pinned-platform"
BUILDPLATFORM_FINAL = "buildplatform-final"
COPY_FROM_BUILDPLATFORM = "copy-from-buildplatform"
# Rules whose hazard shows up as foreign ELF programs, which verify --deep can see.
ARCH_RULES = frozenset(
    {TARGET_ARG_DEFAULT, ARCH_LITERAL, PINNED_PLATFORM, BUILDPLATFORM_FINAL,
     COPY_FROM_BUILDPLATFORM}
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One hazard: where, which rule, why it breaks other platforms, how to fix it.

    ``arch`` is the architecture the hazard bakes in when it is known (``amd64`` for
    ``ARG TARGETARCH=amd64``), so verify can tell which finding its scan confirmed.
    """

    rule: str
    severity: str
    line: int
    message: str
    fix: str
    path: str = "Dockerfile"
    arch: str = ""

    @property
    def where(self) -> str:
        """``path:line`` (or the path alone for findings with no line)."""
        return f"{self.path}:{self.line}" if self.line else self.path

    def text(self) -> str:
        """The one-line form: ``path:line: severity [rule] why; fix: ...``."""
        return f"{self.where}: {self.severity} [{self.rule}] {self.message}; fix: {self.fix}"

    def to_json(self) -> dict[str, Any]:
        """Return the finding as JSON."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "arch": self.arch,
        }


@dataclass(frozen=True)
class LintResult:
    """What lint found in one Dockerfile; ``ok`` is False when a finding is an error."""

    dockerfile: str
    platforms: tuple[Platform, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that stop a publish."""
        return tuple(f for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings that are printed, then confirmed or cleared by verify --deep."""
        return tuple(f for f in self.findings if f.severity == WARNING)

    def render(self) -> str:
        """One line per finding, then the verdict."""
        targets = ", ".join(str(p) for p in self.platforms)
        lines = [f"lint: {self.dockerfile} for {targets}"]
        lines += [f.text() for f in self.findings]
        counts = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        if not self.findings:
            lines.append("lint: ok (no hazards found)")
        else:
            lines.append(f"lint: {'ok' if self.ok else 'FAILED'} ({counts})")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON (``--json``)."""
        return {
            "ok": self.ok,
            "dockerfile": self.dockerfile,
            "platforms": [str(p) for p in self.platforms],
            "findings": [f.to_json() for f in self.findings],
        }
