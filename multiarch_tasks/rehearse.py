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

import fnmatch
import itertools
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from multiarch_tasks.errors import CommandError, MultiarchError
from multiarch_tasks.runner import Runner

WORK_DIR = ".multiarch/rehearsal"
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
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_COPY_IGNORE = shutil.ignore_patterns(".multiarch", ".nox", ".venv", "__pycache__", ".mypy_cache")


class RehearsalError(MultiarchError):
    """The pipeline cannot be rehearsed here, or one of its jobs failed."""


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


# A step is a function of the job's context; it returns a note (what it did locally).
Step = Callable[["Context"], str]


@dataclass
class Context:
    """One job's workspace, environment and the shared artifact store."""

    name: str
    root: Path
    project: Path
    artifacts: Path
    env: dict[str, str]
    runner: Runner
    stage: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def workspace(self) -> Path:
        """The job's checkout."""
        return self.root / "workspace"

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Run one script process in the workspace, its output prefixed with the job name."""
        self.runner.run(
            argv,
            env={**self.env, **(env or {})},
            cwd=str(self.workspace),
            stream_prefix=self.name,
            label=self.name,
        )


@dataclass(frozen=True)
class Job:
    """One job instance (one matrix shard): its stage, runner label and steps."""

    name: str
    stage: int
    runner: str
    env: Mapping[str, str]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()


# --- shared local equivalents ---------------------------------------------------------


def _checkout(ctx: Context) -> str:
    if ctx.runner.dry:
        return f"checkout: would copy {ctx.project} to {ctx.workspace}"
    shutil.copytree(ctx.project, ctx.workspace, symlinks=True, ignore=_COPY_IGNORE,
                    dirs_exist_ok=True)  # fmt: skip
    return f"checkout: copied {ctx.project} (with .git) to {ctx.workspace}"


def _copy(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def _skip(note: str) -> Step:
    return lambda _ctx: note


def _script(argv: Sequence[str], env: Mapping[str, str] | None = None, shown: str = "") -> Step:
    def step(ctx: Context) -> str:
        ctx.run(argv, env)
        return f"ran: {shown or argv[-1]}"

    return step


def _git(runner: Runner, project: Path, *args: str) -> str:
    result = runner.run(["git", "-C", str(project), *args], probe=True, check=False, timeout=30)
    return result.stdout.strip() if result.ok else ""


@dataclass(frozen=True)
class _Git:
    sha: str
    branch: str
    tag: str


def _git_state(runner: Runner, project: Path) -> _Git:
    return _Git(
        _git(runner, project, "rev-parse", "HEAD"),
        _git(runner, project, "symbolic-ref", "--quiet", "--short", "HEAD"),
        _git(runner, project, "describe", "--tags", "--exact-match", "HEAD"),
    )


# --- GitHub Actions --------------------------------------------------------------------


def _matrix(strategy: Any) -> list[dict[str, Any]]:
    matrix = (strategy or {}).get("matrix") if isinstance(strategy, dict) else None
    if not matrix:
        return [{}]
    axes = {k: v for k, v in matrix.items() if k not in {"include", "exclude"}}
    combos: list[dict[str, Any]] = [
        dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())
    ]
    combos = [c for c in combos if c] + [dict(i) for i in matrix.get("include") or []]
    return combos or [{}]


@dataclass(frozen=True)
class _Expr:
    """What ``${{ ... }}`` may name in a rehearsal."""

    matrix: Mapping[str, Any]
    secrets: Mapping[str, str]
    github: Mapping[str, str]
    where: str

    def value(self, expr: str) -> Any:
        head, _, key = expr.partition(".")
        scopes: dict[str, Mapping[str, Any]] = {
            "matrix": self.matrix, "secrets": self.secrets, "github": self.github,
        }  # fmt: skip
        if head in scopes and key in scopes[head]:
            return scopes[head][key]
        if head == "secrets":
            raise RehearsalError(f"{self.where}: secret {key} has no value: pass it to rehearse")
        raise RehearsalError(f"{self.where}: cannot evaluate ${{{{ {expr} }}}} in a rehearsal")

    def sub(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return _EXPR.sub(lambda m: str(self.value(m.group(1))), text)

    def condition(self, text: str) -> bool:
        expr = _EXPR.sub(lambda m: m.group(1), text).strip()
        if match := re.fullmatch(r"(!?)\s*([\w.-]+)", expr):
            return bool(self.value(match.group(2))) != bool(match.group(1))
        if match := re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", expr):
            equal = str(self.value(match.group(1))).lower() == match.group(3).lower()
            return equal == (match.group(2) == "==")
        raise RehearsalError(f"{self.where}: cannot evaluate if: {text}")


def _github_step(step: Mapping[str, Any], expr: _Expr, shell_env: Mapping[str, str]) -> Step:
    uses = str(step.get("uses", ""))
    action = uses.split("@", 1)[0]
    with_ = {k: expr.sub(v) for k, v in (step.get("with") or {}).items()}
    if action == "actions/checkout":
        return _checkout
    if action == "actions/setup-python":
        return _skip(f"setup-python: this interpreter ({sys.version.split()[0]}) instead")
    if action == "actions/upload-artifact":
        return _upload(str(with_["name"]), str(with_["path"]))
    if action == "actions/download-artifact":
        return _download(str(with_.get("pattern") or with_.get("name") or "*"),
                         str(with_.get("path") or "."), merge="name" in with_)  # fmt: skip
    if uses:
        raise RehearsalError(f"{expr.where}: action {uses} has no local equivalent")
    if step.get("id") == "install":
        return _skip(f"install: this machine's multiarch ({Path(sys.executable).parent})")
    script = expr.sub(str(step["run"]))
    env = {**shell_env, **{k: str(expr.sub(v)) for k, v in (step.get("env") or {}).items()}}
    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return _script(argv, env, script)


def _upload(name: str, path: str) -> Step:
    def step(ctx: Context) -> str:
        src = ctx.workspace / path
        if ctx.runner.dry:
            return f"upload-artifact: would copy {path} to artifact {name}"
        if not src.exists():
            raise RehearsalError(f"{ctx.name}: upload-artifact: {path} does not exist")
        _copy(src, ctx.artifacts / name)
        return f"upload-artifact: {path} -> artifact {name}"

    return step


def _download(pattern: str, path: str, *, merge: bool) -> Step:
    def step(ctx: Context) -> str:
        if ctx.runner.dry:
            return f"download-artifact: would copy {pattern} to {path}"
        names = sorted(p.name for p in ctx.artifacts.iterdir() if fnmatch.fnmatch(p.name, pattern))
        if not names:
            raise RehearsalError(f"{ctx.name}: download-artifact: no artifact matches {pattern}")
        for name in names:
            dest = ctx.workspace / path if merge else ctx.workspace / path / name
            _copy(ctx.artifacts / name, dest)
        return f"download-artifact: {', '.join(names)} -> {path}"

    return step


def _levels(jobs: Mapping[str, Any], where: str) -> dict[str, int]:
    level: dict[str, int] = {}
    pending = dict(jobs)
    while pending:
        ready = {
            name: max((level[n] + 1 for n in _needs(job)), default=0)
            for name, job in pending.items()
            if all(n in level for n in _needs(job))
        }
        if not ready:
            raise RehearsalError(f"{where}: jobs {', '.join(pending)} wait on each other")
        level.update(ready)
        for name in ready:
            del pending[name]
    return level


def _needs(job: Any) -> list[str]:
    needs = job.get("needs") or [] if isinstance(job, dict) else []
    return [needs] if isinstance(needs, str) else list(needs)


def github_jobs(
    doc: Mapping[str, Any], file: str, secrets: Mapping[str, str], git: _Git
) -> list[Job]:
    """The workflow's jobs, one per matrix shard, with their steps as local equivalents."""
    jobs = doc.get("jobs") or {}
    levels = _levels(jobs, file)
    ref = f"refs/tags/{git.tag}" if git.tag else f"refs/heads/{git.branch or 'main'}"
    github = {"actor": "rehearsal", "sha": git.sha, "ref": ref,
              "ref_name": git.tag or git.branch or "main"}  # fmt: skip
    out: list[Job] = []
    for job_id, job in jobs.items():
        for index, matrix in enumerate(_matrix(job.get("strategy"))):
            where = f"{file}: job {job_id}"
            expr = _Expr(matrix, secrets, github, where)
            name = str(expr.sub(job.get("name") or job_id))
            if len(_matrix(job.get("strategy"))) > 1 and name == job_id:
                name = f"{job_id} ({index})"
            env = {k: str(expr.sub(v)) for k, v in {**(doc.get("env") or {}),
                                                    **(job.get("env") or {})}.items()}  # fmt: skip
            steps: list[Step] = []
            for number, step in enumerate(job.get("steps") or [], 1):
                step_expr = _Expr(matrix, secrets, github, f"{where} step {number}")
                if "if" in step and not step_expr.condition(str(step["if"])):
                    steps.append(_skip(f"step {number} skipped: if {step['if']} is false"))
                    continue
                steps.append(_github_step(step, step_expr, env))
            provider_env = {
                "GITHUB_ACTIONS": "true", "GITHUB_SHA": git.sha, "GITHUB_REF": ref,
                "GITHUB_REF_NAME": github["ref_name"], "GITHUB_JOB": job_id, "RUNNER_OS": "Linux",
            }  # fmt: skip
            runner = str(expr.sub(job.get("runs-on", "")))
            out.append(Job(name, levels[job_id], runner, provider_env, tuple(steps)))
    return out


