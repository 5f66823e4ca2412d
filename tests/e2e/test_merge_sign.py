"""merge --sign, what a generated CI pipeline's merge job runs with the ``sign`` option
(issue 19): the index merged from two shards is verified, signed with the real cosign,
then promoted; ``verify --signed-by`` passes on the tag."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli, tag_digest, unavailable

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"
PASSWORD = "e2e-cosign-merge-9d1e"  # noqa: S105 - a throwaway key's password


def test_merge_sign_signs_the_verified_index_before_the_tag_moves(
    base_image, registry, repo, tmp_path: Path, engine, qemu
) -> None:
    if shutil.which("cosign") is None:
        unavailable("cosign not on PATH (run scripts/engine-up)")
    made = subprocess.run(
        ["cosign", "generate-key-pair"], cwd=tmp_path,
        env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    dirs = []
    for platform in TWO.split(","):
        out = tmp_path / platform.replace("/", "-")
        done = run_cli(
            "build", "--image", repo, "--tag", "s", "--platforms", platform, "--context",
            str(EXAMPLE), "--build-arg", f"BASE={base_image.ref}", "--output-dir", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.output[-3000:]
        dirs.append(str(out))
    merged = run_cli(
        "merge", "--from", ",".join(dirs), "--image", repo, "--tag", "s", "--platforms", TWO,
        "--output-dir", str(tmp_path / "merge"), "--sign", "--sign-key",
        str(tmp_path / "cosign.key"), "--no-tlog",
        env={"COSIGN_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert merged.returncode == 0, merged.output[-3000:]
    assert PASSWORD not in merged.output
    digest = tag_digest(registry, f"{repo}:s")
    assert digest
    assert f"sign: {repo}@{digest}" in merged.stdout
    hex_ = digest.split(":", 1)[1]
    assert f"sha256-{hex_}.sig" in registry.tags(repo.split("/", 1)[1])
    checked = run_cli(
        "verify", "--platforms", TWO, "--signed-by", str(tmp_path / "cosign.pub"), "--no-tlog",
        f"{repo}:s",
    )  # fmt: skip
    assert checked.returncode == 0, checked.output[-3000:]
