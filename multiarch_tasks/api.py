"""The plain functions behind the tasks, for Python callers and nox sessions.

Each takes a :class:`~multiarch_tasks.settings.Settings` first (see ``settings_from``).
Those that start processes also take a :class:`~multiarch_tasks.runner.Runner`: second
for ``build``, ``builder_create``, ``manifest_create``, ``manifest_push``, ``merge``,
``mirror``, ``preflight``, ``publish`` and ``qemu_setup``; as ``runner=`` for ``verify``,
which, like ``inspect`` (no runner: registry reads only), takes the image reference
second. Each returns a typed result with ``ok``, ``render()`` and ``to_json()``, except
``ci_template(settings, provider)``, which returns the pipeline's text;
``ci_rehearse(path, runner)`` takes the pipeline file. Each is imported on first use
(PEP 562): ``inspect`` does not load the build machinery, ``--help`` loads none of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiarch_tasks.build import build
    from multiarch_tasks.builder import builder_create
    from multiarch_tasks.ci import ci_template
    from multiarch_tasks.doctor import doctor
    from multiarch_tasks.gittags import tags_from_git
    from multiarch_tasks.inspect_image import inspect
    from multiarch_tasks.lint import lint
    from multiarch_tasks.manifest import (
        manifest_create,
        manifest_push,
        merge,
    )
    from multiarch_tasks.mirror import mirror
    from multiarch_tasks.preflight import preflight
    from multiarch_tasks.publish import publish
    from multiarch_tasks.qemu import qemu_setup
    from multiarch_tasks.rehearse import rehearse as ci_rehearse
    from multiarch_tasks.runner import Runner
    from multiarch_tasks.settings import Settings, settings_from
    from multiarch_tasks.verify import verify

_WHERE = {
    "Runner": "runner",
    "Settings": "settings",
    "build": "build",
    "builder_create": "builder",
    "ci_template": "ci",
    "ci_rehearse": "rehearse",
    "doctor": "doctor",
    "lint": "lint",
    "tags_from_git": "gittags",
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
    "ci_rehearse",
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
    "tags_from_git",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'multiarch_tasks.api' has no attribute {name!r}"
        raise AttributeError(msg)
    # ci_rehearse is rehearse.rehearse under its api name.
    attribute = "rehearse" if name == "ci_rehearse" else name
    value = getattr(import_module(f"multiarch_tasks.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
