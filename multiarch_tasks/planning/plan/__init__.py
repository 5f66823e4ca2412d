"""The plan: a pure function of (settings, facts) -> typed steps with their argv.

The package's names are those of :mod:`multiarch_tasks.planning.plan.make`, re-exported here.
"""

from multiarch_tasks.planning.plan.make import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.planning.plan.make import __all__ as __all__