# --- GitLab CI -------------------------------------------------------------------------

_GITLAB_GLOBAL = {"stages", "variables", "default", "workflow", "include", "image", "services",
                  "cache", "before_script", "after_script"}  # fmt: skip


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _extended(doc: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    job = doc[name]
    parents = job.get("extends") or []
    parents = [parents] if isinstance(parents, str) else parents
    merged: dict[str, Any] = {}
    for parent in parents:
        if parent in seen or parent not in doc:
            raise RehearsalError(f"job {name}: cannot extend {parent}")
        merged = _deep_merge(merged, _extended(doc, parent, (*seen, name)))
    return _deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})


def _expand(value: str, env: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), value)


def _gitlab_matrix(job: Mapping[str, Any]) -> list[dict[str, str]]:
    parallel = job.get("parallel")
    if not isinstance(parallel, dict):
        return [{}]
    out: list[dict[str, str]] = []
    for entry in parallel.get("matrix") or []:
        axes = {k: v if isinstance(v, list) else [v] for k, v in entry.items()}
        out += [dict(zip(axes, map(str, vals), strict=True))
                for vals in itertools.product(*axes.values())]  # fmt: skip
    return out or [{}]


def _image_note(job: Mapping[str, Any], where: str) -> str:
    image = job.get("image")
    name = str(image.get("name", "") if isinstance(image, dict) else image or "")
    if "kaniko" in name:
        raise RehearsalError(
            f"{where}: runs in {name}: kaniko cannot run on this machine; rehearse the docker"
            " variant (the kaniko argv is checked by the tests)"
        )
    services = ", ".join(str(s) for s in job.get("services") or [])
    return f"image {name or '(default)'}{f' + {services}' if services else ''}: this machine"


