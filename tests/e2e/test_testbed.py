"""The bed itself: a child of the busybox base, built under QEMU, reports its own arch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_child_image_runs_uname_under_qemu(base_image, repo, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base_image.ref}\nRUN uname -m > /arch\nCMD ["cat", "/arch"]\n'
    )
    tag = f"{repo}:bed"
    subprocess.run(
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            "linux/arm64,linux/s390x",
            "--provenance=false",
            "-t",
            tag,
            "--push",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seen = {}
    for platform in ("linux/arm64", "linux/s390x"):
        subprocess.run(
            ["docker", "pull", "-q", "--platform", platform, tag], check=True, capture_output=True
        )
        out = subprocess.run(
            ["docker", "run", "--rm", "--pull=never", "--platform", platform, tag],
            check=True,
            capture_output=True,
            text=True,
        )
        seen[platform] = out.stdout.strip()
    assert seen == {"linux/arm64": "aarch64", "linux/s390x": "s390x"}


def test_partial_base_lacks_s390x(partial_base_image, registry) -> None:
    repository, _, tag = partial_base_image.ref.partition("/")[2].partition(":")
    found = registry.manifest(repository, tag)
    assert found is not None
    index, digest = found
    assert digest == partial_base_image.digest
    platforms = sorted(
        f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"]
    )
    assert platforms == ["linux/amd64", "linux/arm64"]
