"""Prove that every platform of a published image is what its index claims.

The package's names are those of :mod:`multiarch_tasks.checks.verify.check`, re-exported here.
"""

from multiarch_tasks.checks.verify.check import *  # noqa: F403 - the entry module's __all__ is the package's
from multiarch_tasks.checks.verify.check import __all__ as __all__
