"""One rehearsed job's context, and the local equivalents of what only a hosted runner has.

``checkout`` copies the project, ``upload``/``download`` and GitLab's artifacts copy
directories between job workspaces, ``script_step`` runs a script in the provider's shell
through the runner. Under ``--dry`` none of them touches a file.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import MultiarchError

COPY_IGNORE = shutil.ignore_patterns(".multiarch", ".nox", ".venv", "__pycache__", ".mypy_cache")


class RehearsalError(MultiarchError):
    """The pipeline cannot be rehearsed here, or one of its jobs failed."""


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


def checkout(ctx: Context) -> str:
    """``actions/checkout`` / GitLab's clone: copy the project, ``.git`` included."""
    if ctx.runner.dry:
        return f"checkout: would copy {ctx.project} to {ctx.workspace}"
    shutil.copytree(ctx.project, ctx.workspace, symlinks=True, ignore=COPY_IGNORE,
                    dirs_exist_ok=True)  # fmt: skip
    return f"checkout: copied {ctx.project} (with .git) to {ctx.workspace}"


def copy_path(src: Path, dest: Path) -> None:
    """Copy a file or a directory tree (merging into an existing one)."""
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def skip(note: str) -> Step:
    """A step that runs nothing here and says why."""
    return lambda _ctx: note


def script_step(argv: Sequence[str], env: Mapping[str, str] | None = None, shown: str = "") -> Step:
    """A script in the provider's shell, as one process through the runner."""

    def step(ctx: Context) -> str:
        ctx.run(argv, env)
        return f"ran: {shown or argv[-1]}"

    return step


def _git(runner: Runner, project: Path, *args: str) -> str:
    result = runner.run(["git", "-C", str(project), *args], probe=True, check=False, timeout=30)
    return result.stdout.strip() if result.ok else ""


@dataclass(frozen=True)
class GitHead:
    """The project's commit, branch and exact tag, as the CI would see them."""

    sha: str
    branch: str
    tag: str


def git_head(runner: Runner, project: Path) -> GitHead:
    """Read the project's HEAD through the runner (read-only probes)."""
    return GitHead(
        _git(runner, project, "rev-parse", "HEAD"),
        _git(runner, project, "symbolic-ref", "--quiet", "--short", "HEAD"),
        _git(runner, project, "describe", "--tags", "--exact-match", "HEAD"),
    )


def upload(name: str, path: str) -> Step:
    """``actions/upload-artifact``: copy PATH into the artifact store under NAME."""

    def step(ctx: Context) -> str:
        src = ctx.workspace / path
        if ctx.runner.dry:
            return f"upload-artifact: would copy {path} to artifact {name}"
        if not src.exists():
            raise RehearsalError(f"{ctx.name}: upload-artifact: {path} does not exist")
        copy_path(src, ctx.artifacts / name)
        return f"upload-artifact: {path} -> artifact {name}"

    return step


def download(pattern: str, path: str, *, merge: bool) -> Step:
    """``actions/download-artifact``: each matching artifact into PATH/NAME (or PATH)."""

    def step(ctx: Context) -> str:
        if ctx.runner.dry:
            return f"download-artifact: would copy {pattern} to {path}"
        names = sorted(p.name for p in ctx.artifacts.iterdir() if fnmatch.fnmatch(p.name, pattern))
        if not names:
            raise RehearsalError(f"{ctx.name}: download-artifact: no artifact matches {pattern}")
        for name in names:
            dest = ctx.workspace / path if merge else ctx.workspace / path / name
            copy_path(ctx.artifacts / name, dest)
        return f"download-artifact: {', '.join(names)} -> {path}"

    return step


def keep_artifacts(paths: Sequence[str]) -> Step:
    """GitLab ``artifacts: paths``: keep them for the later stages."""

    def step(ctx: Context) -> str:
        if ctx.runner.dry:
            return f"artifacts: would keep {', '.join(paths)}"
        for path in paths:
            src = ctx.workspace / path
            if not src.exists():
                raise RehearsalError(f"{ctx.name}: artifact path {path} does not exist")
            copy_path(src, ctx.artifacts / "gitlab" / str(ctx.stage) / slug(ctx.name) / path)
        return f"artifacts: {', '.join(paths)}"

    return step


def restore_artifacts(ctx: Context) -> str:
    """GitLab's default: every artifact of the earlier stages, at its path."""
    store = ctx.artifacts / "gitlab"
    if ctx.runner.dry:
        return "artifacts of earlier stages: would be restored"
    jobs = []
    for stage in sorted(store.iterdir() if store.is_dir() else (), key=lambda p: int(p.name)):
        if int(stage.name) >= ctx.stage:
            continue
        for job in sorted(stage.iterdir()):
            copy_path(job, ctx.workspace)
            jobs.append(job.name)
    return f"artifacts of earlier stages restored: {', '.join(jobs) or 'none'}"


def slug(name: str) -> str:
    """A job name as a directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
