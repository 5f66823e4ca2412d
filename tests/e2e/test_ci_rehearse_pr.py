"""ci-rehearse runs the pull-request paths of a generated GitHub workflow (issue 20 item 9).

``--event fork``: a pull request from a fork has no secrets, so the login steps are skipped
by their ``if:``, each shard builds an OCI layout (amd64, arm64, s390x), the merge job joins
them into one layout and verifies ``oci-layout://...``; nothing reaches the registry. With an
x86-64 program in the arm64 slot the rehearsal fails naming linux/arm64 (the project sets
``verify_deep = "all"``, which the jobs' ``verify`` reads). ``--event pull_request`` (a branch
of the repository: it has the secrets) merges to ``pr-1-<sha>`` in the scratch repository,
verified, and the project's own tags stay where they were.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from multiarch_tasks.ci import templates as ci
from multiarch_tasks.ci.rehearse import run as rehearse
from multiarch_tasks.config.settings import settings_from
from multiarch_tasks.engine.runner import Runner
from testbed.base_images import busybox_binary
from tests.conftest import buildx_push, index_platforms, pinned_requirement, run_cli, tag_digest

pytestmark = pytest.mark.e2e
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/s390x"]
RIGHT = {"amd64": "amd64", "arm64": "arm64", "s390x": "s390x"}


def git(project: Path, *argv: str) -> str:
    done = subprocess.run(["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t",
                           *argv], check=True, capture_output=True, text=True)  # fmt: skip
    return done.stdout


def make_project(tmp: Path, repo: str, base: str, tools: dict[str, str]) -> Path:
    """A git project whose Dockerfile copies ``tool-$TARGETARCH`` (``tools``: arch -> the
    Debian arch whose busybox it holds), with its generated GitHub workflow committed."""
    project = tmp / "project"
    project.mkdir()
    for arch, debian in tools.items():
        shutil.copy(busybox_binary(debian), project / f"tool-{arch}")
    (project / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nARG TARGETARCH\nCOPY tool-${TARGETARCH} /usr/local/bin/tool\n"
    )
    (project / "pyproject.toml").write_text(
        "[tool.multiarch-tasks]\n"
        f'image = "{repo}"\n'
        'tags = ["0.1.0", "latest"]\n'
        f"platforms = {json.dumps(PLATFORMS)}\n"
        f'build_args = {{ BASE = "{base}" }}\n'
        'verify_deep = "all"\n'
        f"install = {json.dumps(pinned_requirement(tmp)[0])}\n"
    )
    settings = settings_from(pyproject=project / "pyproject.toml")
    text = ci.ci_template(settings, "github", local_registry=True, project=str(project))
    ci.write_template(project / ".github/workflows/multiarch.yml", text)
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"]):
        git(project, *argv)
    return project


def rehearse_cli(project: Path, event: str) -> object:
    return run_cli(
        "ci-rehearse", str(project / ".github/workflows/multiarch.yml"),
        "--project", str(project), "--event", event,
    )  # fmt: skip


def test_fork_rehearsal_builds_three_layouts_merges_and_verifies_them_writing_no_tag(
    base_image, registry, repo, tmp_path
):
    project = make_project(tmp_path, repo, base_image.ref, RIGHT)

    done = rehearse_cli(project, "fork")

    assert done.returncode == 0, done.output[-4000:]
    head = done.stdout.splitlines()[:3]
    assert any("event fork" in line for line in head), head
    # No secrets in a fork's run: every login step was skipped by its if:.
    assert_fork_run(done, project, registry, repo)


def assert_fork_run(done, project: Path, registry, repo: str) -> None:
    """A fork's rehearsal: no login ran, a layout per shard merged into one and verified,
    no registry tag written (neither the project's repository nor the scratch one)."""
    assert "Login Succeeded" not in done.stdout
    jobs = project / rehearse.WORK_DIR / "jobs"
    for platform in PLATFORMS:
        shard = platform.replace("/", "-")
        layout = next(jobs.glob(f"*/workspace/out/{shard}/layout/index.json"))
        assert json.loads(layout.read_text())["manifests"], layout
    merged = json.loads((jobs / "merge/workspace/merge.json").read_text())
    assert merged["tags"][0].startswith("oci-layout://out/merge/layout:"), merged
    assert "ELF programs checked" in done.stdout  # verify_deep = "all" ran in the verify job
    assert registry.tags(repo.split("/", 1)[1]) == []
    assert registry.tags(f"{repo}-rehearsal".split("/", 1)[1]) == []


def test_gitlab_fork_rehearsal_skips_the_logins_builds_layouts_and_writes_no_tag(
    base_image, registry, repo, tmp_path
):
    """GitLab's docker variant: a fork's merge request pipeline runs in the fork's project,
    without the project's masked variables; its jobs see CI_PROJECT_ID differ from
    CI_MERGE_REQUEST_PROJECT_ID, skip their logins and build and merge OCI layouts."""
    project = make_project(tmp_path, repo, base_image.ref, RIGHT)
    settings = settings_from(pyproject=project / "pyproject.toml")
    # Logins from the project's masked variables: a fork has none, so a login that ran fails.
    text = ci.ci_template(settings, "gitlab", local_registry=True, project=str(project),
                          login="secrets")  # fmt: skip
    ci.write_template(project / ".gitlab-ci.yml", text)
    git(project, "add", ".")
    git(project, "commit", "-qm", "gitlab")

    done = run_cli(
        "ci-rehearse", str(project / ".gitlab-ci.yml"), "--project", str(project),
        "--event", "fork",
    )  # fmt: skip

    assert done.returncode == 0, done.output[-4000:]
    assert_fork_run(done, project, registry, repo)


def test_fork_rehearsal_fails_naming_arm64_when_its_slot_holds_an_x86_64_program(
    base_image, registry, repo, tmp_path
):
    project = make_project(tmp_path, repo, base_image.ref, {**RIGHT, "arm64": "amd64"})

    done = rehearse_cli(project, "fork")

    assert done.returncode == 1, done.output[-4000:]
    assert "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)" in done.stdout, (
        done.output[-4000:]
    )
    assert "Traceback" not in done.output
    assert registry.tags(repo.split("/", 1)[1]) == []
    assert registry.tags(f"{repo}-rehearsal".split("/", 1)[1]) == []


def test_pull_request_rehearsal_merges_to_a_pr_tag_in_the_scratch_repository_only(
    base_image, registry, repo, tmp_path, capsys
):
    project = make_project(tmp_path, repo, base_image.ref, RIGHT)
    # The project's real release, published before the rehearsal.
    buildx_push(["docker", "buildx", "imagetools", "create", "--tag", f"{repo}:0.1.0",
                 base_image.ref])  # fmt: skip
    before = registry.tags(repo.split("/", 1)[1]), tag_digest(registry, f"{repo}:0.1.0")
    sha = git(project, "rev-parse", "HEAD").strip()

    result = rehearse.rehearse(
        project / ".github/workflows/multiarch.yml", Runner(), project=project,
        event="pull_request",
    )  # fmt: skip

    out = capsys.readouterr().out
    assert result.ok, result.render()
    assert any("event pull_request" in line for line in out.splitlines()[:3]), out[:2000]
    after = registry.tags(repo.split("/", 1)[1]), tag_digest(registry, f"{repo}:0.1.0")
    assert after == before
    ref = f"{repo}-rehearsal:pr-1-{sha}"
    assert index_platforms(registry, ref) == PLATFORMS
    assert run_cli("verify", ref, "--platforms", ",".join(PLATFORMS)).returncode == 0
    scratch_tags = registry.tags(f"{repo}-rehearsal".split("/", 1)[1])
    assert not {"0.1.0", "latest"} & set(scratch_tags), scratch_tags
    merge_json = project / rehearse.WORK_DIR / "jobs/merge/workspace/merge.json"
    merged = json.loads(merge_json.read_text())
    assert merged["tags"] == [ref]


def test_rehearsing_a_push_of_a_branch_the_workflow_ignores_says_so_first(
    base_image, registry, repo, tmp_path
):
    project = make_project(tmp_path, repo, base_image.ref, RIGHT)
    git(project, "checkout", "-q", "-b", "topic")
    done = run_cli(
        "--dry", "ci-rehearse", str(project / ".github/workflows/multiarch.yml"),
        "--project", str(project),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    head = done.stdout.splitlines()[:3]
    assert head[2] == (
        "rehearse: note: GitHub would start no run of this workflow for this event (a push to"
        " topic: on.push.branches is main); rehearsing its jobs anyway"
    ), head
    # On main it starts: no note.
    git(project, "checkout", "-q", "main")
    done = run_cli(
        "--dry", "ci-rehearse", str(project / ".github/workflows/multiarch.yml"),
        "--project", str(project),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    assert "rehearse: note:" not in done.stdout
