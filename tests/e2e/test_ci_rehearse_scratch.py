"""A rehearsal never touches the project's real tags, and leaves nothing git would pick up.

Issue 20 item 6: the project has already published ``0.1.0`` and ``latest``; rehearsing its
generated workflow publishes to a scratch repository (``IMAGE-rehearsal`` on the same local
registry), says so first, removes the staging and per-arch tags it made where the registry
allows (this Distribution 2.8 refuses tag deletes: the output names what was left), and its
``.multiarch/`` is ignored by its own ``.gitignore`` and holds no credentials.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from multiarch_tasks.ci import templates as ci
from multiarch_tasks.ci.rehearse import run as rehearse
from multiarch_tasks.config.settings import settings_from
from multiarch_tasks.engine.runner import Runner
from tests.conftest import (
    APP_ONLY,
    EXAMPLE,
    buildx_push,
    index_platforms,
    pinned_requirement,
    tag_digest,
)

pytestmark = pytest.mark.e2e
PLATFORMS = ["linux/amd64", "linux/arm64"]
TAGS = ["0.1.0", "latest"]


def git(project: Path, *argv: str) -> str:
    done = subprocess.run(["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t",
                           *argv], check=True, capture_output=True, text=True)  # fmt: skip
    return done.stdout


def make_project(tmp: Path, image: str, base: str, install: str) -> Path:
    project = tmp / "project"
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    (project / "pyproject.toml").write_text(
        "[tool.multiarch-tasks]\n"
        f'image = "{image}"\n'
        f"tags = {json.dumps(TAGS)}\n"
        f"platforms = {json.dumps(PLATFORMS)}\n"
        f'build_args = {{ BASE = "{base}" }}\n'
        f"install = {json.dumps(install)}\n"
    )
    for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"]):
        git(project, *argv)
    return project


def test_rehearsal_keeps_real_tags_and_its_dir_is_ignored_without_credentials(
    base_image, registry, repo, tmp_path, capsys
):
    # The install line runs as written: this repository's HEAD, pinned.
    project = make_project(tmp_path, repo, base_image.ref, pinned_requirement(tmp_path)[0])
    # The project's real release, published before the rehearsal (one tag per push:
    # Distribution can answer 400 to two concurrent PUTs of one manifest).
    for tag in TAGS:
        buildx_push(["docker", "buildx", "imagetools", "create", "--tag", f"{repo}:{tag}",
                     base_image.ref])  # fmt: skip
    before = {tag: tag_digest(registry, f"{repo}:{tag}") for tag in TAGS}
    assert all(before.values())
    settings = settings_from(pyproject=project / "pyproject.toml")
    text = ci.ci_template(settings, "github", local_registry=True)
    path = ci.write_template(project / ".github/workflows/multiarch.yml", text)
    git(project, "add", ".")
    git(project, "commit", "-qm", "workflow")

    result = rehearse.rehearse(path, Runner(), project=project)

    out = capsys.readouterr().out
    assert result.ok, result.render()
    after = {tag: tag_digest(registry, f"{repo}:{tag}") for tag in TAGS}
    assert after == before, out
    scratch = f"{repo}-rehearsal"
    # Where it publishes is said before any job runs.
    assert scratch in out.splitlines()[0], out.splitlines()[:3]
    assert index_platforms(registry, f"{scratch}:0.1.0") == PLATFORMS
    # Every other tag the run made is gone, or named as left (Distribution 2.8 refuses).
    tags, _ = registry.get_json(f"/v2/{scratch.split('/', 1)[1]}/tags/list")
    leftover = sorted(set(tags.get("tags") or []) - set(TAGS))  # type: ignore[arg-type]
    left_lines = [line for line in out.splitlines() if "left in" in line]
    assert all(any(tag in line for line in left_lines) for tag in leftover), (leftover, out)
    # git ignores .multiarch/ because of its own .gitignore, and nothing else is new.
    status = git(project, "status", "--porcelain", "--ignored").splitlines()
    assert status == ["!! .multiarch/"], status
    source, _, pattern = (
        git(project, "check-ignore", "-v", ".multiarch/rehearsal")
        .partition("\t")[0]
        .rpartition(":")
    )
    assert (source.split(":")[0], pattern) == (".multiarch/.gitignore", "*"), source
    # No credential stays under .multiarch/: no docker config, no auth string.
    auth = base64.b64encode(b"stand-in-user:stand-in-password").decode()
    files = [p for p in (project / ".multiarch").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name in {"config.json", "auth.json"}]
    assert not [p for p in files if auth.encode() in p.read_bytes()]
