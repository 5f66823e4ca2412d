"""invoke's ``Program`` over the tasks: what the ``multiarch`` console script runs.

Invoke's own switches work as invoke users expect (``--dry``, ``--echo``, ``--list``,
``--help TASK``, ``--debug``). ``invoke.yaml`` in the current directory is read as project
config, as ``inv`` would read the one beside a tasks.py. A config file invoke cannot read
or merge (bad YAML, ``multiarch:`` holding a list) is one error line, not a traceback.
Only invoke's public hooks are overridden (``create_config``, ``update_config``,
``normalize_argv``, ``execute``, ``Config.load_shell_env``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke.config import AmbiguousMergeError, Config
from invoke.exceptions import Exit
from invoke.program import Program
from invoke.vendor.yaml import MarkedYAMLError, YAMLError

from multiarch_tasks._version import __version__
from multiarch_tasks.config.settings import INVOKE_SECTION
from multiarch_tasks.model.errors import ConfigError
from multiarch_tasks.tasks import multiarch

HELP_FLAGS = ("--help", "-h")


def _yaml_problem(err: YAMLError) -> str:
    """``FILE:LINE: not valid YAML: PROBLEM ...: 'the line'`` from a parser error."""
    if not isinstance(err, MarkedYAMLError) or err.problem_mark is None:
        return f"not valid YAML: {err}"
    mark = err.problem_mark
    where = f"{mark.name}:{mark.line + 1}"
    context = ""
    if err.context and err.context_mark is not None:
        context = f" ({err.context} started at line {err.context_mark.line + 1})"
        line_no = err.context_mark.line
    else:
        line_no = mark.line
    try:
        text = Path(mark.name).read_text(errors="replace").splitlines()[line_no]
    except (OSError, IndexError):
        text = ""
    shown = f": {text.strip()!r}" if text.strip() else ""
    return f"{where}: not valid YAML: {err.problem}{context}{shown}"


@contextmanager
def _config_errors() -> Iterator[None]:
    """Turn config-file errors raised inside invoke into one ``Exit`` line."""
    try:
        yield
    except YAMLError as err:
        raise Exit(f"multiarch: error: {_yaml_problem(err)}", code=1) from err
    except json.JSONDecodeError as err:
        raise Exit(f"multiarch: error: not valid JSON: {err}", code=1) from err
    except ConfigError as err:
        raise Exit(f"multiarch: error: {err}", code=1) from err
    except AmbiguousMergeError as err:
        raise _merge_exit(err) from err


def _merge_exit(err: AmbiguousMergeError) -> Exit:
    # A key that is a mapping in one file and a value in another; invoke's message holds
    # both whole values, so it is cut short.
    return Exit(f"multiarch: error: config files cannot be merged: {str(err)[:200]}", code=1)


class MultiarchConfig(Config):
    """invoke's ``Config``, whose env loader leaves ``INVOKE_MULTIARCH_*`` to the settings.

    invoke casts an env variable to the type of the value a config file gave the key, and
    refuses a list (``UncastableEnvVar``: ``tags: [a]`` with ``INVOKE_MULTIARCH_TAGS=b``).
    The settings read ``INVOKE_MULTIARCH_*`` themselves (lists and maps in docker's comma
    form, above every config file), so invoke's loader runs without them.
    """

    def load_shell_env(self) -> None:
        """Load ``INVOKE_*`` variables as invoke does, minus ``INVOKE_MULTIARCH_*``."""
        ours = f"{(self.env_prefix or self.prefix).upper()}_{INVOKE_SECTION.upper()}_"
        hidden = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith(ours)}
        try:
            super().load_shell_env()
        finally:
            os.environ.update(hidden)


class MultiarchProgram(Program):
    """``inv`` with our collection built in and the current directory as project."""

    def create_config(self) -> None:
        """Create the config (it reads /etc/invoke.yaml and ~/.invoke.yaml), errors as one line."""
        with _config_errors():
            super().create_config()

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
        with _config_errors():
            self.config.set_project_location(str(Path.cwd()))
            self.config.load_project(merge=False)
            super().update_config(merge=merge)

    def execute(self) -> None:
        """Run the tasks; a config merge invoke still refuses becomes one line."""
        try:
            super().execute()
        except AmbiguousMergeError as err:
            raise _merge_exit(err) from err


def program() -> Program:
    """The ``multiarch`` program (``program().run(argv, exit=False)`` in tests)."""
    return MultiarchProgram(
        name="multiarch",
        binary="multiarch",
        namespace=multiarch,
        version=__version__,
        config_class=MultiarchConfig,
    )
