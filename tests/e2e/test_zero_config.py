"""Zero-config publish from a fresh clone: `multiarch publish --registry R` (issue 12, item 4)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import index_platforms, one_line_error, run_cli

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# Empty CI variables: the tags come from git here even when the suite runs in a CI job.
NO_CI = {"GITHUB_ACTIONS": "", "GITHUB_REF": "", "GITLAB_CI": "", "CI_COMMIT_SHA": ""}


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _clone(tmp_path: Path, origin: str) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    _git(clone, "remote", "set-url", "origin", origin)
    return clone


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_publish_registry_infers_image_sha_tag_and_platforms_from_a_fresh_clone(
    engine, qemu, registry, base_image, tmp_path
):
    clone = _clone(tmp_path, "https://github.com/acme/hello.git")
    # A CI checkout of a commit is detached: no branch or tag, so the tag is sha-<short>.
    _git(clone, "checkout", "-q", "--detach")
    short = _git(clone, "rev-parse", "--short=7", "HEAD")
    done = run_cli(
        "publish",
        "--registry", registry.host,
        "--context", "examples/hello",
        "--build-arg", f"BASE={base_image.ref}",
        "--output-dir", str(tmp_path / "out"),
        cwd=clone,
        env=NO_CI,
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    image = f"{registry.host}/acme/hello"
    assert _lines(done.stdout, "inferred: ") == [
        f"inferred: image {image} (from origin https://github.com/acme/hello.git)",
        f"inferred: tags sha-{short} (from git: sha, detached HEAD)",
        f"inferred: platforms linux/amd64,linux/arm64 (every base offers them: {base_image.ref})",
    ]
    first_inferred = done.stdout.index("inferred: image")
    assert first_inferred < done.stdout.index("plan: ")
    assert f"sha-{short}" in registry.tags("acme/hello")
    assert index_platforms(registry, f"{image}:sha-{short}") == ["linux/amd64", "linux/arm64"]


def test_publish_registry_drops_a_platform_the_base_lacks_and_says_why(
    engine, qemu, registry, partial_base_image, tmp_path
):
    clone = _clone(tmp_path, "git@github.com:Acme/Hello-Partial.git")
    _git(clone, "checkout", "-q", "-B", "feature/zero")
    done = run_cli(
        "publish",
        "--registry", registry.host,
        "--context", "examples/hello",
        "--build-arg", f"BASE={partial_base_image.ref}",
        "--platforms", "linux/amd64,linux/arm64,linux/s390x",
        "--output-dir", str(tmp_path / "out"),
        cwd=clone,
        env=NO_CI,
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    image = f"{registry.host}/acme/hello-partial"
    assert _lines(done.stdout, "inferred: ") == [
        f"inferred: image {image} (from origin git@github.com:Acme/Hello-Partial.git)",
        "inferred: tags feature-zero (from git: branch feature/zero)",
        (
            "inferred: platforms linux/amd64,linux/arm64 (linux/s390x dropped: base"
            f" {partial_base_image.ref} has only linux/amd64,linux/arm64)"
        ),
    ]
    assert done.stdout.index("inferred: ") < done.stdout.index("plan: ")
    assert "feature-zero" in registry.tags("acme/hello-partial")
    assert index_platforms(registry, f"{image}:feature-zero") == ["linux/amd64", "linux/arm64"]


def test_publish_registry_without_origin_remote_fails_in_one_line_before_building(tmp_path):
    clone = _clone(tmp_path, "https://github.com/acme/hello.git")
    _git(clone, "remote", "remove", "origin")
    done = run_cli(
        "publish", "--registry", "127.0.0.1:1", "--context", "examples/hello", cwd=clone, env=NO_CI
    )
    one_line_error(done, "no image", "pass --image", "add an origin remote")
    assert "plan: " not in done.stdout
