"""docs/from-makefile.md: every command on the page, run against the test bed.

The page's Makefile (its `push` and `manifest` targets; `qemu` pulls from Docker Hub, which
this machine cannot reach, as the page says), its pyproject.toml, and every ```sh test
block, in order, in one project directory; the throwaway registry stands in for
registry.example.com.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import APP_ONLY, EXAMPLE, index_platforms, pinned_requirement

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "from-makefile.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/s390x"]


def blocks(text: str, info: str) -> list[str]:
    return [m.group("body") for m in FENCE.finditer(text) if m.group("info").strip() == info]


def test_page_has_the_blocks_the_test_runs():
    text = PAGE.read_text()
    assert len(blocks(text, "make")) == 1
    assert len(blocks(text, "toml")) == 1
    assert len(blocks(text, "sh test")) == 2


def test_every_command_on_the_from_makefile_page(base_image, registry, tmp_path):
    # The page's registry becomes the test's loopback one, which ci-template refuses for
    # hosted runners unless told the runners are on this machine (as a rehearsal's are).
    text = (
        PAGE.read_text()
        .replace("registry.example.com", registry.host)
        .replace("multiarch ci-template ", "multiarch ci-template --local-registry ")
    )
    assert base_image.ref == f"{registry.host}/base/busybox:full"  # the page's BASE
    project = tmp_path / "app"
    shutil.copytree(EXAMPLE, project, ignore=APP_ONLY)
    (project / "Makefile").write_text(blocks(text, "make")[0])
    (project / "pyproject.toml").write_text(blocks(text, "toml")[0])
    git = ["git", "-C", str(project), "-c", "user.email=t@e", "-c", "user.name=t"]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"],
                 ["tag", "v1.2.3"]):  # fmt: skip
        subprocess.run([*git, *args], check=True, capture_output=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # The test venv's editable install gives ci-template no URL the jobs could install
        # from: this repository's HEAD, pinned, as a user's git install would be.
        "INVOKE_MULTIARCH_INSTALL": pinned_requirement(tmp_path)[0],
    }

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=1800
        )

    # Before: the per-arch pushes work; the manifest hits the attestation trap.
    push = run(["make", "push"])
    assert push.returncode == 0, push.stderr[-3000:]
    manifest = run(["make", "manifest", "INSECURE=--insecure"])
    assert manifest.returncode != 0
    assert f"{registry.host}/team/app:v1.2.3-linux-amd64 is a manifest list" in manifest.stderr

    # After: each `sh test` block, as a reader would paste it.
    for block in blocks(text, "sh test"):
        done = run(["bash", "-e", "-o", "pipefail", "-c", block])
        assert done.returncode == 0, (block, (done.stdout + done.stderr)[-4000:])
    assert index_platforms(registry, f"{registry.host}/team/app:v1.2.3") == PLATFORMS
    # The rehearsals published to their scratch repository, never the project's (issue 20).
    assert index_platforms(registry, f"{registry.host}/team/app-rehearsal:latest") == PLATFORMS
    assert "latest" not in registry.tags("team/app")
