"""``verify --run`` of an image whose arm64 slot holds an x86-64 program (issue 19, item 6).

The program is the host's own dynamically linked x86-64 ``/bin/true``: on an x86-64 host
the kernel starts it natively even in the arm64 container, then finds no
``/lib64/ld-linux-x86-64.so.2`` there, so the shell says "not found" and the container
exits 127, the symptom users see instead of ``exec format error``. The amd64 slot holds
the static amd64 busybox and runs. The command comes from ``--run-cmd`` and, unchanged
for ``--run``, from the ``verify_run`` setting.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testbed.base_images import busybox_binary
from tests.conftest import BaseImage, buildx_push, run_cli

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"
COMMAND = "/bin/sh -c '/usr/local/bin/busybox true'"


@pytest.fixture
def wrong_arm64(base_image: BaseImage, repo: str, tmp_path: Path, engine, qemu) -> str:
    """An index whose amd64 image has the amd64 busybox as ``busybox``, the arm64 one x86-64."""
    shutil.copy2(busybox_binary("amd64"), tmp_path / "tool-amd64")
    shutil.copy2("/bin/true", tmp_path / "tool-arm64")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nARG TARGETARCH\n"
        "COPY --chmod=755 tool-${TARGETARCH} /usr/local/bin/busybox\n"
    )
    ref = f"{repo}:wrong"
    argv = ["docker", "buildx", "build", "--platform", TWO, "-t", ref, "--push",
            "--provenance=false", str(tmp_path)]  # fmt: skip
    done = buildx_push(argv)
    assert done.returncode == 0, done.stderr[-2000:]
    return ref


def _problems(stdout: str) -> dict[str, list[str]]:
    return {p["platform"]: p["problems"] for p in json.loads(stdout)["platforms"]}


def test_verify_run_cmd_reports_the_x86_64_program_in_arm64_as_exec_format_error(
    wrong_arm64: str,
) -> None:
    done = run_cli("verify", "--platforms", TWO, "--run-cmd", COMMAND, "--json", wrong_arm64)
    assert done.returncode == 1, done.output[-3000:]
    problems = _problems(done.stdout)
    assert problems["linux/amd64"] == []
    [problem] = problems["linux/arm64"]
    assert problem.startswith("linux/arm64: exec format error: ")
    assert "/usr/local/bin/busybox: x86" in problem
    assert "exited 127" in problem, "what the command did is still said"


def test_verify_run_with_the_verify_run_setting_still_works_and_says_the_same(
    wrong_arm64: str,
) -> None:
    done = run_cli(
        "verify", "--platforms", TWO, "--run", wrong_arm64,
        env={"INVOKE_MULTIARCH_VERIFY_RUN": "/usr/local/bin/busybox true"},
    )  # fmt: skip
    assert done.returncode == 1, done.output[-3000:]
    assert "linux/arm64: exec format error: " in done.stdout
    assert "Traceback" not in done.output
