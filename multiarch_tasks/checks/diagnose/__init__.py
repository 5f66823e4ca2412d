"""Turn a known failure's output into its cause and the exact fix.

The package's names are those of :mod:`multiarch_tasks.checks.diagnose.diagnosis`, re-exported here.
"""

from multiarch_tasks.checks.diagnose.diagnosis import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.checks.diagnose.diagnosis import __all__ as __all__