def _gitlab_artifacts(paths: Sequence[str]) -> Step:
    def step(ctx: Context) -> str:
        if ctx.runner.dry:
            return f"artifacts: would keep {', '.join(paths)}"
        for path in paths:
            src = ctx.workspace / path
            if not src.exists():
                raise RehearsalError(f"{ctx.name}: artifact path {path} does not exist")
            _copy(src, ctx.artifacts / "gitlab" / str(ctx.stage) / _slug(ctx.name) / path)
        return f"artifacts: {', '.join(paths)}"

    return step


def _gitlab_restore(ctx: Context) -> str:
    """GitLab's default: every artifact of the earlier stages, at its path."""
    store = ctx.artifacts / "gitlab"
    if ctx.runner.dry:
        return "artifacts of earlier stages: would be restored"
    jobs = []
    for stage in sorted(store.iterdir() if store.is_dir() else (), key=lambda p: int(p.name)):
        if int(stage.name) >= ctx.stage:
            continue
        for job in sorted(stage.iterdir()):
            _copy(job, ctx.workspace)
            jobs.append(job.name)
    return f"artifacts of earlier stages restored: {', '.join(jobs) or 'none'}"


def gitlab_jobs(
    doc: Mapping[str, Any], file: str, secrets: Mapping[str, str], git: _Git
) -> list[Job]:
    """The pipeline's jobs, one per parallel:matrix entry, with their scripts."""
    if "include" in doc:
        raise RehearsalError(f"{file}: include: is not rehearsed; rehearse the generated file")
    stages = list(doc.get("stages") or ["build", "test", "deploy"])
    base_vars = {k: str(v) for k, v in (doc.get("variables") or {}).items()}
    out: list[Job] = []
    for job_id in doc:
        if job_id in _GITLAB_GLOBAL or job_id.startswith("."):
            continue
        job = _extended(doc, job_id)
        where = f"{file}: job {job_id}"
        stage = str(job.get("stage", "test"))
        if stage not in stages:
            raise RehearsalError(f"{where}: stage {stage} is not among {stages}")
        instances = _gitlab_matrix(job)
        for index, matrix in enumerate(instances, 1):
            name = job_id if len(instances) == 1 else f"{job_id}: [{', '.join(matrix.values())}]"
            provider = {
                "GITLAB_CI": "true", "CI_COMMIT_SHA": git.sha, "CI_COMMIT_SHORT_SHA": git.sha[:8],
                "CI_COMMIT_REF_NAME": git.tag or git.branch or "main", "CI_DEFAULT_BRANCH": "main",
                "CI_PIPELINE_ID": str(os.getpid()), "CI_JOB_ID": str(index), "CI_JOB_NAME": name,
                **({"CI_COMMIT_TAG": git.tag} if git.tag else
                   {"CI_COMMIT_BRANCH": git.branch} if git.branch else {}),
            }  # fmt: skip
            own = {k: str(v) for k, v in (job.get("variables") or {}).items()}
            variables = {**base_vars, **own, **matrix}
            notes = [_image_note(job, where)]
            before = job.get("before_script") or []
            steps: list[Step] = [_checkout, _gitlab_restore]
            if before:
                steps.append(_skip(f"before_script (provider setup) skipped: {'; '.join(before)}"))
            script = "\n".join(str(line) for line in job.get("script") or [])
            steps.append(_gitlab_script(script, variables, secrets))
            paths = list((job.get("artifacts") or {}).get("paths") or [])
            if paths:
                steps.append(_gitlab_artifacts(paths))
            runner = ", ".join(_expand(str(t), variables) for t in job.get("tags") or [])
            out.append(Job(name, stages.index(stage), runner, provider, tuple(steps), tuple(notes)))
    return out


