"""The plain functions behind the tasks, for Python callers and nox sessions.

Each takes a :class:`~multiarch_tasks.config.settings.Settings` first (see ``settings_from``).
Those that start processes also take a :class:`~multiarch_tasks.engine.runner.Runner`: second
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
    from multiarch_tasks.checks.doctor import doctor
    from multiarch_tasks.checks.inspect import inspect
    from multiarch_tasks.checks.lint import lint
    from multiarch_tasks.checks.preflight import preflight
    from multiarch_tasks.checks.verify import verify
    from multiarch_tasks.ci.rehearse import rehearse as ci_rehearse
    from multiarch_tasks.ci.templates import ci_template
    from multiarch_tasks.config.settings import Settings, settings_from
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.planning.gittags import tags_from_git
    from multiarch_tasks.steps.build import build
    from multiarch_tasks.steps.builder import builder_create
    from multiarch_tasks.steps.manifest import (
        manifest_create,
        manifest_push,
        merge,
    )
    from multiarch_tasks.steps.mirror import mirror
    from multiarch_tasks.steps.publish import publish
    from multiarch_tasks.steps.qemu import qemu_setup

_WHERE = {
    "Runner": "engine.runner",
    "Settings": "config.settings",
    "build": "steps.build",
    "builder_create": "steps.builder",
    "ci_template": "ci.templates",
    "ci_rehearse": "ci.rehearse",
    "doctor": "checks.doctor",
    "lint": "checks.lint",
    "tags_from_git": "planning.gittags",
    "inspect": "checks.inspect",
    "manifest_create": "steps.manifest",
    "manifest_push": "steps.manifest",
    "merge": "steps.manifest",
    "mirror": "steps.mirror",
    "preflight": "checks.preflight",
    "publish": "steps.publish",
    "qemu_setup": "steps.qemu",
    "settings_from": "config.settings",
    "verify": "checks.verify",
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
