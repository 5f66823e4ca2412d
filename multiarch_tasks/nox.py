"""Ready nox sessions: ``publish`` and ``verify`` for a project's noxfile.

.. code-block:: python

    # noxfile.py
    from multiarch_tasks.nox import publish_session, verify_session

    publish_session()  # nox -s publish [-- --tag 1.2.3]
    verify_session()  # nox -s verify -- REGISTRY/TEAM/APP:1.2.3

Each session installs this package (or what ``install`` names) and runs the ``multiarch``
command, so settings come from the project's ``[tool.multiarch-tasks]`` / invoke.yaml as
everywhere else; extra flags are ``args``, and ``nox ... -- ARGS`` are appended (or handed
to ``args`` when it is a function of them). Importing this module needs nox itself,
which is there whenever a noxfile is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import nox

Args = Sequence[str] | Callable[[Sequence[str]], Sequence[str]]
DEFAULT_INSTALL = ("multiarch-tasks",)


def _argv(args: Args, posargs: Sequence[str]) -> list[str]:
    """``args`` then the posargs, or ``args(posargs)`` when ``args`` is a function."""
    if callable(args):
        return list(args(posargs))
    return [*args, *posargs]


def _session(
    name: str,
    command: str,
    doc: str,
    *,
    install: Sequence[str],
    python: Any,
    args: Args,
    venv_backend: str | None,
) -> Callable[[nox.Session], None]:
    def body(session: nox.Session) -> None:
        if install and python is not False:
            session.install(*install)
        session.run("multiarch", command, *_argv(args, session.posargs), external=True)

    body.__doc__ = doc
    body.__name__ = body.__qualname__ = name.replace("-", "_")
    registered: Callable[[nox.Session], None] = nox.session(
        name=name, python=python, venv_backend=venv_backend
    )(body)
    return registered


def publish_session(
    *,
    name: str = "publish",
    install: Sequence[str] = DEFAULT_INSTALL,
    python: Any = None,
    args: Args = (),
    venv_backend: str | None = None,
) -> Callable[[nox.Session], None]:
    """Register a session that runs ``multiarch publish`` (build, merge, push, verify)."""
    return _session(
        name,
        "publish",
        "Build every platform, push one index, verify it (multiarch publish).",
        install=install,
        python=python,
        args=args,
        venv_backend=venv_backend,
    )


def verify_session(
    *,
    name: str = "verify",
    install: Sequence[str] = DEFAULT_INSTALL,
    python: Any = None,
    args: Args = (),
    venv_backend: str | None = None,
) -> Callable[[nox.Session], None]:
    """Register a session that runs ``multiarch verify REF`` (REF as ``-- REF``, or in args)."""
    return _session(
        name,
        "verify",
        "Check every platform of an image is what it claims (multiarch verify REF).",
        install=install,
        python=python,
        args=args,
        venv_backend=venv_backend,
    )
