"""No planted secret in any byte a task writes, in any output mode (issue 17, point 1).

The same secrets go through every task that takes build args or build secrets (the flag
table's ``build_arg``/``secret`` rows: publish, build, preflight, lint; and the two that
read them from the project's settings: ci-template, which writes them into a pipeline, and
ci-rehearse, which runs that pipeline's jobs), through the real
``multiarch`` CLI, the real engine and the loopback registry: as plain text, with
``--json``, with invoke's ``--dry``, and as GitHub Actions sees them (``GITHUB_ACTIONS=true``
and a ``GITHUB_STEP_SUMMARY`` file). Every byte of stdout, stderr, every file under the
output directory and the summary file is searched for each planted value.

Planted: two secret-looking build args (``API_TOKEN``, ``DB_PASSWORD``), the password of a
URL's userinfo (``postgres://user:PW@db/x``), a ``?token=`` query parameter and a build
secret's value (``--secret id=tok,env=MY_TOK``). Real builds are few (a real publish takes
seconds to minutes); the ``--dry`` runs and the read-only tasks are cheap.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CliResult, pinned_requirement, run_cli

pytestmark = pytest.mark.e2e

PLATFORMS = "linux/amd64,linux/arm64"


@dataclass(frozen=True)
class Planted:
    """The secret values of one test and the flags and env that carry them."""

    values: dict[str, str]  # what it is -> the value that must never appear
    flags: tuple[str, ...]  # --build-arg ... --secret ...
    env: dict[str, str]

    def build_args(self) -> tuple[str, ...]:
        """The build-arg flags only (for the tasks without --secret)."""
        out: list[str] = []
        for i, flag in enumerate(self.flags):
            if flag == "--build-arg":
                out += [flag, self.flags[i + 1]]
        return tuple(out)


def _plant(base: str) -> Planted:
    values = {
        "API_TOKEN build arg": f"at{secrets.token_hex(10)}",
        "DB_PASSWORD build arg": f"dp{secrets.token_hex(10)}",
        "URL userinfo password": f"up{secrets.token_hex(10)}",
        "URL ?token= query": f"qt{secrets.token_hex(10)}",
        "--secret env value": f"st{secrets.token_hex(10)}",
    }
    flags = (
        "--build-arg", f"BASE={base}",
        "--build-arg", f"API_TOKEN={values['API_TOKEN build arg']}",
        "--build-arg", f"DB_PASSWORD={values['DB_PASSWORD build arg']}",
        "--build-arg",
        f"DATABASE_URL=postgres://app:{values['URL userinfo password']}@db.internal/x",
        "--build-arg",
        f"HOOK_URL=https://hooks.example/notify?token={values['URL ?token= query']}&ref=main",
        "--secret", "id=tok,env=MY_TOK",
    )  # fmt: skip
    return Planted(values, flags, {"MY_TOK": values["--secret env value"]})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose RUN steps print every planted value (so the build log carries them)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM ${BASE}\n"
        "ARG API_TOKEN\n"
        "ARG DB_PASSWORD\n"
        "ARG DATABASE_URL\n"
        "ARG HOOK_URL\n"
        'RUN echo "args:$API_TOKEN $DB_PASSWORD $DATABASE_URL $HOOK_URL"\n'
        'RUN --mount=type=secret,id=tok echo "secret:$(cat /run/secrets/tok)"\n'
    )
    return project


def _checked_out(path: Path, checkout: Path | None) -> bool:
    """Whether ``path`` is a rehearsed job's copy of a project file: its input, not output."""
    _, copied, rel = str(path).partition("/workspace/")
    source = checkout / rel if checkout and copied else None
    return bool(source and source.is_file() and source.read_bytes() == path.read_bytes())


