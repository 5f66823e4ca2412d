"""What doctor found: a :class:`Row` per question, the :class:`DoctorResult` of them all.

A row is ``ok``, ``warn`` (printed with its fix, does not fail) or ``fail``; the result
renders as a table followed by the fixes, and as JSON (``--json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multiarch_tasks.registry.entries import table

OK = "ok"
WARN = "warn"
FAIL = "fail"


@dataclass(frozen=True)
class Row:
    """One check: its name, ``ok``/``warn``/``fail``, what was found, how to fix it."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """Return the row as JSON."""
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class DoctorResult:
    """Every row; ``ok`` is False when one fails."""

    rows: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        """True when no row failed (warnings allowed)."""
        return all(r.status != FAIL for r in self.rows)

    @property
    def failed(self) -> tuple[Row, ...]:
        """The rows that fail."""
        return tuple(r for r in self.rows if r.status == FAIL)

    def row(self, check: str) -> Row | None:
        """The row called ``check``."""
        return next((r for r in self.rows if r.check == check), None)

    def render(self) -> str:
        """A table of the rows, then the fix of each row that is not ok."""
        lines = table(
            ("CHECK", "STATUS", "DETAIL"),
            [(r.check, r.status.upper(), r.detail) for r in self.rows],
        )
        fixes = [f"  {r.check}: {r.fix}" for r in self.rows if r.status != OK and r.fix]
        if fixes:
            lines += ["fixes:", *fixes]
        failed = len(self.failed)
        lines.append("doctor: ok" if self.ok else f"doctor: FAILED ({failed} check(s))")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return ``{"ok", "rows": [{"check", "status", "detail", "fix"}]}``."""
        return {"ok": self.ok, "rows": [r.to_json() for r in self.rows]}
