"""Build backends side by side behind one interface: ``run(plan, settings, runner)``.

``buildx`` runs the plan's ``docker buildx build`` steps (per platform concurrently, or one
multi-platform build); ``buildah`` builds each platform into a local manifest list and
pushes it under a run-unique staging tag. Both return the same :class:`BuildOutcome`;
neither moves a final tag.
"""

from __future__ import annotations

from multiarch_tasks.steps.backends.base import Backend, BuildOutcome, PlatformBuild

__all__ = ["Backend", "BuildOutcome", "PlatformBuild", "backend"]


def backend(name: str) -> Backend:
    """The backend called ``name`` (``buildx`` or ``buildah``)."""
    if name == "buildah":
        from multiarch_tasks.steps.backends.buildah import run  # noqa: PLC0415

        return run
    from multiarch_tasks.steps.backends.buildx import run as run_buildx  # noqa: PLC0415

    return run_buildx
