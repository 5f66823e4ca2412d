"""The plain functions behind the tasks, for Python callers and nox sessions.

Each takes a :class:`~multiarch_tasks.settings.Settings` (see ``settings_from``) and a
:class:`~multiarch_tasks.runner.Runner`, and returns a typed result with ``ok``,
``render()`` and ``to_json()``.
"""

from __future__ import annotations

from multiarch_tasks.build import build
from multiarch_tasks.builder import builder_create
from multiarch_tasks.ci import ci_template
from multiarch_tasks.doctor import doctor
from multiarch_tasks.inspect_image import inspect
from multiarch_tasks.lint import lint
from multiarch_tasks.manifest import manifest_create, manifest_push, merge
from multiarch_tasks.mirror import mirror
from multiarch_tasks.preflight import preflight
from multiarch_tasks.publish import publish
from multiarch_tasks.qemu import qemu_setup
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import Settings, settings_from
from multiarch_tasks.verify import verify

__all__ = [
    "Runner",
    "Settings",
    "build",
    "builder_create",
    "ci_template",
    "doctor",
    "inspect",
    "lint",
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
