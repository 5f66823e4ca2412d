"""The buildah backend: daemonless builds into a local manifest list, pushed with --all.

Runs the plan's build step: each platform in turn into one run-unique local manifest list
(a failure names its platform); only when all built is the list pushed, with ``--all``, to
the run's staging tag (publish promotes the final tags after verify), then removed.
"""

from __future__ import annotations

from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.digests import make_output_dir
from multiarch_tasks.model.errors import BuildFailedError, CommandError
from multiarch_tasks.planning.plan.make import Plan, buildah_manifest, buildah_push_argv
from multiarch_tasks.steps.backends.base import BuildOutcome, PlatformBuild


def run(plan: Plan, settings: Settings, runner: Runner) -> BuildOutcome:
    """Build every platform with buildah, then push the list to the staging tag."""
    make_output_dir(settings.output_dir)
    builds: list[PlatformBuild] = []
    failed: dict[str, str] = {}
    for step in plan.builds:
        try:
            runner.run(
                step.argv,
                stream_prefix=step.label,
                label=f"build {step.label}",
                timeout=settings.timeout or None,
            )
        except CommandError as err:
            tail = err.stderr_tail.strip()
            failed[step.label] = tail.splitlines()[-1] if tail else str(err)
            builds.append(PlatformBuild(step, error=failed[step.label], log_tail=tail))
            continue
        builds.append(PlatformBuild(step))
    local = buildah_manifest(settings, plan.run_id)
    digest_file = Path(settings.output_dir) / f"buildah-digest-{plan.run_id}"
    try:
        if failed:
            raise BuildFailedError(failed)
        runner.run(
            buildah_push_argv(settings, plan.run_id, str(digest_file)),
            label="buildah push",
            retries=settings.retries,
        )
    finally:
        runner.run(commands.buildah_rm_manifest(local), check=False)
    if runner.dry:
        return BuildOutcome(tuple(builds))
    return BuildOutcome(tuple(builds), {}, digest_file.read_text().strip())
