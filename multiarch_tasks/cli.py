"""The ``multiarch`` console script: invoke's ``Program`` over the ``multiarch`` collection.

The command line, help, ``--list`` and invoke's own switches (``--dry``, ``--echo``, ``-f``)
are invoke's, read by :mod:`multiarch_tasks.program` from the same tasks ``inv multiarch.*``
runs. ``multiarch --version`` alone is answered here from the static version string,
before invoke is imported.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from multiarch_tasks._version import __version__

if TYPE_CHECKING:
    from invoke.program import Program

VERSION_FLAGS = (["--version"], ["-V"])


def program() -> Program:
    """The ``multiarch`` invoke program (``program().run(argv, exit=False)`` in tests)."""
    from multiarch_tasks.program import program as make  # noqa: PLC0415 - invoke is heavy

    return make()


def main() -> None:
    """Entry point of the ``multiarch`` console script."""
    if sys.argv[1:] in VERSION_FLAGS:
        print(f"multiarch {__version__}")  # what invoke's Program.print_version prints
        return
    program().run()


if __name__ == "__main__":
    main()
