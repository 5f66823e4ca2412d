"""ci-rehearse: run a pipeline written by ``ci-template`` on this machine before pushing it.

Each job (each matrix shard) gets its own workspace (a copy of the project, as a checkout
would give), its own output directory and its own ``DOCKER_CONFIG``, and runs its scripts as
separate processes through the runner, with the provider's shell and variables
(``GITHUB_*`` / ``CI_*``); jobs run stage by stage, shards of a stage side by side, against
the local engine and registry. What only a hosted runner has is done by its local
equivalent: ``actions/checkout`` copies the project, ``upload-artifact`` /
``download-artifact`` and GitLab artifacts copy directories between workspaces,
``setup-python`` and the install step use this interpreter's ``multiarch``, the dind
service is the local engine. Secrets are stand-in values, hidden in the output; the login
steps run against the pipeline's registry with them.

Only what ``ci-template`` writes is understood; anything else is refused, naming it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from multiarch_tasks.ci.rehearse.plan import detect_provider, github_jobs, gitlab_jobs
from multiarch_tasks.ci.rehearse.steps import Context, GitHead, Job, RehearsalError, git_head, slug
from multiarch_tasks.engine.progress import Event
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import CommandError

__all__ = [
    "DEFAULT_SECRETS",
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


def _run_job(job: Job, work: Path, project: Path, runner: Runner) -> JobRun:
    # Each shard's start and end as events: a live view draws a row per shard (issue 18).
    runner = runner.at_step("rehearse")
    began = time.monotonic()
    if not runner.dry:
        runner.emit(Event("rehearse", "start", job.name, job.runner))
    ran = _run_job_steps(job, work, project, runner)
    if not runner.dry:
        state, why = ("done", "") if ran.ok else ("failed", runner.log_path(job.name))
        runner.emit(Event("rehearse", state, job.name, why, time.monotonic() - began))
    return ran


def _run_job_steps(job: Job, work: Path, project: Path, runner: Runner) -> JobRun:
    root = work / "jobs" / slug(job.name)
    if not runner.dry:  # --dry prints the commands and creates nothing
        shutil.rmtree(root, ignore_errors=True)
        (root / "docker-config").mkdir(parents=True)
    env = {**_host_env(work), **job.env, "DOCKER_CONFIG": str(root / "docker-config")}
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
    except CommandError as err:
        return JobRun(job.name, job.runner, tuple(ctx.notes), str(err).splitlines()[0])
    return JobRun(job.name, job.runner, tuple(ctx.notes))


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
) -> RehearsalResult:
    """Run the pipeline in ``path`` here, stage by stage; stop after a stage that failed."""
    file = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise RehearsalError(f"cannot read {file}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise RehearsalError(f"{file} is not valid YAML: {str(err).splitlines()[0]}") from err
    provider = detect_provider(doc, file)
    project_dir = Path(project).resolve()
    work = (Path(work_dir) if work_dir else project_dir / WORK_DIR).resolve()
    _check_work_dir(work, project_dir)
    if not runner.dry:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / MARKER).write_text("made by multiarch ci-rehearse; removed by the next one\n")
    values = {**DEFAULT_SECRETS, **(secrets or {})}
    # Every value passed in is hidden; of the stand-ins, all but the user names.
    hidden = [
        v for k, v in values.items() if (secrets and k in secrets) or not _NOT_SECRET.search(k)
    ]
    runner = runner.with_secrets(*hidden)
    git = git_head(runner, project_dir)
    plan = (github_jobs if provider == "github" else gitlab_jobs)(doc, file, values, git)
    done: list[JobRun] = []
    for stage in sorted({j.stage for j in plan}):
        batch = [j for j in plan if j.stage == stage]
        runner.say(f"rehearse: {', '.join(j.name for j in batch)}")
        results = runner.map_parallel(
            lambda j: _run_job(j, work, project_dir, runner), batch, jobs or len(batch)
        )
        for job, outcome in zip(batch, results, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            done.append(outcome if isinstance(outcome, JobRun) else JobRun(job.name, job.runner))
        if not all(r.ok for r in done):
            break
    result = RehearsalResult(file, provider, tuple(done))
    if not result.ok:
        failed = next(j for j in done if not j.ok)
        runner.say(result.render())
        raise RehearsalError(f"rehearsal of {file} failed in job {failed.name}: {failed.error}")
    return result
