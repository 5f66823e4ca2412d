"""lint: the Dockerfile hazards that build fine and ship the wrong architecture.

The package's names are those of :mod:`multiarch_tasks.checks.lint.checker`, re-exported here.
"""

from multiarch_tasks.checks.lint.checker import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.checks.lint.checker import __all__ as __all__