def _gitlab_script(script: str, variables: Mapping[str, str], secrets: Mapping[str, str]) -> Step:
    def step(ctx: Context) -> str:
        known = {**ctx.env, **secrets}
        env = {**secrets, **{k: _expand(v, known) for k, v in variables.items()}}
        ctx.run(["sh", "-e", "-c", script], env)
        return f"script: {len(script.splitlines())} line(s)"

    return step


# --- running ---------------------------------------------------------------------------


def detect_provider(doc: Any, file: str) -> str:
    """``github`` (a ``jobs:`` mapping) or ``gitlab`` (jobs with ``script:``)."""
    if not isinstance(doc, dict):
        raise RehearsalError(f"{file} is not a pipeline (a YAML mapping)")
    if isinstance(doc.get("jobs"), dict) and ("on" in doc or True in doc):
        return "github"
    if any(isinstance(v, dict) and "script" in v for v in doc.values()):
        return "gitlab"
    raise RehearsalError(f"{file} is neither a GitHub workflow nor a GitLab pipeline")


def _host_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _HOST_CI.match(k)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CI"] = "true"
    env["RUNNER_TEMP"] = str(work / "tmp")
    return env


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def _run_job(job: Job, work: Path, project: Path, runner: Runner) -> JobRun:
    root = work / "jobs" / _slug(job.name)
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
    work = Path(work_dir) if work_dir else project_dir / WORK_DIR
    if not runner.dry:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    values = {**DEFAULT_SECRETS, **(secrets or {})}
    # Every value passed in is hidden; of the stand-ins, all but the user names.
    hidden = [
        v for k, v in values.items() if (secrets and k in secrets) or not _NOT_SECRET.search(k)
    ]
    runner = runner.with_secrets(*hidden)
    git = _git_state(runner, project_dir)
    plan = (github_jobs if provider == "github" else gitlab_jobs)(doc, file, values, git)
    done: list[JobRun] = []
    for stage in sorted({j.stage for j in plan}):
        batch = [j for j in plan if j.stage == stage]
        runner.say(f"rehearse: {', '.join(j.name for j in batch)}")
        results = runner.map_parallel(
            lambda j: _run_job(j, work.resolve(), project_dir, runner), batch, jobs or len(batch)
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
