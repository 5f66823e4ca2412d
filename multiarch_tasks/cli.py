"""The ``multiarch`` console script: an invoke ``Program`` over the same tasks.

Invoke's own switches work as invoke users expect (``--dry``, ``--echo``, ``--list``,
``--help TASK``, ``--debug``). ``invoke.yaml`` in the current directory is read as project
config, as ``inv`` would read the one beside a tasks.py.
"""

from __future__ import annotations

from pathlib import Path

from invoke.program import Program

from multiarch_tasks.tasks import multiarch


class MultiarchProgram(Program):
    """``inv`` with our collection built in and the current directory as project."""

    def update_config(self, merge: bool = True) -> None:
        """Load ``./invoke.yaml`` (project config) before the runtime and flag layers."""
        self.config.set_project_location(str(Path.cwd()))
        self.config.load_project(merge=False)
        super().update_config(merge=merge)


def _program() -> Program:
    from multiarch_tasks import __version__  # noqa: PLC0415 - avoid a cycle at import

    return MultiarchProgram(
        name="multiarch", binary="multiarch", namespace=multiarch, version=__version__
    )


def main() -> None:
    """Entry point of the ``multiarch`` console script."""
    _program().run()
