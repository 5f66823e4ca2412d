"""Rehearse the generated GitHub and GitLab pipelines on the test bed (issue 11).

A project (examples/hello, a git checkout, its settings in pyproject.toml) gets the
pipeline from ci-template; the rehearsal runs each shard's commands as separate processes
with its own workspace, output directory and DOCKER_CONFIG (logging in to the test
registry), then the merge job, which merges and verifies. The registry then holds one index
over linux/amd64, linux/arm64 and linux/s390x.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
from pathlib import Path

import pytest

from multiarch_tasks.ci import templates as ci
from multiarch_tasks.ci.rehearse import run as rehearse
from multiarch_tasks.config.settings import settings_from
from multiarch_tasks.engine.runner import Runner
from tests.conftest import (
    APP_ONLY,
    EXAMPLE,
    index_platforms,
    pinned_requirement,
    run_cli,
    tag_digest,
)

pytestmark = pytest.mark.e2e
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/s390x"]
FILES = {"github": ".github/workflows/multiarch.yml", "gitlab": ".gitlab-ci.yml"}


def make_project(tmp: Path, repo: str, base: str, install: str = "multiarch-tasks==0.1.0") -> Path:
    project = tmp / "project"
    # Only the app: the example's invoke.yaml points at the demo's registry.
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    (project / "pyproject.toml").write_text(
        "[tool.multiarch-tasks]\n"
        f'image = "{repo}"\n'
        'tags = ["rehearsed"]\n'
        f"platforms = {json.dumps(PLATFORMS)}\n"
        f'build_args = {{ BASE = "{base}" }}\n'
        # The test venv's editable install has no URL a job could install from.
        f"install = {json.dumps(install)}\n"
    )
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"]):
        subprocess.run(["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t",
                        *argv], check=True, capture_output=True)  # fmt: skip
    return project


def repository_tags(registry, repo: str) -> list[str]:
    try:
        found, _ = registry.get_json(f"/v2/{repo.split('/', 1)[1]}/tags/list")
    except urllib.error.HTTPError as err:
        if err.code != 404:  # 404: the repository was never pushed to
            raise
        return []
    return list(found.get("tags") or [])  # type: ignore[call-overload]


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_rehearsed_pipeline_publishes_an_index_that_verifies(
    base_image, registry, repo, tmp_path, provider, capsys
):
    # The install line runs as written (issue 20): this repository's HEAD, pinned.
    project = make_project(tmp_path, repo, base_image.ref, pinned_requirement(tmp_path)[0])
    settings = settings_from(pyproject=project / "pyproject.toml")
    text = ci.ci_template(settings, provider, local_registry=True)
    path = ci.write_template(project / FILES[provider], text)

    result = rehearse.rehearse(path, Runner(), project=project)

    assert result.ok, result.render()
    assert [j.name for j in result.jobs][-1] == "merge"
    assert len(result.jobs) == 4
    # Published to the scratch repository (issue 20), never the project's own.
    ref = f"{repo}-rehearsal:rehearsed"
    assert repository_tags(registry, repo) == []
    assert index_platforms(registry, ref) == PLATFORMS
    assert run_cli("verify", ref, "--platforms", ",".join(PLATFORMS)).returncode == 0
    work = project / rehearse.WORK_DIR / "jobs"
    out = capsys.readouterr().out
    # Each job logged in with its own DOCKER_CONFIG, kept outside the project and removed.
    logins = {line.split("] ")[0] for line in out.splitlines() if "Login Succeeded" in line}
    assert len(logins) == 4, out
    assert not list((project / ".multiarch").rglob("config.json"))
    digests = sorted(work.glob("*/workspace/out/linux-*/digests.json"))
    assert [json.loads(d.read_text()).keys() for d in digests if "merge" not in str(d)] == [
        {p} for p in PLATFORMS
    ]
    if provider == "github":
        # qemu-setup ran in the shard that emulates, and only there.
        emulated = {line.split("] ")[0] for line in out.splitlines() if "qemu-setup (" in line}
        assert len(emulated) == 1
        assert "s390x" in emulated.pop()
    else:  # GitLab registers QEMU, then creates the builder, in before_script (skipped here)
        skipped = [n for j in result.jobs for n in j.notes if n.startswith("before_script")]
        assert len([n for n in skipped if "multiarch builder-create" in n]) == 3
    # issue 20: one registry cache per platform, exported with mode=max (the template's
    # --cache auto on GitHub without its cache service, --cache registry on GitLab), in
    # the scratch repository like everything the rehearsal writes.
    scratch = f"{repo}-rehearsal"
    cached = set(registry.tags(scratch.split("/", 1)[1]))
    assert {f"buildcache-{p.replace('/', '-')}" for p in PLATFORMS} <= cached
    cache = f"{scratch}:buildcache-linux-arm64"
    assert f"cache linux-arm64: import type=registry,ref={cache}; export type=registry," in out
    assert "stand-in-password" not in out
    assert (
        tag_digest(registry, ref)
        == json.loads((work / "merge" / "workspace" / "merge.json").read_text())["digest"]
    )


def test_rehearsed_gitlab_buildah_variant_merges_natively_and_pushes_its_layer_cache(
    base_image, registry, repo, tmp_path
):
    """buildah jobs (no multiarch in them) write the shard files by shell; merge is native."""
    project = make_project(tmp_path, repo, base_image.ref)
    with (project / "pyproject.toml").open("a") as fh:
        fh.write(f'insecure_registries = ["{registry.host}"]\n')
    settings = settings_from(pyproject=project / "pyproject.toml")
    text = ci.ci_template(
        settings,
        "gitlab",
        variant="buildah",
        runner_labels={"linux/s390x": "my-s390x-runner"},
        local_registry=True,
    )
    path = ci.write_template(project / FILES["gitlab"], text)

    try:
        result = rehearse.rehearse(path, Runner(), project=project)
    finally:  # the jobs' local manifest lists (CI_PIPELINE_ID is this process's id)
        for platform in PLATFORMS:
            name = f"localhost/multiarch-{os.getpid()}-{platform.replace('/', '-')}"
            subprocess.run(["buildah", "manifest", "rm", name], capture_output=True, check=False)

    assert result.ok, result.render()
    assert [j.name for j in result.jobs] == [
        "build-linux-amd64", "build-linux-arm64", "build-linux-s390x", "merge",
    ]  # fmt: skip
    assert index_platforms(registry, f"{repo}-rehearsal:rehearsed") == PLATFORMS
    # The shards' pushes (docker://IMAGE:ci-...) went to the scratch repository too, and
    # so did each step's layer, pushed by buildah's --cache-to for the next runner.
    assert repository_tags(registry, repo) == []
    assert repository_tags(registry, f"{repo}-rehearsal/buildcache")
    assert repository_tags(registry, f"{repo}/buildcache") == []
    # The merge job's own DOCKER_CONFIG ($CI_PROJECT_DIR/.docker) was not written there.
    assert not list((project / ".multiarch").rglob("config.json"))
    work = project / rehearse.WORK_DIR / "jobs"
    shard = json.loads(
        (work / "build-linux-s390x/workspace/out/linux-s390x/shard.json").read_text()
    )
    assert shard["platforms"] == ["linux/s390x"]
    assert len(shard["commit"]) == 40
