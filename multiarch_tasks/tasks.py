"""Build, publish and verify multi-architecture container images.

Import the collection into your tasks.py (``ns = Collection(multiarch)``) and run
``inv multiarch.publish``, or run ``multiarch publish`` without a tasks.py. Settings come
from ``[tool.multiarch-tasks]`` in pyproject.toml, then invoke config under
``multiarch:``, then these flags.

The tasks themselves are data (:mod:`multiarch_tasks.taskspecs`); this module makes
each one an invoke task whose flags, help and short letters come from that table, and
whose body is :func:`multiarch_tasks.taskbody.run_task`.
"""

from __future__ import annotations

import inspect as pyinspect
from typing import Any

from invoke.collection import Collection
from invoke.tasks import Task

from multiarch_tasks.taskbody import run_task, runner_for, settings_for
from multiarch_tasks.taskspecs import SPECS, TaskSpec

# The seams other code uses: settings and a runner from an invoke context.
__all__ = ["TASKS", "make_task", "multiarch", "ns", "runner_for", "settings_for"]


# --- tasks: generated from the flag table ------------------------------------------------


class _FlagTask(Task[Any]):
    """A task whose short flags and help come from the table.

    invoke's own short flag is the first free letter of the name, which differs from task
    to task and can be ``-`` (``--no-preflight`` got ``--``): here one letter has one
    meaning everywhere. invoke also pops each help text as it reads it, so a second parse
    in the same process (tests, ``Program.run`` twice) would show none.
    """

    spec: TaskSpec

    def with_spec(self, spec: TaskSpec) -> _FlagTask:
        """Remember the spec whose flag rows give help and short letters."""
        self.spec = spec
        return self

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        flag = self.spec.flag(name)
        opts["help"] = flag.help
        if flag.short:
            opts["names"] = [*opts["names"], flag.short]
        return opts


def make_task(spec: TaskSpec) -> Task[Any]:
    """The invoke task for ``spec``: its signature lists exactly the spec's flags."""
    flags = [spec.flag(n) for n in spec.flags]
    ordered = [f for f in flags if f.positional] + [f for f in flags if not f.positional]
    context = pyinspect.Parameter(
        "c", pyinspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Context"
    )
    signature = pyinspect.Signature([context, *(f.parameter() for f in ordered)])

    def body(*args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        c = values.pop("c")
        run_task(spec, c, values)

    body.__name__ = body.__qualname__ = spec.name
    body.__doc__ = spec.doc
    body.__module__ = __name__
    body.__signature__ = signature  # type: ignore[attr-defined] # invoke reads it
    return _FlagTask(
        body,
        iterable=[f.name for f in flags if f.iterable],
        positional=[f.name for f in ordered if f.positional],
        auto_shortflags=False,
    ).with_spec(spec)


TASKS: dict[str, Task[Any]] = {spec.name: make_task(spec) for spec in SPECS}


def __getattr__(name: str) -> Task[Any]:
    """``from multiarch_tasks.tasks import publish``: each task by its Python name."""
    if name in TASKS:
        return TASKS[name]
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


multiarch = Collection("multiarch", *TASKS.values())
# No keys are declared to invoke (see settings.INVOKE_SECTION): every documented form of
# every key merges, and settings_from_invoke reads INVOKE_MULTIARCH_* itself.
ns = multiarch
