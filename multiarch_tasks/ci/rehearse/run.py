"""ci-rehearse: run a pipeline written by ``ci-template`` on this machine before pushing it.

Each job (each matrix shard) gets its own workspace (a copy of the project, as a checkout
would give), its own output directory and its own ``DOCKER_CONFIG`` (in a temporary
directory outside the project, removed afterwards: no credential stays behind), and runs
its scripts as separate processes through the runner, with the provider's shell and variables
(``GITHUB_*`` / ``CI_*``); jobs run stage by stage, shards of a stage side by side, against
the local engine and registry. What only a hosted runner has is done by its local
equivalent: ``actions/checkout`` copies the project, ``upload-artifact`` /
``download-artifact`` and GitLab artifacts copy directories between workspaces,
``setup-python`` checks its cache inputs as the action does and gives the job a fresh
venv, in which the install step runs as written (:mod:`~multiarch_tasks.ci.rehearse.python`;
GitLab's ``before_script`` is skipped: its jobs use this interpreter's ``multiarch``), the
dind service is the local engine. Secrets are stand-in values, hidden in the output; the login
steps run against the pipeline's registry with them.

It runs the pipeline for one event (``--event``): a push, a pull request from the
repository (``pr-1-<sha>``) or one from a fork (no secrets: its logins are skipped, by
their ``if:`` on GitHub, by the fork test of GitLab's docker variant, whose pipeline runs
in the fork's project; the shards build OCI layouts), and says which first.

It publishes to a scratch repository, never the project's tags
(:mod:`~multiarch_tasks.ci.rehearse.scratch`), says which first, and removes its staging
tags there afterwards where the registry allows it. Its work directory is under
``.multiarch/``, which carries its own ``.gitignore``.

Only what ``ci-template`` writes is understood; anything else is refused, naming it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from multiarch_tasks.ci.rehearse import scratch as scratch_repo
from multiarch_tasks.ci.rehearse import triggers
from multiarch_tasks.ci.rehearse.plan import (
    EVENTS,
    PR_NUMBER,
    detect_provider,
    github_jobs,
    gitlab_event,
    gitlab_jobs,
    pipeline_variables,
)
from multiarch_tasks.ci.rehearse.steps import Context, GitHead, Job, RehearsalError, git_head, slug
from multiarch_tasks.engine.progress import Event
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.digests import make_output_dir
from multiarch_tasks.model.errors import CommandError, RegistryError
from multiarch_tasks.registry.client import RegistryClient

__all__ = [
    "DEFAULT_SECRETS",
    "EVENTS",
    "WORK_DIR",
    "GitHead",
    "JobRun",
    "RehearsalError",
    "RehearsalResult",
    "github_jobs",
    "gitlab_jobs",
    "rehearse",
]

WORK_DIR = ".multiarch/rehearsal"
MARKER = ".multiarch-rehearsal"
# Stand-ins for the secrets the templates name; a caller may pass real ones.
DEFAULT_SECRETS = {
    "GITHUB_TOKEN": "stand-in-token",
    "REGISTRY_USERNAME": "stand-in-user",
    "REGISTRY_PASSWORD": "stand-in-password",
    "CI_REGISTRY_USER": "stand-in-user",
    "CI_REGISTRY_PASSWORD": "stand-in-password",
}
_NOT_SECRET = re.compile(r"USER(NAME)?$")
_HOST_CI = re.compile(r"^(CI|GITHUB_\w+|GITLAB_\w+|CI_\w+|RUNNER_\w+|INVOKE_MULTIARCH_\w+)$")


@dataclass(frozen=True)
class JobRun:
    """One job as rehearsed: what each step did, and whether it passed."""

    name: str
    runner: str
    notes: tuple[str, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return not self.error


@dataclass(frozen=True)
class RehearsalResult:
    """Every job of the pipeline, in the order they ran."""

    file: str
    provider: str
    jobs: tuple[JobRun, ...]

    @property
    def ok(self) -> bool:
        """True when every job passed."""
        return all(j.ok for j in self.jobs)

    def render(self) -> str:
        """A line per job, its notes indented."""
        lines = [f"rehearsal of {self.file} ({self.provider}):"]
        for job in self.jobs:
            status = "ok" if job.ok else f"FAILED: {job.error}"
            lines.append(f"  {job.name} [{job.runner}]: {status}")
            lines += [f"    {note}" for note in job.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The result as JSON."""
        return {
            "ok": self.ok,
            "file": self.file,
            "provider": self.provider,
            "jobs": [
                {"name": j.name, "runner": j.runner, "ok": j.ok, "error": j.error,
                 "notes": list(j.notes)}
                for j in self.jobs
            ],
        }  # fmt: skip


