"""The ``multiarch`` console script: an invoke ``Program`` over the same tasks.

Invoke's own switches work as invoke users expect (``--dry``, ``--echo``, ``--list``,
``--help TASK``, ``--debug``). ``invoke.yaml`` in the current directory is read as project
config, as ``inv`` would read the one beside a tasks.py.
"""

from __future__ import annotations

from pathlib import Path

from invoke.program import Program

from multiarch_tasks.tasks import multiarch

HELP_FLAGS = ("--help", "-h")


class MultiarchProgram(Program):
    """``inv`` with our collection built in and the current directory as project."""

    def normalize_argv(self, argv: list[str] | None) -> None:
        """Read ``TASK ... --help`` as ``--help TASK``.

        invoke's parser gives ``--help`` to a task's missing positional first, so
        ``multiarch verify --help`` would verify an image named ``--help``.
        """
        super().normalize_argv(argv)
        names = set(multiarch.task_names)
        for i, token in enumerate(self.argv[1:], start=1):
            if token in names:
                if any(t in HELP_FLAGS for t in self.argv[i + 1 :]):
                    self.argv = [*self.argv[:i], "--help", token]
                return

    def update_config(self, merge: bool = True) -> None:
        """Load ``./invoke.yaml`` (project config) before the runtime and flag layers."""
        self.config.set_project_location(str(Path.cwd()))
        self.config.load_project(merge=False)
        super().update_config(merge=merge)


def program() -> Program:
    """The ``multiarch`` program (``program().run(argv, exit=False)`` in tests)."""
    from multiarch_tasks import __version__  # noqa: PLC0415 - avoid a cycle at import

    return MultiarchProgram(
        name="multiarch", binary="multiarch", namespace=multiarch, version=__version__
    )


def main() -> None:
    """Entry point of the ``multiarch`` console script."""
    program().run()


if __name__ == "__main__":
    main()
