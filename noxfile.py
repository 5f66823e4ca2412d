"""Sessions: tests (everything), unit (no engine), lint, typecheck, publish-example."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole suite, e2e included (needs scripts/engine-up)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """Run the tests that need no engine."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not e2e", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff==0.17.6")  # pinned: new rules must not break CI by surprise
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy, strict, on the package."""
    session.install("-e", ".[dev]", "mypy==2.4.1")
    session.run("mypy")


@nox.session(name="publish-example")
def publish_example(session: nox.Session) -> None:
    """Publish examples/hello to a registry, as a user's CI session would.

    ``nox -s publish-example -- REGISTRY BASE`` (e.g. ``127.0.0.1:5000``
    ``127.0.0.1:5000/demo/busybox:base``).
    """
    registry, base = [*session.posargs, "127.0.0.1:5000", ""][:2]
    base = base or f"{registry}/demo/busybox:base"
    session.install(".")
    session.run(
        "multiarch",
        "publish",
        "--image",
        f"{registry}/examples/hello",
        "--tag",
        "ci",
        "--platforms",
        "linux/amd64,linux/arm64,linux/s390x",
        "--context",
        "examples/hello",
        "--build-arg",
        f"BASE={base}",
    )
