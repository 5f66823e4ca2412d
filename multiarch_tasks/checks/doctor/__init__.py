"""doctor: is this machine ready to publish multi-arch images, and if not, what to do.

The package's names are those of :mod:`multiarch_tasks.checks.doctor.check`, re-exported here.
"""

from multiarch_tasks.checks.doctor.check import (
    FAIL,
    HTTP_FORBIDDEN,
    HTTP_NOT_FOUND,
    HTTP_UNAUTHORIZED,
    MIN_BUILDX,
    MIN_ENGINE,
    OK,
    WARN,
    DoctorResult,
    Row,
    doctor,
)

__all__ = [
    "FAIL",
    "HTTP_FORBIDDEN",
    "HTTP_NOT_FOUND",
    "HTTP_UNAUTHORIZED",
    "MIN_BUILDX",
    "MIN_ENGINE",
    "OK",
    "WARN",
    "DoctorResult",
    "Row",
    "doctor",
]
