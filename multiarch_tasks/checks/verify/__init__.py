"""Prove that every platform of a published image is what its index claims.

The package's names are those of :mod:`multiarch_tasks.checks.verify.check`, re-exported here.
"""

from multiarch_tasks.checks.verify.check import (
    EXEC_FORMAT_ERROR,
    RUN_TIMEOUT,
    AttestationCheck,
    PlatformCheck,
    VerifyReport,
    config_problem,
    short,
    verify,
)

__all__ = [
    "EXEC_FORMAT_ERROR",
    "RUN_TIMEOUT",
    "AttestationCheck",
    "PlatformCheck",
    "VerifyReport",
    "config_problem",
    "short",
    "verify",
]
