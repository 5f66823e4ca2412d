"""Sessions: tests (everything), unit (no engine), lint, typecheck, publish-example,
verify-example.

Run nox from .venv (scripts/venv), where this package is installed: the noxfile imports it.
"""

from __future__ import annotations

from pathlib import Path

import nox

from multiarch_tasks.nox import publish_session, verify_session

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
    """Ruff lint and format check; the layer contract (import-linter, pyproject.toml)."""
    # pinned: new rules must not break CI by surprise
    session.install("ruff==0.17.6", "import-linter==2.16")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # lint-imports imports nothing of the package; PYTHONPATH lets it find the source.
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": str(Path.cwd())})


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy, strict, on the package."""
    session.install("-e", ".[dev]", "mypy==2.4.1")
    session.run("mypy")


EXAMPLE_PLATFORMS = "linux/amd64,linux/arm64,linux/s390x"


def example_args(posargs: list[str] | tuple[str, ...]) -> list[str]:
    """``-- REGISTRY [BASE]`` -> publish flags; BASE defaults to REGISTRY/demo/busybox:base."""
    registry = posargs[0] if posargs else "127.0.0.1:5000"
    base = posargs[1] if len(posargs) > 1 else f"{registry}/demo/busybox:base"
    return [
        "--image", f"{registry}/examples/hello", "--tag", "ci",
        "--platforms", EXAMPLE_PLATFORMS, "--context", "examples/hello",
        "--build-arg", f"BASE={base}",
    ]  # fmt: skip


# As a user's noxfile would: the library's ready sessions, with this repo's example app.
# `nox -s publish-example -- REGISTRY [BASE]`, then `nox -s verify-example -- REGISTRY`.
publish_session(name="publish-example", install=(".",), args=example_args)
verify_session(name="verify-example", install=(".",), args=lambda posargs: [
    f"{example_args(posargs)[1]}:ci", "--platforms", EXAMPLE_PLATFORMS,
])  # fmt: skip