def _host_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _HOST_CI.match(k)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CI"] = "true"
    env["RUNNER_TEMP"] = str(work / "tmp")
    return env


def _run_job(job: Job, runner: Runner, steps: Callable[[Runner], JobRun]) -> JobRun:
    """Run ``steps`` for ``job``, its start and end said as events.

    A live view draws a row per shard from them (issue 18).
    """
    runner = runner.at_step("rehearse")
    began = time.monotonic()
    if not runner.dry:
        runner.emit(Event("rehearse", "start", job.name, job.runner))
    ran = steps(runner)
    if not runner.dry:
        state, why = ("done", "") if ran.ok else ("failed", runner.log_path(job.name))
        runner.emit(Event("rehearse", state, job.name, why, time.monotonic() - began))
    return ran


def _run_job_steps(
    job: Job,
    work: Path,
    project: Path,
    runner: Runner,
    *,
    secret_dir: Path,
    scratch: Mapping[str, str],
) -> JobRun:
    root = work / "jobs" / slug(job.name)
    # Outside the project: a login's config.json must not stay in the checkout (issue 20).
    config = secret_dir / slug(job.name)
    if not runner.dry:  # --dry prints the commands and creates nothing
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        config.mkdir(mode=0o700, parents=True)
    env = {**_host_env(work), **job.env, **scratch, "DOCKER_CONFIG": str(config),
           # buildah/podman login write here instead of the user's own auth.json
           "REGISTRY_AUTH_FILE": str(config / "auth.json")}  # fmt: skip
    env.setdefault("GITHUB_WORKSPACE", str(root / "workspace"))
    env.setdefault("CI_PROJECT_DIR", str(root / "workspace"))
    ctx = Context(
        job.name, root, project, work / "artifacts", env, runner, job.stage, list(job.notes)
    )
    if not runner.dry:
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
    try:
        for step in job.steps:
            ctx.notes.append(step(ctx))
    except (CommandError, RehearsalError) as err:  # a step failed as it would on the runner
        return JobRun(job.name, job.runner, tuple(ctx.notes), str(err).splitlines()[0])
    return JobRun(job.name, job.runner, tuple(ctx.notes))


