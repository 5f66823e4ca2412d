"""Errors users get: one line naming the bad value, exit code 1, no traceback (issue 3)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.registry import Registry, RegistryConfig, htpasswd_file
from tests.conftest import EXAMPLE, CliResult, one_line_error, run_cli

pytestmark = pytest.mark.e2e
PLUGIN_DIRS = ("/usr/libexec/docker/cli-plugins", "/usr/local/lib/docker/cli-plugins")


def test_daemon_not_running(tmp_path):
    done = run_cli(
        "build",
        "--image",
        "127.0.0.1:1/x",
        "--context",
        str(EXAMPLE),
        env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"},
    )
    one_line_error(done, "Docker daemon is not running")


def test_registry_refusing_access_fails_before_any_build(engine, qemu, tmp_path):
    """publish reads the final tags first (to say where they stay): a 401 stops it there."""
    auth = htpasswd_file(tmp_path / "htpasswd", "alice", "s3cret-pass")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY htpasswd /x\n")
    reg = Registry(RegistryConfig(root=tmp_path / "reg", htpasswd=auth))
    try:
        done = run_cli(
            "publish",
            "--image",
            f"{reg.host}/locked/app",
            "--platforms",
            "linux/amd64",
            "--context",
            str(tmp_path),
            "--no-preflight",
            "--output-dir",
            str(tmp_path / "o"),
            env={"DOCKER_CONFIG": str(tmp_path / "dockercfg")},
        )
        line = one_line_error(done, "401 Unauthorized", reg.host, "docker login")
        assert "locked/app" in line
        ran = [x for x in done.stdout.splitlines() if x.startswith("docker buildx build")]
        assert ran == []
        assert "s3cret-pass" not in done.output
    finally:
        reg.stop()


def test_buildx_not_installed(tmp_path):
    """buildx really absent: its plugin directory hidden in a private mount namespace."""
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    plugin_dirs = [d for d in PLUGIN_DIRS if Path(d).is_dir()]
    script = " && ".join(
        [*(f"mount --bind {empty} {d}" for d in plugin_dirs),
         f'exec "$0" build --image 127.0.0.1:1/x --context {EXAMPLE}'])  # fmt: skip
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
         str(Path(sys.executable).parent / "multiarch")],
        capture_output=True, text=True, check=False,
        env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "cfg")},
    )  # fmt: skip
    one_line_error(CliResult(done.returncode, done.stdout, done.stderr),
                    "docker buildx is not installed")  # fmt: skip


def test_build_secrets_reach_the_build_and_never_the_output(base_image, repo, tmp_path):
    secret = "s3cr3t-value-4711"  # noqa: S105 - a test value, checked never to be printed
    digest = hashlib.sha256(secret.encode()).hexdigest()
    # The Dockerfile holds only the secret's hash: the build log echoes RUN lines.
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\n"
        "RUN --mount=type=secret,id=token"
        f' test "$(sha256sum < /run/secrets/token | cut -d" " -f1)" = {digest}\n'
    )
    done = run_cli(
        "build", "--image", repo, "--platforms", "linux/amd64,linux/arm64",
        "--context", str(tmp_path), "--output-dir", str(tmp_path / "o"),
        env={"INVOKE_MULTIARCH_SECRETS": "id=token,env=MY_TOKEN", "MY_TOKEN": secret},
    )  # fmt: skip
    assert done.returncode == 0, done.output[-2000:]
    assert "--secret id=token,env=MY_TOKEN" in done.stdout
    assert secret not in done.output


def test_token_in_git_remote_never_printed_nor_labelled(base_image, repo, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image.ref}\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    origin = "https://ci:tok3n-SECRET@git.example.com/app.git"
    steps = (["init", "-q"], ["add", "Dockerfile"], ["commit", "-qm", "x"],
             ["remote", "add", "origin", origin])  # fmt: skip
    for args in steps:
        subprocess.run([*git, *args], check=True, capture_output=True)
    done = run_cli("--dry", "build", "--image", repo, "--platforms", "linux/amd64",
                   "--context", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.output
    # the label is the https URL without credentials or .git (issue 19: GHCR links by it)
    assert "org.opencontainers.image.source=https://git.example.com/app" in done.stdout
    assert "image.source=https://git.example.com/app.git" not in done.stdout
    assert "tok3n-SECRET" not in done.output
