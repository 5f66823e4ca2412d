"""doctor: is this machine ready to publish multi-arch images, and if not, what to do.

The package's names are those of :mod:`multiarch_tasks.checks.doctor.check`, re-exported here.
"""

from multiarch_tasks.checks.doctor.check import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.checks.doctor.check import __all__ as __all__