class Leaks:
    """Which planted value appeared where, over every run of one test."""

    def __init__(self, planted: Planted) -> None:
        self.planted = planted
        self.found: list[str] = []
        self.runs = 0

    def run(
        self,
        name: str,
        *args: str,
        cwd: Path,
        out: Path,
        github: bool = False,
        expect: int | None = 0,
        checkout: Path | None = None,
    ) -> CliResult:
        """Run ``multiarch ARGS``; record each planted value in any byte it wrote."""
        self.runs += 1
        env = dict(self.planted.env)
        summary = out / "step-summary.md"
        if github:
            out.mkdir(parents=True, exist_ok=True)
            summary.touch()
            env |= {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
        done = run_cli(*args, cwd=cwd, env=env)
        if expect is not None:
            assert done.returncode == expect, f"{name}: {done.output[-3000:]}"
        places = {"stdout": done.stdout, "stderr": done.stderr}
        if out.is_dir():
            for path in sorted(out.rglob("*")):
                if path.is_file() and not _checked_out(path, checkout):
                    places[str(path.relative_to(out))] = path.read_text(errors="replace")
        for what, value in self.planted.values.items():
            for where, text in places.items():
                if value in text:
                    self.found.append(f"{name}: {what} in {where}")
        return done

    def assert_none(self) -> None:
        assert self.runs
        assert self.found == [], "planted secrets leaked:\n" + "\n".join(self.found)


@pytest.mark.parametrize("github", [False, True], ids=["plain", "github-actions"])
def test_no_planted_secret_in_dry_runs_or_read_only_tasks_text_json_or_github(
    base_image, registry, repo, project, tmp_path, engine, qemu, github
):
    planted = _plant(base_image.ref)
    leaks = Leaks(planted)
    common = ("--platforms", PLATFORMS)
    for mode, json_flag in (("text", ()), ("json", ("--json",))):
        for task in ("publish", "build"):
            out = tmp_path / f"{task}-{mode}"
            leaks.run(
                f"--dry {task} {mode}",
                "--dry", task, "--image", repo, "--tag", f"dry-{mode}", *common,
                *planted.flags, "--output-dir", str(out), *json_flag,
                cwd=project, out=out, github=github,
            )  # fmt: skip
        for task in ("preflight", "lint"):
            for dry in ((), ("--dry",)):
                out = tmp_path / f"{task}-{mode}-{len(dry)}"
                out.mkdir()
                leaks.run(
                    f"{' '.join(dry)} {task} {mode}".strip(),
                    *dry, task, *common, *planted.build_args(), *json_flag,
                    cwd=project, out=out, github=github, expect=None,
                )  # fmt: skip
    leaks.assert_none()


def test_no_planted_secret_in_real_publish_and_build_text_json_or_github(
    base_image, registry, repo, project, tmp_path, engine, qemu
):
    planted = _plant(base_image.ref)
    leaks = Leaks(planted)
    common = ("--platforms", PLATFORMS, *planted.flags)
    text = leaks.run(
        "publish text (GitHub Actions)",
        "publish", "--image", repo, "--tag", "text", *common,
        "--output-dir", str(tmp_path / "publish-text"),
        cwd=project, out=tmp_path / "publish-text", github=True,
    )  # fmt: skip
    # The values really went through the build (echoed by its RUN steps), hidden.
    assert "args:*** ***" in text.stdout
    assert "secret:***" in text.stdout
    leaks.run(
        "publish --json",
        "publish", "--image", repo, "--tag", "json", *common, "--json",
        "--output-dir", str(tmp_path / "publish-json"),
        cwd=project, out=tmp_path / "publish-json",
    )  # fmt: skip
    leaks.run(
        "build --json (GitHub Actions)",
        "build", "--image", repo, "--tag", "build", *common, "--json",
        "--output-dir", str(tmp_path / "build-json"),
        cwd=project, out=tmp_path / "build-json", github=True,
    )  # fmt: skip
    leaks.assert_none()


def test_no_planted_secret_when_a_build_fails_under_debug_json_and_github(
    base_image, registry, repo, project, tmp_path, engine
):
    planted = _plant(base_image.ref)
    leaks = Leaks(planted)
    dockerfile = project / "Dockerfile"
    # The failing step prints every value last, where the error line and the JSON error
    # take their text from; --debug adds the traceback.
    dockerfile.write_text(
        dockerfile.read_text()
        + "RUN --mount=type=secret,id=tok sh -c 'echo \"$API_TOKEN $DB_PASSWORD"
        " $DATABASE_URL $HOOK_URL $(cat /run/secrets/tok)\"; exit 3'\n"
    )
    for task, json_flag in (("publish", ("--json",)), ("build", ())):
        out = tmp_path / f"{task}-fail"
        done = leaks.run(
            f"--debug {task} failing {' '.join(json_flag)}",
            "--debug", task, "--image", repo, "--platforms", "linux/amd64", *planted.flags,
            "--output-dir", str(out), *(("--no-preflight",) if task == "publish" else ()),
            *json_flag,
            cwd=project, out=out, github=True, expect=1,
        )  # fmt: skip
        assert "::error" in done.stderr, done.stderr[-2000:]
    leaks.assert_none()


def _settings_project(
    project: Path, repo: str, planted: Planted, install: str = "multiarch-tasks==0.1.0"
) -> Path:
    """``project`` with the planted build args and secret in its settings, as a git checkout.

    ci-template and ci-rehearse take no --build-arg: they read the project's settings.
    """
    args = dict(a.split("=", 1) for a in planted.build_args()[1::2])
    (project / "pyproject.toml").write_text(
        "[tool.multiarch-tasks]\n"
        f'image = "{repo}"\n'
        'tags = ["rehearsed"]\n'
        f'platforms = "{PLATFORMS}"\n'
        f"build_args = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in args.items())} }}\n"
        'secrets = ["id=tok,env=MY_TOK"]\n'
        # The test venv's editable install has no URL a job could install from.
        f"install = {json.dumps(install)}\n"
    )
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"]):
        subprocess.run(["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t",
                        *argv], check=True, capture_output=True)  # fmt: skip
    return project


CI_TEMPLATES = (
    ("github", "docker", ".github/workflows/multiarch.yml"),
    ("gitlab", "docker", ".gitlab-ci.yml"),
    ("gitlab", "kaniko", "kaniko.gitlab-ci.yml"),
    ("gitlab", "buildah", "buildah.gitlab-ci.yml"),
)


@pytest.mark.parametrize("github", [False, True], ids=["plain", "github-actions"])
def test_no_planted_secret_in_ci_template_output_or_files_nor_in_dry_ci_rehearse(
    base_image, registry, repo, project, tmp_path, github
):
    """ci-template printed and written (each provider and variant), and ci-rehearse --dry
    of each written pipeline, as text and --json: no planted value anywhere."""
    planted = _plant(base_image.ref)
    leaks = Leaks(planted)
    _settings_project(project, repo, planted)
    out = tmp_path / "ci"
    for provider, variant, name in CI_TEMPLATES:
        flags = ("--provider", provider, "--variant", variant, "--local-registry")
        for dry in ((), ("--dry",)):
            leaks.run(
                f"{' '.join(dry)} ci-template {provider} {variant} (stdout)".strip(),
                *dry, "ci-template", *flags, cwd=project, out=out / "stdout", github=github,
            )  # fmt: skip
        leaks.run(
            f"ci-template {provider} {variant} --output",
            "ci-template", *flags, "--output", str(out / name),
            cwd=project, out=out, github=github,
        )  # fmt: skip
    written = (out / "kaniko.gitlab-ci.yml").read_text()
    # The secret build args are read from CI variables, not hidden (`***` breaks the build).
    assert '"API_TOKEN=$API_TOKEN"' in written
    assert '"DATABASE_URL=$DATABASE_URL"' in written
    for _provider, variant, name in CI_TEMPLATES:
        if variant == "kaniko":
            continue  # kaniko cannot run here: rehearse refuses it, naming why
        for json_flag in ((), ("--json",)):
            leaks.run(
                f"--dry ci-rehearse {name} {' '.join(json_flag)}".strip(),
                "--dry", "ci-rehearse", str(out / name), "--project", str(project),
                "--work-dir", str(tmp_path / "rehearsal"), *json_flag,
                cwd=project, out=out, github=github,
            )  # fmt: skip
    leaks.assert_none()


def test_no_planted_secret_in_a_real_ci_rehearse_of_the_github_pipeline_text_and_json(
    base_image, registry, repo, project, tmp_path, engine, qemu
):
    """The rehearsed jobs really build with the planted values (their RUN steps echo them)."""
    planted = _plant(base_image.ref)
    leaks = Leaks(planted)
    # The install line runs as written (issue 20): this repository's HEAD, pinned.
    _settings_project(project, repo, planted, pinned_requirement(tmp_path)[0])
    pipeline = tmp_path / "ci" / "multiarch.yml"
    leaks.run("ci-template github", "ci-template", "--local-registry", "--output", str(pipeline),
              cwd=project, out=tmp_path / "ci")  # fmt: skip
    work = tmp_path / "rehearse" / "work"  # scanned with the summary file beside it
    for json_flag in ((), ("--json",)):
        done = leaks.run(
            f"ci-rehearse {' '.join(json_flag)}".strip(),
            "ci-rehearse", str(pipeline), "--project", str(project), "--work-dir", str(work),
            *json_flag, cwd=project, out=work.parent, github=True, checkout=project,
        )  # fmt: skip
        if not json_flag:
            assert "args:*** ***" in done.output  # the values went through the build, hidden
            assert "secret:***" in done.output
    leaks.assert_none()
