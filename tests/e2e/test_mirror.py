"""mirror against the test bed registry: skopeo, imagetools and the native path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.platforms import parse_platforms
from multiarch_tasks.steps.mirror.copy import mirror
from tests.conftest import run_cli

if TYPE_CHECKING:
    from testbed.registry import Registry
    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e


def _repository(ref: str) -> str:
    return ref.split("/", 1)[1].rsplit(":", 1)[0]


def _index_platforms(registry: Registry, ref: str) -> list[str]:
    found = registry.manifest(_repository(ref), ref.rsplit(":", 1)[1])
    assert found is not None, f"{ref} is not in the registry"
    index, _ = found
    return sorted(
        "/".join(
            str(m["platform"][k])  # type: ignore[index]
            for k in ("os", "architecture", "variant")
            if k in m["platform"]  # type: ignore[index]
        )
        for m in index["manifests"]  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("tool", ["skopeo", "imagetools", "native"])
def test_mirror_keeps_the_index_digest(
    tool: str, base_image: BaseImage, registry: Registry, repo: str
) -> None:
    dest = f"{repo}:copy"
    result = mirror(Settings(), Runner(), src=base_image.ref, dest=dest, tool=tool)
    assert result.ok, result.render()
    [copy] = result.copies
    assert copy.tool == tool
    assert copy.digest == base_image.digest
    assert copy.src_digest == base_image.digest
    found = registry.manifest(_repository(dest), "copy")
    assert found is not None
    assert found[1] == base_image.digest
    assert _index_platforms(registry, dest) == sorted(base_image.platforms)


def test_native_path_through_the_cli_without_skopeo_or_docker(
    base_image: BaseImage, registry: Registry, repo: str, tmp_path: Path
) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    dest = f"{repo}:native"
    done = run_cli(
        "mirror", base_image.ref, dest, env={"PATH": str(bare)}, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"via native: {base_image.digest}" in done.stdout
    found = registry.manifest(_repository(dest), "native")
    assert found is not None
    assert found[1] == base_image.digest


def test_native_mounts_within_a_registry_then_skips_what_is_there(
    base_image: BaseImage, repo: str
) -> None:
    first = mirror(Settings(), Runner(), src=base_image.ref, dest=f"{repo}:a", tool="native")
    assert first.ok, first.render()
    blobs = first.copies[0].blobs
    assert blobs["mounted"] > 0
    assert blobs["copied"] == 0
    # Another tag, same repository: every child manifest is there, so no blob is touched.
    again = mirror(Settings(), Runner(), src=base_image.ref, dest=f"{repo}:b", tool="native")
    assert again.ok, again.render()
    assert again.copies[0].blobs == {"copied": 0, "mounted": 0, "skipped": 0}
    assert "manifest(s) already there" in again.copies[0].note
    # The same tag again: DEST already holds the digest, nothing is read from SRC.
    third = mirror(Settings(), Runner(), src=base_image.ref, dest=f"{repo}:b", tool="native")
    assert third.ok, third.render()
    assert third.copies[0].digest == base_image.digest
    assert "already there" in third.copies[0].note


def test_platform_subset_makes_a_new_index_and_says_so(
    base_image: BaseImage, registry: Registry, repo: str
) -> None:
    settings = Settings(platforms=parse_platforms("linux/arm64,linux/s390x"))
    dest = f"{repo}:subset"
    result = mirror(settings, Runner(), src=base_image.ref, dest=dest, platforms_given=True)
    assert result.ok, result.render()
    [copy] = result.copies
    assert copy.tool == "native"
    assert copy.digest != base_image.digest
    assert "changes the digest" in copy.note
    assert _index_platforms(registry, dest) == ["linux/arm64", "linux/s390x"]


def test_from_file_mirrors_every_line(
    base_image: BaseImage, partial_base_image: BaseImage, registry: Registry, repo: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    listing = tmp_path / "images.txt"
    listing.write_text(
        "# base images and sidecars\n\n"
        f"{base_image.ref} {repo}:full  # all five platforms\n"
        f"{partial_base_image.ref} {repo}\n"
    )
    result = mirror(Settings(), Runner(), src=None, dest=None, from_file=str(listing))
    assert result.ok, result.render()
    assert [c.digest for c in result.copies] == [base_image.digest, partial_base_image.digest]
    # A DEST without a tag takes the source's tag.
    assert sorted(registry.tags(_repository(f"{repo}:x"))) == ["full", "partial"]


def test_cli_failed_copy_exits_1_without_traceback(registry: Registry, tmp_path: Path) -> None:
    done = run_cli(
        "mirror",
        f"{registry.host}/nothing/here:1",
        f"{registry.host}/x/y:1",
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"mirror: FAILED {registry.host}/nothing/here:1" in done.stdout
    assert "not found" in done.stdout
    assert "Traceback" not in done.stderr
