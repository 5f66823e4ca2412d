"""Composable invoke tasks that build, publish and verify multi-architecture images.

``from multiarch_tasks import multiarch`` gives the invoke collection; ``api`` the plain
functions behind it. Names are imported on first use (PEP 562), so ``multiarch --version``
and ``inspect`` load only what they need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from multiarch_tasks._version import __version__

if TYPE_CHECKING:
    from multiarch_tasks import api
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.tasks import multiarch

__all__ = ["ImageRef", "Platform", "Settings", "__version__", "api", "multiarch"]

_LAZY = {
    "ImageRef": "multiarch_tasks.model.reference",
    "Platform": "multiarch_tasks.model.platforms",
    "Settings": "multiarch_tasks.config.settings",
    "multiarch": "multiarch_tasks.tasks",
}


def __getattr__(name: str) -> Any:
    if name == "api":
        return import_module("multiarch_tasks.api")
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'multiarch_tasks' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
