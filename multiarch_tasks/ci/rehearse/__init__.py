"""ci-rehearse: run a pipeline written by ``ci-template`` on this machine before pushing it.

The package's names are those of :mod:`multiarch_tasks.ci.rehearse.run`, re-exported here.
"""

from multiarch_tasks.ci.rehearse.run import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.ci.rehearse.run import __all__ as __all__
