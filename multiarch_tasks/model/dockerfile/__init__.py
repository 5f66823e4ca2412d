"""Read a Dockerfile far enough to know which images a build pulls, and for which platform.

The package's names are those of :mod:`multiarch_tasks.model.dockerfile.parser`, re-exported here.
"""

from multiarch_tasks.model.dockerfile.parser import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.model.dockerfile.parser import __all__ as __all__
