"""publish reads the ELF headers of the layers its build added by default (issue 19).

The trap: a Dockerfile that copies one prebuilt x86-64 program into every platform. A
default publish (no flag) must fail on it and move no tag; ``--no-deep`` turns the check
off; ``--deep`` still reads every layer, the base image's too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from testbed.base_images import busybox_binary
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"


def _context(tmp_path: Path, first_line: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir()
    # An x86-64 program copied into every platform: the arm64 image cannot run it.
    shutil.copy(busybox_binary("amd64"), context / "tool")
    (context / "Dockerfile").write_text(f"{first_line}\nCOPY tool /usr/local/bin/tool\n")
    return context


def _publish(repo: str, context: Path, out: Path, *args: str) -> object:
    return run_cli(
        "publish", "--image", repo, "--platforms", TWO, "--context", str(context),
        "--output-dir", str(out), "--tag", "v1", *args,
    )  # fmt: skip


def test_default_publish_of_an_amd64_binary_in_every_platform_fails_and_moves_no_tag(
    base_image, registry, repo, tmp_path
):
    context = _context(tmp_path, f"FROM {base_image.ref}")
    done = _publish(repo, context, tmp_path / "o1")
    assert done.returncode == 1, done.output[-3000:]
    assert "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)" in done.stdout
    assert "verify failed: nothing promoted" in done.stdout
    # Only the build's layer was read: busybox's own programs sit in the base's layers.
    assert "1 ELF programs checked in the 1 layer(s) this build added" in done.stdout
    assert "v1" not in registry.tags(repo.split("/", 1)[1])

    off = _publish(repo, context, tmp_path / "o2", "--no-deep")
    assert off.returncode == 0, off.output[-3000:]
    assert "ELF programs checked" not in off.stdout
    assert "v1" in registry.tags(repo.split("/", 1)[1])


def test_deep_reads_every_layer_the_base_images_too(base_image, repo, tmp_path):
    context = _context(tmp_path, f"FROM {base_image.ref}")
    done = _publish(repo, context, tmp_path / "o", "--deep")
    assert done.returncode == 1, done.output[-3000:]
    assert "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)" in done.stdout
    assert "layer(s) this build added" not in done.stdout
    assert "ELF programs checked" in done.stdout


def test_default_publish_from_scratch_reads_every_layer_as_the_builds(registry, repo, tmp_path):
    context = _context(tmp_path, "FROM scratch")
    done = _publish(repo, context, tmp_path / "o")
    assert done.returncode == 1, done.output[-3000:]
    assert "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)" in done.stdout
    assert "1 ELF programs checked in the 1 layer(s) this build added" in done.stdout
    assert "v1" not in registry.tags(repo.split("/", 1)[1])
