"""The OCI labels a build writes from git (issue 19, item 6): ``source`` is the remote's web
URL even for an scp-like ``git@host:owner/repo`` remote (GHCR links a package by it), and
``revision`` and ``created`` are the commit's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from tests.conftest import APP_ONLY, EXAMPLE, run_cli

pytestmark = pytest.mark.e2e


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_build_from_an_ssh_remote_labels_the_image_with_its_https_source(
    base_image, repo, tmp_path: Path, engine
) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-qm", "one")
    git(project, "remote", "add", "origin", "git@github.com:Acme/App.git")
    commit, created = git(project, "log", "-1", "--format=%H%n%cI").split()
    out = tmp_path / "out"
    done = run_cli(
        "build", "--image", repo, "--tag", "l", "--platforms", "linux/amd64", "--context",
        str(project), "--build-arg", f"BASE={base_image.ref}", "--output-dir", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    digest = json.loads((out / "digests.json").read_text())["linux/amd64"]
    ref = ImageRef.parse(repo).with_digest(digest)
    client = RegistryClient.from_settings(Settings())
    doc = client.get_manifest(ref)
    if doc.is_index:  # buildx's provenance makes a one-image index
        doc = client.get_manifest(ref.with_digest(doc.images[0].digest))
    config = json.loads(client.get_blob(ref, doc.config.digest))
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://github.com/Acme/App"
    assert labels["org.opencontainers.image.revision"] == commit
    assert labels["org.opencontainers.image.created"] == created
