"""merge over real shards built from a real git checkout: it refuses shards that do not make
one image, and merging the same shards twice gives the same index digest (issue 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import APP_ONLY, EXAMPLE, index_platforms, run_cli, tag_digest

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True)


def build(project: Path, repo: str, platform: str, out: Path, base: str) -> None:
    done = run_cli(
        "build", "--image", repo, "--tag", "m", "--platforms", platform, "--context",
        str(project), "--build-arg", f"BASE={base}", "--output-dir", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]


def merge(repo: str, out: Path, *dirs: Path):
    return run_cli(
        "merge", "--from", ",".join(map(str, dirs)), "--image", repo, "--tag", "m",
        "--platforms", TWO, "--output-dir", str(out), "--json",
    )  # fmt: skip


def test_merge_refuses_inconsistent_shards_and_repeats_its_digest(
    base_image, registry, repo, tmp_path
):
    project = tmp_path / "project"
    # Only the app: the example's invoke.yaml points at the demo's registry.
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.email=t@e", "-c", "user.name=t", "add", ".")
    git(project, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "one")
    amd, arm = tmp_path / "amd64", tmp_path / "arm64"
    build(project, repo, "linux/amd64", amd, base_image.ref)
    build(project, repo, "linux/arm64", arm, base_image.ref)
    shard = json.loads((arm / "shard.json").read_text())
    commit = shard["commit"]
    assert len(commit) == 40
    assert shard["platforms"] == ["linux/arm64"]

    missing = merge(repo, tmp_path / "m0", amd)
    assert missing.returncode == 1
    assert f"no digest for linux/arm64 in {amd}" in missing.stderr

    # Same commit, a changed working tree: another linux/amd64 digest.
    (project / "hello.sh").write_text((project / "hello.sh").read_text() + "\n# changed\n")
    amd_dirty = tmp_path / "amd64-dirty"
    build(project, repo, "linux/amd64", amd_dirty, base_image.ref)
    twice = merge(repo, tmp_path / "m1", amd, amd_dirty, arm)
    assert twice.returncode == 1
    assert "linux/amd64 has two digests" in twice.stderr
    assert str(amd_dirty) in twice.stderr

    git(project, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qam", "two")
    arm_next = tmp_path / "arm64-next"
    build(project, repo, "linux/arm64", arm_next, base_image.ref)
    commits = merge(repo, tmp_path / "m2", amd, arm_next)
    assert commits.returncode == 1
    assert "shards come from different commits" in commits.stderr
    assert commit[:12] in commits.stderr
    assert tag_digest(registry, f"{repo}:m") is None  # nothing refused was pushed

    first = merge(repo, tmp_path / "m3", amd, arm)
    assert first.returncode == 0, first.output[-3000:]
    again = merge(repo, tmp_path / "m4", amd, arm)
    assert again.returncode == 0, again.output[-3000:]
    digest = json.loads(first.stdout)["digest"]
    assert json.loads(again.stdout)["digest"] == digest == tag_digest(registry, f"{repo}:m")
    assert index_platforms(registry, f"{repo}:m") == ["linux/amd64", "linux/arm64"]


def test_merge_of_a_mislabelled_shard_promotes_nothing(base_image, registry, repo, tmp_path):
    """A shard whose linux/arm64 entry is really the amd64 image (built on the wrong runner):
    refused when the push names its platform, and caught by verify, before any tag moves,
    when it is a bare image manifest that claims nothing."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    amd = tmp_path / "amd64"
    build(project, repo, "linux/amd64", amd, base_image.ref)
    pushed = json.loads((amd / "digests.json").read_text())["linux/amd64"]
    wrong = tmp_path / "wrong"
    wrong.mkdir()

    (wrong / "digests.json").write_text(json.dumps({"linux/arm64": pushed}))
    refused = merge(repo, tmp_path / "m1", amd, wrong)
    assert refused.returncode == 1
    assert "holds linux/amd64, not exactly one linux/arm64 image" in refused.stderr
    assert tag_digest(registry, f"{repo}:m") is None

    index, _ = registry.manifest(repo.split("/", 1)[1], pushed)
    (image,) = [m for m in index["manifests"] if m["platform"]["architecture"] == "amd64"]
    (wrong / "digests.json").write_text(json.dumps({"linux/arm64": image["digest"]}))
    done = merge(repo, tmp_path / "m2", amd, wrong)
    assert done.returncode == 1, done.output[-3000:]
    result = json.loads(done.stdout)
    assert result["ok"] is False
    (problem,) = result["problems"]
    assert problem.startswith(f"verify failed: nothing promoted; the unpromoted index is {repo}@")
    assert "linux/arm64" in done.stderr  # the verify report names the platform
    assert tag_digest(registry, f"{repo}:m") is None
