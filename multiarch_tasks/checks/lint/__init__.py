"""lint: the Dockerfile hazards that build fine and ship the wrong architecture.

The package's names are those of :mod:`multiarch_tasks.checks.lint.checker`, re-exported here.
"""

from multiarch_tasks.checks.lint.checker import (
    ARCH_LITERAL,
    ARCH_RULES,
    BUILDPLATFORM_FINAL,
    COPY_FROM_BUILDPLATFORM,
    ERROR,
    PINNED_PLATFORM,
    TARGET_ARG_DEFAULT,
    WARNING,
    Finding,
    LintResult,
    check,
    confirmed_by,
    lint,
)

__all__ = [
    "ARCH_LITERAL",
    "ARCH_RULES",
    "BUILDPLATFORM_FINAL",
    "COPY_FROM_BUILDPLATFORM",
    "ERROR",
    "PINNED_PLATFORM",
    "TARGET_ARG_DEFAULT",
    "WARNING",
    "Finding",
    "LintResult",
    "check",
    "confirmed_by",
    "lint",
]
