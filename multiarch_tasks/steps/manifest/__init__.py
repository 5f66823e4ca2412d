"""manifest-create / manifest-push / merge: the multi-arch index over the per-arch pushes.

The package's names are those of :mod:`multiarch_tasks.steps.manifest.lists`, re-exported here.
"""

from multiarch_tasks.steps.manifest.lists import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.steps.manifest.lists import __all__ as __all__
