"""The fork pull-request path: shards built to OCI layouts, merged and verified on disk (issue 20).

A pull request from a fork has no registry credentials: each shard runs ``build --layout``
(buildx ``--output type=oci``) into its own output directory, as three CI jobs would;
``merge --layout`` joins their layouts into one, and ``verify oci-layout://DIR:TAG`` reads
it from disk with the checks it runs on a registry. Nothing reaches the registry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testbed.base_images import busybox_binary
from tests.conftest import one_line_error, run_cli

pytestmark = pytest.mark.e2e
SHARDS = ("linux/amd64", "linux/arm64", "linux/s390x")
TAG = "pr-7-abc123"


def _context(tmp_path: Path, base: str, tools: dict[str, str]) -> Path:
    """A Dockerfile copying ``tool-$TARGETARCH``; ``tools`` maps each arch to the Debian
    arch whose busybox it holds (a wrong one plants a foreign program in that platform)."""
    context = tmp_path / "ctx"
    context.mkdir()
    for arch, debian in tools.items():
        shutil.copy(busybox_binary(debian), context / f"tool-{arch}")
    (context / "Dockerfile").write_text(
        f"FROM {base}\nARG TARGETARCH\nCOPY tool-${{TARGETARCH}} /usr/local/bin/tool\n"
    )
    return context


def _build_and_merge(repo: str, context: Path, out: Path) -> tuple[str, dict[str, object]]:
    """Build each shard to its own layout, merge them; the merged layout's reference."""
    shards = []
    for platform in SHARDS:
        shard = out / f"digests-{platform.replace('/', '-')}"
        done = run_cli(
            "build", "--image", repo, "--platforms", platform, "--context", str(context),
            "--output-dir", str(shard), "--tag", TAG, "--layout",
        )  # fmt: skip
        assert done.returncode == 0, done.output[-3000:]
        assert "type=oci,tar=false,dest=" in done.stdout, done.stdout[-3000:]
        assert (shard / "layout" / "index.json").is_file()
        digests = json.loads((shard / "digests.json").read_text())
        assert digests[platform].startswith("sha256:")
        assert digests["layouts"] == {platform: "layout"}
        shards.append(str(shard))
    merged = run_cli(
        "merge", "--from", ",".join(shards), "--image", repo, "--platforms", ",".join(SHARDS),
        "--output-dir", str(out / "merge"), "--tag", TAG, "--layout", "--json",
    )  # fmt: skip
    assert merged.returncode == 0, merged.output[-3000:]
    result = json.loads(merged.stdout)
    return f"oci-layout://{out / 'merge' / 'layout'}:{TAG}", result


def test_three_layout_shards_merge_into_one_layout_that_verifies_and_the_registry_gets_no_tag(
    base_image, registry, repo, tmp_path
):
    name = repo.split("/", 1)[1]
    assert registry.tags(name) == []
    context = _context(
        tmp_path, base_image.ref, {"amd64": "amd64", "arm64": "arm64", "s390x": "s390x"}
    )
    ref, result = _build_and_merge(repo, context, tmp_path / "out")
    assert result["tags"] == [ref]
    assert result["ok"] is True
    index = json.loads((tmp_path / "out" / "merge" / "layout" / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == TAG
    assert entry["digest"] == result["digest"]

    done = run_cli("verify", ref, "--platforms", ",".join(SHARDS), "--deep", "--json")
    assert done.returncode == 0, done.output[-3000:]
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert sorted(p["platform"] for p in report["platforms"]) == sorted(SHARDS)
    assert report["digest"] == result["digest"]

    shown = run_cli("inspect", ref)
    assert shown.returncode == 0, shown.output[-3000:]
    for platform in SHARDS:
        assert platform in shown.stdout
    assert registry.tags(name) == [], "a layout build or merge wrote a tag to the registry"


def test_layout_whose_arm64_shard_holds_an_x86_64_binary_fails_verify_deep_naming_arm64(
    base_image, registry, repo, tmp_path
):
    name = repo.split("/", 1)[1]
    context = _context(
        tmp_path, base_image.ref, {"amd64": "amd64", "arm64": "amd64", "s390x": "s390x"}
    )
    ref, _ = _build_and_merge(repo, context, tmp_path / "out")
    done = run_cli("verify", ref, "--platforms", ",".join(SHARDS), "--deep")
    assert done.returncode == 1, done.output[-3000:]
    assert "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)" in done.stdout
    assert "linux/s390x: /usr/local/bin/tool" not in done.stdout
    assert registry.tags(name) == []


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("oci-layout://{tmp}/nowhere", "no such directory"),
        ("oci-layout://{tmp}", "no index.json"),
    ],
)
def test_verify_of_a_bad_layout_reference_is_one_line_naming_the_path(ref, needle, tmp_path):
    text = ref.format(tmp=tmp_path)
    done = run_cli("verify", text)
    assert done.returncode == 1, done.output
    assert "Traceback" not in done.output
    [line] = done.stderr.strip().splitlines()
    assert needle in line
    assert str(tmp_path) in line


def test_build_layout_on_the_classic_store_docker_driver_refuses_before_building(
    classic_engine, tmp_path
):
    # buildx itself says "OCI exporter is not supported for the docker driver" there.
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    done = run_cli(
        "build", "--image", "127.0.0.1:5000/layout/classic", "--platforms", "linux/amd64",
        "--context", str(context), "--output-dir", str(tmp_path / "out"), "--layout",
        env={"DOCKER_HOST": classic_engine},
    )  # fmt: skip
    line = one_line_error(done, "classic image store", "--driver docker-container")
    assert "--layout cannot run on builder 'default'" in line
    assert not (tmp_path / "out" / "layout").exists()
