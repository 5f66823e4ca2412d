"""The plain functions behind the tasks, for Python callers and nox sessions.

Each takes a :class:`~multiarch_tasks.settings.Settings` first (see ``settings_from``).
Those that start processes also take a :class:`~multiarch_tasks.runner.Runner`: second
for ``build``, ``builder_create``, ``manifest_create``, ``manifest_push``, ``merge``,
``mirror``, ``preflight``, ``publish`` and ``qemu_setup``; as ``runner=`` for ``verify``,
which, like ``inspect`` (no runner: registry reads only), takes the image reference
second. Each returns a typed result with ``ok``, ``render()`` and ``to_json()``, except
``ci_template(settings, provider)``, which returns the pipeline's text.
"""

from __future__ import annotations

from multiarch_tasks.build import build
from multiarch_tasks.builder import builder_create
from multiarch_tasks.ci import ci_template
from multiarch_tasks.gittags import tags_from_git
from multiarch_tasks.inspect_image import inspect
from multiarch_tasks.manifest import manifest_create, manifest_push, merge
from multiarch_tasks.mirror import mirror
from multiarch_tasks.preflight import preflight
from multiarch_tasks.publish import publish
from multiarch_tasks.qemu import qemu_setup
from multiarch_tasks.rehearse import rehearse as ci_rehearse
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import Settings, settings_from
from multiarch_tasks.verify import verify

__all__ = [
    "Runner",
    "Settings",
    "build",
    "builder_create",
    "ci_rehearse",
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
    "tags_from_git",
    "verify",
]
