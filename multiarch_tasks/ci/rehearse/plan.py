"""Read a GitHub workflow or GitLab pipeline into the jobs a rehearsal runs.

One job per matrix shard, in its stage (GitHub ``needs:``, GitLab ``stages:``), each step a
local equivalent or a script; only what ``ci-template`` writes is understood, anything else
is refused naming it, before anything runs.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from multiarch_tasks.ci.rehearse.python import install, setup_python
from multiarch_tasks.ci.rehearse.steps import (
    Context,
    GitHead,
    Job,
    RehearsalError,
    Step,
    checkout,
    download,
    keep_artifacts,
    restore_artifacts,
    script_step,
    skip,
    upload,
)

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# The events a rehearsal runs the pipeline for; a pull request is number 1 (refs/pull/1/merge).
EVENTS = ("push", "pull_request", "fork")
PR_NUMBER = 1
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")

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


def _text(value: Any) -> str:
    """An expression's value as GitHub writes it into text: null as '', booleans lowercase."""
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


@dataclass(frozen=True)
class _Expr:
    """What ``${{ ... }}`` may name in a rehearsal."""

    matrix: Mapping[str, Any]
    secrets: Mapping[str, str]
    github: Mapping[str, Any]
    where: str
    # A fork's pull request gets no secrets: GitHub gives '' for each (not an error).
    no_secrets: bool = False

    def value(self, expr: str) -> Any:
        head, _, key = expr.partition(".")
        scopes: dict[str, Mapping[str, Any]] = {
            "matrix": self.matrix, "secrets": self.secrets, "github": self.github,
        }  # fmt: skip
        if head in scopes and key in scopes[head]:
            return scopes[head][key]
        if head == "github" and key.startswith("event."):
            return None  # not in this event's payload (a push has no pull_request): null
        if head == "secrets" and self.no_secrets:
            return ""
        if head == "secrets":
            raise RehearsalError(f"{self.where}: secret {key} has no value: pass it to rehearse")
        raise RehearsalError(f"{self.where}: cannot evaluate ${{{{ {expr} }}}} in a rehearsal")

    def sub(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return _EXPR.sub(lambda m: _text(self.value(m.group(1))), text)

    def condition(self, text: str) -> bool:
        expr = _EXPR.sub(lambda m: m.group(1), text).strip()
        if "&&" in expr:
            return all(self.condition(part) for part in expr.split("&&"))
        if match := re.fullmatch(r"(!?)\s*([\w.-]+)", expr):
            return bool(self.value(match.group(2))) != bool(match.group(1))
        if match := re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", expr):
            equal = str(self.value(match.group(1))).lower() == match.group(3).lower()
            return equal == (match.group(2) == "==")
        raise RehearsalError(f"{self.where}: cannot evaluate if: {text}")


# The hosted actions a rehearsal does locally, from their inputs. An action that installs
# a program uses this machine's instead (cosign: the merge job of ci-template --sign), but
# setup-python is rehearsed: its cache check and a fresh interpreter (python.py).
_LOCAL: dict[str, Callable[[Mapping[str, Any]], Step]] = {
    "actions/checkout": lambda _with: checkout,
    "actions/setup-python": setup_python,
    "actions/upload-artifact": lambda w: upload(str(w["name"]), str(w["path"])),
    "actions/download-artifact": lambda w: download(
        str(w.get("pattern") or w.get("name") or "*"), str(w.get("path") or "."),
        merge="name" in w,
    ),
    "sigstore/cosign-installer": lambda _with: skip(
        "cosign-installer: this machine's cosign instead"
    ),
    "crazy-max/ghaction-github-runtime": lambda _with: skip(
        "github-runtime: no GitHub cache service here"
    ),
}  # fmt: skip


def _github_step(step: Mapping[str, Any], expr: _Expr, shell_env: Mapping[str, str]) -> Step:
    uses = str(step.get("uses", ""))
    action = uses.split("@", 1)[0]
    with_ = {k: expr.sub(v) for k, v in (step.get("with") or {}).items()}
    if action in _LOCAL:
        return _LOCAL[action](with_)
    if uses:
        raise RehearsalError(f"{expr.where}: action {uses} has no local equivalent")
    if str(step.get("id", "")) == "builder":
        # No buildkit image here to boot a docker-container builder: the current one builds.
        return skip("builder: this machine's current builder instead")
    script = expr.sub(str(step["run"]))
    env = {**shell_env, **{k: str(expr.sub(v)) for k, v in (step.get("env") or {}).items()}}
    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    if step.get("id") == "install":  # run as written, in the job's fresh venv
        return install(script_step(argv, env, script), script)
    return script_step(argv, env, script)


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


def github_event(git: GitHead, event: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``github`` context and the ``GITHUB_*`` event variables of ``event``.

    A pull request (``fork``: from a fork) is number 1 into main: ``refs/pull/1/merge``,
    ``github.event.pull_request.head.repo.fork`` telling which, as GitHub sends them.
    """
    if event == "push":
        ref = f"refs/tags/{git.tag}" if git.tag else f"refs/heads/{git.branch or 'main'}"
        github: dict[str, Any] = {"ref": ref, "ref_name": git.tag or git.branch or "main"}
        env = {}
    else:
        ref = f"refs/pull/{PR_NUMBER}/merge"
        github = {"ref": ref, "ref_name": f"{PR_NUMBER}/merge", "head_ref": git.branch or "topic",
                  "base_ref": "main", "event.number": PR_NUMBER,
                  "event.pull_request.number": PR_NUMBER,
                  "event.pull_request.head.repo.fork": event == "fork"}  # fmt: skip
        env = {"GITHUB_HEAD_REF": github["head_ref"], "GITHUB_BASE_REF": "main"}
    name = "push" if event == "push" else "pull_request"
    github.update({"actor": "rehearsal", "sha": git.sha, "event_name": name})
    env.update({"GITHUB_EVENT_NAME": name, "GITHUB_REF": ref,
                "GITHUB_REF_NAME": str(github["ref_name"])})  # fmt: skip
    return github, env


def github_jobs(
    doc: Mapping[str, Any],
    file: str,
    secrets: Mapping[str, str],
    git: GitHead,
    event: str = "push",
) -> list[Job]:
    """The workflow's jobs, one per matrix shard, with their steps as local equivalents."""
    jobs = doc.get("jobs") or {}
    levels = _levels(jobs, file)
    github, event_env = github_event(git, event)
    fork = event == "fork"
    if fork:  # a fork's run gets only the read-only GITHUB_TOKEN
        secrets = {k: v for k, v in secrets.items() if k == "GITHUB_TOKEN"}
    out: list[Job] = []
    for job_id, job in jobs.items():
        for index, matrix in enumerate(_matrix(job.get("strategy"))):
            where = f"{file}: job {job_id}"
            expr = _Expr(matrix, secrets, github, where, fork)
            name = str(expr.sub(job.get("name") or job_id))
            if len(_matrix(job.get("strategy"))) > 1 and name == job_id:
                name = f"{job_id} ({index})"
            env = {k: str(expr.sub(v)) for k, v in {**(doc.get("env") or {}),
                                                    **(job.get("env") or {})}.items()}  # fmt: skip
            steps: list[Step] = []
            for number, step in enumerate(job.get("steps") or [], 1):
                step_expr = _Expr(matrix, secrets, github, f"{where} step {number}", fork)
                if "if" in step and not step_expr.condition(str(step["if"])):
                    steps.append(skip(f"step {number} skipped: if {step['if']} is false"))
                    continue
                steps.append(_github_step(step, step_expr, env))
            provider_env = {
                "GITHUB_ACTIONS": "true", "GITHUB_SHA": git.sha, **event_env,
                "GITHUB_JOB": job_id, "RUNNER_OS": "Linux",
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


# The project's id, and a fork's: a fork's merge request pipeline runs in the fork.
PROJECT_ID, FORK_PROJECT_ID = "1", "2"


def gitlab_event(git: GitHead, event: str) -> dict[str, str]:
    """The ``CI_*`` variables of ``event``: a push, or merge request 1 into main.

    ``fork``: that merge request from a fork, its pipeline in the fork's project (GitLab's
    default): ``CI_PROJECT_ID`` is the fork's, ``CI_MERGE_REQUEST_PROJECT_ID`` the target's.
    """
    if event == "push":
        return {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_REF_NAME": git.tag or git.branch or "main",
                "CI_PROJECT_ID": PROJECT_ID,
                **({"CI_COMMIT_TAG": git.tag} if git.tag else
                   {"CI_COMMIT_BRANCH": git.branch} if git.branch else {})}  # fmt: skip
    # A merge request pipeline has no CI_COMMIT_BRANCH (GitLab's predefined variables).
    branch = git.branch or "topic"
    source = FORK_PROJECT_ID if event == "fork" else PROJECT_ID
    return {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_REF_NAME": branch,
            "CI_MERGE_REQUEST_IID": str(PR_NUMBER), "CI_OPEN_MERGE_REQUESTS": f"!{PR_NUMBER}",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "CI_PROJECT_ID": source, "CI_MERGE_REQUEST_PROJECT_ID": PROJECT_ID,
            "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": source}  # fmt: skip


def pipeline_variables(doc: Mapping[str, Any]) -> dict[str, str]:
    """A GitLab pipeline's global ``variables:``, as strings."""
    return {k: str(v) for k, v in (doc.get("variables") or {}).items()}


def gitlab_jobs(
    doc: Mapping[str, Any],
    file: str,
    secrets: Mapping[str, str],
    git: GitHead,
    event: str = "push",
) -> list[Job]:
    """The pipeline's jobs, one per parallel:matrix entry, with their scripts."""
    event_env = gitlab_event(git, event)
    if "include" in doc:
        raise RehearsalError(f"{file}: include: is not rehearsed; rehearse the generated file")
    if event == "fork":
        if "CI_MERGE_REQUEST_PROJECT_ID" not in json.dumps(doc):
            raise RehearsalError(
                f"{file}: --event fork: this pipeline has no fork path (its jobs would push"
                " with the fork's token and fail); ci-template's docker variant has one"
            )
        secrets = {}  # the project's masked variables are not in the fork's project
    stages = list(doc.get("stages") or ["build", "test", "deploy"])
    base_vars = pipeline_variables(doc)
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
                "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_ID": str(os.getpid()),
                "CI_JOB_ID": str(index), "CI_JOB_NAME": name, **event_env,
            }  # fmt: skip
            own = {k: str(v) for k, v in (job.get("variables") or {}).items()}
            variables = {**base_vars, **own, **matrix}
            notes = [_image_note(job, where)]
            before = job.get("before_script") or []
            steps: list[Step] = [checkout, restore_artifacts]
            if before:
                steps.append(skip(f"before_script (provider setup) skipped: {'; '.join(before)}"))
            script = "\n".join(str(line) for line in job.get("script") or [])
            steps.append(_gitlab_script(script, variables, secrets))
            paths = list((job.get("artifacts") or {}).get("paths") or [])
            if paths:
                steps.append(keep_artifacts(paths))
            runner = ", ".join(_expand(str(t), variables) for t in job.get("tags") or [])
            out.append(Job(name, stages.index(stage), runner, provider, tuple(steps), tuple(notes)))
    return out


def _gitlab_script(script: str, variables: Mapping[str, str], secrets: Mapping[str, str]) -> Step:
    def step(ctx: Context) -> str:
        known = {**ctx.env, **secrets}
        env = {**secrets, **{k: _expand(v, known) for k, v in variables.items()}}
        # A job's own DOCKER_CONFIG (the buildah merge job's $CI_PROJECT_DIR/.docker) would
        # leave its login in the workspace, under the project: the rehearsal's, outside it.
        env.pop("DOCKER_CONFIG", None)
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
