"""An engine with the classic image store (issue 8, item 8): demo, publish, refusal.

The ``classic_engine`` fixture starts a second dockerd with the containerd snapshotter off
(testbed/classic_engine.py); every command here reaches it through ``DOCKER_HOST``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from testbed.base_images import per_arch_ref
from testbed.classic_engine import BRIDGE, MAIN_BRIDGE, image_store, link_exists
from testbed.registry import Registry
from tests.conftest import BaseImage, example_args, index_platforms, run_cli, tag_digest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TWO = ["linux/amd64", "linux/arm64"]


def _buildx_ls(docker_host: str) -> str:
    return subprocess.run(
        ["docker", "buildx", "ls"],
        env={**os.environ, "DOCKER_HOST": docker_host},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _build_platforms(output: str) -> list[str]:
    """The ``--platform`` value of every ``docker buildx build`` line printed by --echo."""
    found = []
    for line in output.splitlines():
        if line.startswith("docker buildx build "):
            argv = shlex.split(line)
            found.append(argv[argv.index("--platform") + 1])
    return found


def test_classic_engine_fixture_reports_classic_store_and_leaves_docker0(classic_engine):
    assert image_store(classic_engine) == "classic"
    assert link_exists(BRIDGE), f"{BRIDGE} (the classic engine's bridge) is missing"
    # A dockerd started with `--bridge none` deletes docker0 and breaks the main engine.
    assert link_exists(MAIN_BRIDGE), f"{MAIN_BRIDGE} vanished while the classic engine runs"
    assert image_store(None) == "containerd", "the main engine no longer answers as before"


def _engine_up(docker_host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "engine-up")],
        env={**os.environ, "DOCKER_HOST": docker_host},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_engine_up_names_the_running_classic_engine_and_leaves_it_alone(classic_engine):
    done = _engine_up(classic_engine)
    assert done.returncode == 0, done.stderr
    expected = (
        f"engine-up: using the engine at {classic_engine} (classic image store),"
        " not started by engine-up"
    )
    assert expected in done.stderr.splitlines()
    assert image_store(classic_engine) == "classic"


def test_engine_up_fails_in_one_line_naming_docker_host_that_does_not_answer(
    engine, qemu, tmp_path
):
    host = f"unix://{tmp_path}/no.sock"
    done = _engine_up(host)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("engine-up: error")]
    expected = (
        f"engine-up: error: DOCKER_HOST={host} names an engine that does not answer;"
        " start that engine, or unset DOCKER_HOST to use the local one"
    )
    assert errors == [expected]
    assert done.stderr.strip().splitlines()[-1] == errors[0]


def test_base_image_on_classic_store_is_an_index_over_per_platform_pushes(
    classic_base_image: BaseImage, registry: Registry
):
    ref = classic_base_image.ref
    assert index_platforms(registry, ref) == sorted(TWO)
    assert tag_digest(registry, ref) == classic_base_image.digest
    repository, _, tag = ref.split("/", 1)[1].rpartition(":")
    found = registry.manifest(repository, tag)
    assert found is not None
    in_index = sorted(m["digest"] for m in found[0]["manifests"])
    per_arch = sorted(str(tag_digest(registry, per_arch_ref(ref, p))) for p in TWO)
    assert in_index == per_arch


def test_demo_passes_with_docker_host_at_the_classic_engine(classic_engine, qemu):
    # MULTIARCH_DEMO_TAG keeps the main engine's demo tags (:demo, :latest, :base) untouched.
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": classic_engine, "MULTIARCH_DEMO_TAG": "classic"},
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    lines = output.splitlines()
    assert (
        f"engine-up: using the engine at {classic_engine} (classic image store),"
        " not started by engine-up"
    ) in lines
    verified = [
        line for line in lines if line.startswith("verify 127.0.0.1:5000/examples/hello:classic ")
    ]
    assert verified, output[-3000:]
    assert verified[-1].endswith(": OK")
    for platform, machine in (("linux/amd64", "x86_64"), ("linux/arm64", "aarch64"),
                              ("linux/s390x", "s390x")):  # fmt: skip
        assert f"hello from {platform}, built on {machine}" in lines


def test_publish_on_classic_store_runs_one_single_platform_build_per_platform(
    classic_engine, classic_base_image: BaseImage, registry: Registry, repo, tmp_path
):
    ref = f"{repo}:v1"
    result = run_cli(
        "--echo", "publish", "--image", repo, "--tag", "v1", "--platforms", ",".join(TWO),
        *example_args(classic_base_image.ref, tmp_path / "out"),
        env={"DOCKER_HOST": classic_engine},
    )  # fmt: skip
    assert result.returncode == 0, result.output[-3000:]
    assert sorted(_build_platforms(result.stdout)) == sorted(TWO)
    assert index_platforms(registry, ref) == sorted(TWO)


def test_multi_platform_strategy_on_classic_store_is_refused_before_anything_runs(
    classic_engine, classic_base_image: BaseImage, repo, tmp_path
):
    builders = _buildx_ls(classic_engine)
    result = run_cli(
        "--echo", "publish", "--strategy", "multi-platform", "--image", repo, "--tag", "v1",
        "--platforms", ",".join(TWO),
        *example_args(classic_base_image.ref, tmp_path / "out"),
        env={"DOCKER_HOST": classic_engine},
    )  # fmt: skip
    assert result.returncode == 1, result.output[-3000:]
    assert "Traceback" not in result.output
    assert "buildx build" not in result.output
    assert "buildx create" not in result.output
    assert _buildx_ls(classic_engine) == builders
    # One line names the store and both ways out (per-arch builds, the containerd store).
    named = [line for line in result.output.splitlines() if "classic image store" in line]
    assert named, result.output[-3000:]
    assert "--strategy per-arch" in named[-1]
    assert "containerd" in named[-1]
