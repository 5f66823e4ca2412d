"""preflight: catch what would fail a multi-arch build minutes in, in a few seconds.

The package's names are those of :mod:`multiarch_tasks.checks.preflight.check`, re-exported here.
"""

from multiarch_tasks.checks.preflight.check import (
    ERROR,
    WARNING,
    BaseCheck,
    HostCheck,
    PreflightReport,
    Problem,
    preflight,
)

__all__ = [
    "ERROR",
    "WARNING",
    "BaseCheck",
    "HostCheck",
    "PreflightReport",
    "Problem",
    "preflight",
]
