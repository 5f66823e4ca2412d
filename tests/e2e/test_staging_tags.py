"""Staging tags fit 128 characters and are removed after promotion where the registry lets a
run delete a tag (issue 17, item 7).

The test bed's registry is Distribution 2.8, which refuses the OCI tag delete (400
DIGEST_INVALID with ``storage.delete.enabled``, 405 UNSUPPORTED without): there the run
leaves its staging tags and says so in one line, and exits 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from testbed.fault_proxy import Rule
from tests.conftest import example_args, index_platforms, run_cli, tag_digest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from testbed.fault_proxy import FaultProxy
    from testbed.registry import Registry
    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e

LONGEST = "v" + "1234567890" * 12 + "-releas"  # 128 characters, the longest valid tag


@pytest.mark.parametrize("strategy", ["multi-platform", "per-arch"])
def test_publish_of_a_128_character_tag_succeeds_and_says_which_staging_tags_are_left(
    partial_base_image: BaseImage, registry: Registry, repo: str, tmp_path: Path, strategy: str
) -> None:
    assert len(LONGEST) == 128
    done = run_cli(
        "publish", "--image", repo, "--tag", LONGEST, "--platforms", "linux/amd64,linux/arm64",
        "--strategy", strategy, *example_args(partial_base_image.ref, tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    assert index_platforms(registry, f"{repo}:{LONGEST}") == ["linux/amd64", "linux/arm64"]
    repository = repo.split("/", 1)[1]
    tags = registry.tags(repository)
    assert all(len(t) <= 128 for t in tags), tags
    staging = [t for t in tags if "-staging-" in t]
    assert staging, tags  # Distribution 2.8 refuses the delete: they are still there
    said = [line for line in done.output.splitlines() if "staging tags left" in line]
    assert len(said) == 1, done.output[-3000:]
    assert "refused" in said[0]
    assert "400" in said[0]
    for tag in staging:
        assert tag in said[0]
    assert "Traceback" not in done.output
    if strategy == "per-arch":
        per_arch = [t for t in tags if t.endswith(("-linux-amd64", "-linux-arm64"))]
        assert len(per_arch) == 2, tags
        assert all(tag_digest(registry, f"{repo}:{t}") for t in per_arch)


def test_publish_deletes_its_staging_tag_by_tag_only_and_is_quiet_when_the_registry_accepts(
    partial_base_image: BaseImage,
    repo: str,
    tmp_path: Path,
    fault_proxy: Callable[..., FaultProxy],
) -> None:
    # No registry on the test bed accepts the OCI tag delete, so the proxy answers it as one
    # that does (202) and records what was asked; every other request reaches Distribution.
    by_tag = Rule(method="DELETE", path=r"/manifests/[^/]*-staging-[0-9a-f]+$", status=202)
    by_digest = Rule(method="DELETE", path=r"/manifests/sha256:", status=500)
    proxy = fault_proxy(by_tag, by_digest)
    image = proxy.host + "/" + repo.split("/", 1)[1]
    done = run_cli(
        "publish", "--image", image, "--tag", "1.0", "--platforms", "linux/amd64,linux/arm64",
        *example_args(partial_base_image.ref, tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    assert by_tag.hits == 1  # the one multi-platform build's staging tag
    assert by_digest.seen == 0  # a manifest is never deleted
    assert "staging tags left" not in done.output