def _run_stages(
    plan: list[Job],
    work: Path,
    project: Path,
    runner: Runner,
    secret_dir: Path,
    scratch: Mapping[str, str],
    jobs: int,
) -> list[JobRun]:
    done: list[JobRun] = []
    for stage in sorted({j.stage for j in plan}):
        batch = [j for j in plan if j.stage == stage]
        runner.say(f"rehearse: {', '.join(j.name for j in batch)}")
        results = runner.map_parallel(
            lambda j: _run_job(
                j,
                runner,
                partial(_run_job_steps, j, work, project, secret_dir=secret_dir, scratch=scratch),
            ),
            batch,
            jobs or len(batch),
        )
        for job, outcome in zip(batch, results, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            done.append(outcome if isinstance(outcome, JobRun) else JobRun(job.name, job.runner))
        if not all(r.ok for r in done):
            break
    return done


def _snapshot(
    client: RegistryClient, scratch: scratch_repo.Scratch, runner: Runner
) -> dict[str, str] | None:
    """The scratch repository's tags before the run; None when nothing will be cleaned."""
    if runner.dry:
        return None
    try:
        return scratch_repo.snapshot(client, scratch.image)
    except RegistryError as err:
        runner.say(f"rehearse: cannot list {scratch.image.name} ({err}); its tags stay as made")
        return None


def _clean(
    client: RegistryClient,
    scratch: scratch_repo.Scratch,
    before: Mapping[str, str],
    work: Path,
    runner: Runner,
) -> None:
    keep = scratch_repo.final_tags(work, scratch.image, scratch.tags)
    try:
        runner.say(scratch_repo.clean(client, scratch.image, before, keep))
    except RegistryError as err:
        # The rehearsal's outcome stands; what is left is said, not raised.
        runner.say(f"rehearse: staging tags in {scratch.image.name} not removed: {err}")


def _event_line(event: str, provider: str) -> str:
    """What the rehearsal runs the pipeline for, said before any job runs."""
    if event == "push":
        return "rehearse: event push (of the checked-out branch or tag)"
    what = "merge request" if provider == "gitlab" else "pull request"
    line = f"rehearse: event {event} ({what} {PR_NUMBER} of the checked-out commit into main"
    if event == "fork":
        return f"{line}, from a fork: no secrets, no login, no registry write)"
    return f"{line}, from the repository: a pr-{PR_NUMBER}-<sha> tag, nothing promoted)"


def _trigger_note(doc: Any, provider: str, git: GitHead, event: str) -> str:
    """A line when the provider would start no pipeline for ``event``: it is rehearsed anyway."""
    if not isinstance(doc, dict):
        return ""
    if provider == "github":
        why = triggers.github_skips(doc, event, git.branch, git.tag)
        what = "GitHub would start no run of this workflow"
    else:
        why = triggers.gitlab_skips(doc, {**pipeline_variables(doc), **gitlab_event(git, event)})
        what = "GitLab would start no pipeline"
    if not why:
        return ""
    return f"rehearse: note: {what} for this event ({why}); rehearsing its jobs anyway"


def _load(text: str, file: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RehearsalError(f"{file} is not valid YAML: {str(err).splitlines()[0]}") from err


def _check_work_dir(work: Path, project: Path) -> None:
    """Refuse a directory the rehearsal would copy into itself or must not wipe."""
    if work.is_relative_to(project) and not work.is_relative_to(project / ".multiarch"):
        raise RehearsalError(
            f"work dir {work} is inside the project {project}, which each job copies:"
            " use one outside it or under .multiarch/"
        )
    if work.exists() and any(work.iterdir()) and not (work / MARKER).exists():
        raise RehearsalError(f"work dir {work} is not empty and not a rehearsal's: not wiping it")


def rehearse(
    path: str | Path,
    runner: Runner,
    *,
    project: str | Path = ".",
    work_dir: str | Path | None = None,
    secrets: Mapping[str, str] | None = None,
    jobs: int = 0,
    image: str | None = None,
    registry: str | None = None,
    project_image: str = "",
    event: str = "push",
) -> RehearsalResult:
    """Run the pipeline in ``path`` here, stage by stage; stop after a stage that failed.

    It publishes to a scratch repository (``image``, else the project's with
    ``-rehearsal`` on ``registry`` or a local one; :func:`scratch_repo.scratch_for`),
    never to ``project_image`` (default: the project's configured image). ``event`` is
    what the pipeline runs for: ``push``, ``pull_request`` (number 1, from a branch of the
    repository) or ``fork`` (a pull request from a fork: no secrets; on GitLab, a pipeline
    with a fork path: ci-template's docker variant).
    """
    if event not in EVENTS:
        raise RehearsalError(f"--event {event}: not one of {', '.join(EVENTS)}")
    file = str(path)
    project_dir = Path(project).resolve()
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise RehearsalError(f"cannot read {file}: {err.strerror}") from err
    provider = detect_provider(_load(text, file), file)
    make_plan = github_jobs if provider == "github" else gitlab_jobs
    values = {**DEFAULT_SECRETS, **(secrets or {})}
    # Every value passed in is hidden; of the stand-ins, all but the user names.
    hidden = [
        v for k, v in values.items() if (secrets and k in secrets) or not _NOT_SECRET.search(k)
    ]
    runner = runner.with_secrets(*hidden)
    git = git_head(runner, project_dir)
    # What cannot run is refused naming it, before the scratch repository is chosen.
    doc = _load(text, file)
    make_plan(doc, file, values, git, event)
    scratch = scratch_repo.scratch_for(
        text, project_dir, project_image=project_image, image=image, registry=registry
    )
    plan = make_plan(_load(scratch.redirect(text), file), file, values, git, event)
    work = (Path(work_dir) if work_dir else project_dir / WORK_DIR).resolve()
    _check_work_dir(work, project_dir)
    runner.say(scratch.line())
    runner.say(_event_line(event, provider))
    if skipped := _trigger_note(doc, provider, git, event):
        runner.say(skipped)
    if not runner.dry:
        shutil.rmtree(work, ignore_errors=True)
        make_output_dir(work)
        (work / MARKER).write_text("made by multiarch ci-rehearse; removed by the next one\n")
    client = RegistryClient(say=runner.say)
    before = _snapshot(client, scratch, runner)
    secret_dir = Path(tempfile.mkdtemp(prefix="multiarch-rehearsal-"))
    try:
        done = _run_stages(plan, work, project_dir, runner, secret_dir, scratch.env(), jobs)
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)
        if before is not None:
            _clean(client, scratch, before, work, runner)
    result = RehearsalResult(file, provider, tuple(done))
    if not result.ok:
        failed = next(j for j in done if not j.ok)
        runner.say(result.render())
        raise RehearsalError(f"rehearsal of {file} failed in job {failed.name}: {failed.error}")
    return result
