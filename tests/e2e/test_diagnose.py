"""diagnose on real failures: each signature the test bed can produce, produced for real.

Every test runs the real program through the Runner, catches the CommandError it raises
and checks that :func:`multiarch_tasks.checks.diagnose.diagnosis` names the cause and the fix.
The signatures the bed cannot produce are tested from recorded logs in
tests/test_diagnose.py (docs/traps.md lists which is which).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.checks.diagnose import diagnosis as diagnose
from multiarch_tasks.checks.diagnose.diagnosis import Context, Diagnosis
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.errors import CommandError
from multiarch_tasks.steps.backends.buildx import transient
from testbed.base_images import busybox_binary

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e


def _failure(
    argv: Sequence[str], context: Context | None = None, *, timeout: float = 600
) -> Diagnosis:
    """Run ``argv`` (it must fail, not time out) and diagnose the CommandError."""
    with pytest.raises(CommandError) as caught:
        Runner().run(argv, timeout=timeout)
    assert not caught.value.stderr_tail.endswith("(timed out)"), "timed out, did not fail"
    found = diagnose.explain(caught.value, context)
    assert found is not None, caught.value.stderr_tail
    return found


def _scratch_context(tmp_path: Path, dockerfile: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "data.txt").write_text("data\n")
    return tmp_path


@pytest.mark.usefixtures("engine")
def test_docker_manifest_create_on_attested_tags_is_a_manifest_list(
    repo: str, tmp_path: Path
) -> None:
    context = _scratch_context(tmp_path, "FROM scratch\nCOPY data.txt /data.txt\n")
    runner = Runner()
    for arch in ("amd64", "arm64"):
        runner.run(
            ["docker", "buildx", "build", "--builder", "default", "--platform",
             f"linux/{arch}", "--tag", f"{repo}:1-linux-{arch}", "--push", str(context)],
            timeout=600, retries=2, retry_if=transient,
        )  # fmt: skip
    found = _failure(
        ["docker", "manifest", "create", "--insecure", f"{repo}:1",
         f"{repo}:1-linux-amd64", f"{repo}:1-linux-arm64"]
    )  # fmt: skip
    assert found.signature == "manifest-list"
    assert found.cause.startswith(f"{repo}:1-linux-amd64 is an index")
    assert "multiarch merge" in found.fix


def test_building_for_a_platform_the_base_lacks_names_base_and_mirror(
    partial_base_image: BaseImage, tmp_path: Path
) -> None:
    context = _scratch_context(tmp_path, f"FROM {partial_base_image.ref}\nRUN true\n")
    found = _failure(
        ["docker", "buildx", "build", "--builder", "default", "--platform", "linux/s390x",
         str(context)],
        Context(platform="linux/s390x"),
    )  # fmt: skip
    assert found.signature == "no-match-platform"
    assert found.cause == f"base image {partial_base_image.ref} has no linux/s390x"
    assert f"multiarch mirror SRC {partial_base_image.ref}" in found.fix


@pytest.mark.usefixtures("engine")
def test_running_a_program_of_no_known_format_is_exec_format_error(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    context = _scratch_context(tmp_path, "FROM scratch\nCOPY --chmod=755 app /app\n")
    # No ELF magic and no "#!": the kernel has no loader for it (ENOEXEC).
    (context / "app").write_bytes(b"\x00\x01 not a program of any architecture\n")
    tag = f"multiarch-diagnose-exec:{request.node.name[-20:].lower()}"
    runner = Runner()
    runner.run(["docker", "buildx", "build", "--builder", "default", "--load", "--tag", tag,
                str(context)], timeout=600)  # fmt: skip
    try:
        found = _failure(["docker", "run", "--rm", tag, "/app"], Context(platform="linux/amd64"))
    finally:
        runner.run(["docker", "image", "rm", "--force", tag], check=False)
    assert found.signature == "exec-format-error"
    assert "multiarch qemu-setup --platforms linux/amd64" in found.fix


@pytest.mark.usefixtures("qemu")
def test_qemu_given_a_foreign_program_says_invalid_elf() -> None:
    found = _failure(["qemu-aarch64-static", "/bin/true"], Context(platform="linux/arm64"))
    assert found.signature == "invalid-elf"
    assert "multiarch preflight" in found.fix


def test_a_crash_under_emulation_is_the_qemu_signal_11(partial_base_image: BaseImage) -> None:
    # Not as PID 1: a QEMU-run PID 1 that kills itself hangs (the kernel ignores the
    # signal for a namespace's init), so a child shell crashes and the parent reports it.
    found = _failure(
        ["docker", "run", "--rm", "--platform", "linux/arm64", partial_base_image.ref,
         "sh", "-c", 'sh -c "kill -SEGV \\$\\$" || exit $?'],
        Context(platform="linux/arm64"),
        timeout=120,
    )  # fmt: skip
    assert found.signature == "qemu-segfault"
    assert "native node" in found.fix


@pytest.mark.usefixtures("qemu")
def test_armv7_code_on_an_armv6_cpu_is_illegal_instruction() -> None:
    # Debian armhf busybox is ARMv7 code; QEMU's arm1176 is the Raspberry Pi Zero/1 CPU.
    armhf = busybox_binary("armhf")
    found = _failure(
        ["qemu-arm-static", "-cpu", "arm1176", str(armhf), "true"],
        Context(platform="linux/arm/v6"),
    )
    assert found.signature == "illegal-instruction"
    assert "linux/arm/v6" in found.fix


def test_tls_client_on_a_plain_http_registry(partial_base_image: BaseImage) -> None:
    found = _failure(["skopeo", "inspect", f"docker://{partial_base_image.ref}"])
    host = partial_base_image.ref.split("/", 1)[0]
    assert found.signature == "http-to-https"
    assert f"--insecure-registry {host}" in found.fix


@pytest.mark.usefixtures("engine")
def test_push_by_digest_on_the_docker_driver(repo: str, tmp_path: Path) -> None:
    context = _scratch_context(tmp_path, "FROM scratch\nCOPY data.txt /data.txt\n")
    found = _failure(
        ["docker", "buildx", "build", "--builder", "default", "--output",
         f"type=image,name={repo},push-by-digest=true,name-canonical=true,push=true",
         str(context)]
    )  # fmt: skip
    assert found.signature == "push-by-digest-docker-driver"
    assert "builder-create --driver docker-container" in found.fix


@pytest.mark.usefixtures("engine")
def test_docker_exporter_with_two_platforms(tmp_path: Path) -> None:
    context = _scratch_context(tmp_path / "ctx", "FROM scratch\nCOPY data.txt /data.txt\n")
    found = _failure(
        ["docker", "buildx", "build", "--builder", "default", "--platform",
         "linux/amd64,linux/arm64", "--output", f"type=docker,dest={tmp_path / 'o.tar'}",
         str(context)]
    )  # fmt: skip
    assert found.signature == "docker-exporter-manifest-list"
    assert "containerd image store" in found.fix


def test_index_copied_without_its_images_is_blob_unknown(
    partial_base_image: BaseImage, repo: str
) -> None:
    found = _failure(
        ["skopeo", "copy", "--multi-arch=index-only", "--src-tls-verify=false",
         "--dest-tls-verify=false", f"docker://{partial_base_image.ref}", f"docker://{repo}:1"]
    )  # fmt: skip
    assert found.signature == "blob-unknown"
    assert "multiarch mirror SRC DEST" in found.fix
