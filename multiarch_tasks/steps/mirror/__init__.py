"""mirror: copy a multi-arch image, every platform of it, to another registry or repository.

The package's names are those of :mod:`multiarch_tasks.steps.mirror.copy`, re-exported here.
"""

from multiarch_tasks.steps.mirror.copy import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.steps.mirror.copy import __all__ as __all__
