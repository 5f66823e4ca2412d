"""Composable invoke tasks that build, publish and verify multi-architecture images.

``from multiarch_tasks import multiarch`` gives the invoke collection; ``api`` the plain
functions behind it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from multiarch_tasks import api
from multiarch_tasks.platforms import Platform
from multiarch_tasks.reference import ImageRef
from multiarch_tasks.settings import Settings
from multiarch_tasks.tasks import multiarch

try:
    __version__ = version("multiarch-tasks")  # pyproject's, as installed
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
__all__ = ["ImageRef", "Platform", "Settings", "__version__", "api", "multiarch"]
