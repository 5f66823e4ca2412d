"""The plain functions behind the tasks, for Python callers and nox sessions.

Each takes a :class:`~multiarch_tasks.settings.Settings` (see ``settings_from``) and a
:class:`~multiarch_tasks.runner.Runner`, and returns a typed result with ``ok``,
``render()`` and ``to_json()``. Each is imported on first use (PEP 562): ``inspect`` does
not load the build machinery, ``--help`` loads none of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiarch_tasks.build import build
    from multiarch_tasks.builder import builder_create
    from multiarch_tasks.ci import ci_template
    from multiarch_tasks.inspect_image import inspect
    from multiarch_tasks.manifest import (
        manifest_create,
        manifest_push,
        merge,
    )
    from multiarch_tasks.mirror import mirror
    from multiarch_tasks.preflight import preflight
    from multiarch_tasks.publish import publish
    from multiarch_tasks.qemu import qemu_setup
    from multiarch_tasks.runner import Runner
    from multiarch_tasks.settings import Settings, settings_from
    from multiarch_tasks.verify import verify

_WHERE = {
    "Runner": "runner",
    "Settings": "settings",
    "build": "build",
    "builder_create": "builder",
    "ci_template": "ci",
    "inspect": "inspect_image",
    "manifest_create": "manifest",
    "manifest_push": "manifest",
    "merge": "manifest",
    "mirror": "mirror",
    "preflight": "preflight",
    "publish": "publish",
    "qemu_setup": "qemu",
    "settings_from": "settings",
    "verify": "verify",
}
__all__ = [
    "Runner",
    "Settings",
    "build",
    "builder_create",
    "ci_template",
    "inspect",
    "manifest_create",
    "manifest_push",
    "merge",
    "mirror",
    "preflight",
    "publish",
    "qemu_setup",
    "settings_from",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'multiarch_tasks.api' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(f"multiarch_tasks.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
