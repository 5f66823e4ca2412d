"""The plan comes from the facts, on the real engine: the builder buildx would use, a dry
run that changes nothing, and every command that ran printed in the plan, in order."""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout


def _ran(stdout: str) -> list[str]:
    """Commands the run started: the runner echoes each before its output (not indented)."""
    return [line for line in stdout.splitlines() if line.startswith(("docker ", "update-binfmts"))]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts)


def test_dry_publish_in_a_clean_clone_writes_nothing_and_creates_no_builder(
    engine, base_image, registry, repo, tmp_path
):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    files = _files(clone)
    builders = _docker("buildx", "ls")
    name = f"dry-{uuid.uuid4().hex[:6]}"
    done = run_cli(
        "--dry", "publish", "--image", repo, "--tag", "dry",
        "--platforms", "linux/amd64,linux/s390x", "--context", "examples/hello",
        "--build-arg", f"BASE={base_image.ref}",
        cwd=clone,
        env={
            # A builder to create, with a generated buildkitd.toml: both only printed.
            "INVOKE_MULTIARCH_BUILDER": name,
            "INVOKE_MULTIARCH_DRIVER": "docker-container",
            "INVOKE_MULTIARCH_INSECURE_REGISTRIES": "registry.lan:5000",
        },
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    assert f"$ docker buildx create --name {name} --driver docker-container" in done.stdout
    assert "- write .multiarch/buildkitd.toml" in done.stdout
    assert done.stdout.count("$ docker buildx build") == 2
    assert _ran(done.stdout) == []
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain", "--ignored"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert status.stdout == ""
    assert _files(clone) == files
    assert _docker("buildx", "ls") == builders
    assert registry.tags(repo.split("/", 1)[1]) == []


def _second_builder(env: dict[str, str]) -> str:
    """A second docker-driver builder: the one a new docker context brings."""
    name = f"ctx-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        ["docker", "context", "create", name, "--docker", "host=unix:///var/run/docker.sock"],
        env={**os.environ, **env}, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return name


# A docker-driver builder is made current with `docker context use` (for such a builder
# `docker buildx use X` itself answers "run `docker context use X`").
@pytest.mark.parametrize("how", ["BUILDX_BUILDER", "context use"])
def test_publish_builds_on_the_builder_buildx_would_use(
    engine, base_image, registry, repo, tmp_path, how
):
    # Contexts and `docker buildx use` live in the docker config: a private DOCKER_CONFIG
    # keeps the machine's own current builder untouched for everything else.
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config)}
    name = _second_builder(env)
    try:
        if how == "BUILDX_BUILDER":
            env["BUILDX_BUILDER"] = name
        else:
            subprocess.run(
                ["docker", "context", "use", name], env={**os.environ, **env},
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        done = run_cli(
            "--echo", "publish", "--image", repo, "--tag", "chosen",
            "--platforms", "linux/amd64,linux/arm64",
            "--context", str(EXAMPLE), "--build-arg", f"BASE={base_image.ref}",
            "--output-dir", str(tmp_path / "o"),
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.output[-3000:]
        source = "BUILDX_BUILDER" if how == "BUILDX_BUILDER" else "the current builder"
        assert f"builder {name!r} ({source}), driver docker" in done.stdout
        builds = [line for line in _ran(done.stdout) if " buildx build " in line]
        assert len(builds) == 2
        assert all(
            line.startswith(f"docker --context {name} buildx build --builder {name} ")
            for line in builds
        )
    finally:
        subprocess.run(
            ["docker", "context", "rm", "-f", name],
            env={**os.environ, **env}, capture_output=True, check=False,
        )  # fmt: skip


def test_every_command_publish_ran_is_in_its_printed_plan_in_order(
    engine, base_image, registry, repo, tmp_path
):
    done = run_cli(
        "--echo", "publish", "--image", repo, "--tag", "inorder",
        "--platforms", "linux/amd64,linux/arm64", "--strategy", "per-arch",
        "--manifest-tool", "imagetools",
        "--context", str(EXAMPLE), "--build-arg", f"BASE={base_image.ref}",
        "--output-dir", str(tmp_path / "o"),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    planned = [
        line.strip().removeprefix("$ ") for line in done.stdout.splitlines()
        if line.strip().startswith("$ ")
    ]  # fmt: skip
    ran = [
        line for line in _ran(done.stdout)
        if not line.startswith(("docker info", "docker buildx version", "docker buildx inspect"))
    ]  # fmt: skip
    assert ran, done.stdout
    # Digests the plan could not know are placeholders: <linux/amd64>.
    import re  # noqa: PLC0415

    def matches(command: str, pattern: str) -> bool:
        ran, planned = shlex.split(command), shlex.split(pattern)
        return len(ran) == len(planned) and all(
            re.fullmatch(
                "sha256:[0-9a-f]{64}".join(re.escape(x) for x in re.split(r"<[^>]+>", p)), r
            )
            for r, p in zip(ran, planned, strict=True)
        )

    position = 0
    for command in ran:
        found = next(
            (i for i in range(position, len(planned)) if matches(command, planned[i])), None
        )
        assert found is not None, f"ran but not planned (in order): {command}\n{planned}"
        position = found + 1


def test_non_linux_platform_exits_1_before_any_step_naming_it(engine, base_image, repo, tmp_path):
    done = run_cli(
        "publish", "--image", repo, "--platforms", "linux/amd64,windows/amd64",
        "--context", str(EXAMPLE), "--build-arg", f"BASE={base_image.ref}",
        "--output-dir", str(tmp_path / "o"),
    )  # fmt: skip
    assert done.returncode == 1
    expected = (
        "multiarch: error: cannot build windows/amd64: a Linux builder cannot build"
        " windows/amd64 images"
    )
    assert done.stderr.strip().splitlines() == [expected]
    assert done.stdout == ""  # no plan, no step: refused while planning
