"""Turn a known failure's output into its cause and the exact fix.

The package's names are those of :mod:`multiarch_tasks.checks.diagnose.diagnosis`, re-exported here.
"""

from multiarch_tasks.checks.diagnose.diagnosis import (
    SIGNATURES,
    Context,
    Diagnosis,
    Signature,
    diagnose,
    explain,
    explained,
)

__all__ = [
    "SIGNATURES",
    "Context",
    "Diagnosis",
    "Signature",
    "diagnose",
    "explain",
    "explained",
]
