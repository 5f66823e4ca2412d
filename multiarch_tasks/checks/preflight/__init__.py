"""preflight: catch what would fail a multi-arch build minutes in, in a few seconds.

The package's names are those of :mod:`multiarch_tasks.checks.preflight.check`, re-exported here.
"""

from multiarch_tasks.checks.preflight.check import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.checks.preflight.check import __all__ as __all__
