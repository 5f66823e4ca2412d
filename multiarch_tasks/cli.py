"""The ``multiarch`` console script.

A plain task call (``multiarch inspect REF``, ``multiarch publish --tag v1``) runs
straight from the flag table (:mod:`multiarch_tasks.fastpath`); everything else (help,
``--list``, invoke's own flags, several tasks) goes to invoke's program
(:mod:`multiarch_tasks.program`), which reads the same table.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoke.program import Program


def program() -> Program:
    """The ``multiarch`` invoke program (``program().run(argv, exit=False)`` in tests)."""
    from multiarch_tasks.program import program as make  # noqa: PLC0415 - invoke is heavy

    return make()


def main() -> None:
    """Entry point of the ``multiarch`` console script."""
    from multiarch_tasks import fastpath  # noqa: PLC0415

    code = fastpath.run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    program().run()


if __name__ == "__main__":
    main()
