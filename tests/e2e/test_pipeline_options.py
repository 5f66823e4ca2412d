"""Options of the pipeline steps against the real engine: attestations, media types,
annotations, the multi-platform strategy, split builds merged, builders (issue 3)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import example_args, index_platforms, run_cli, tag_digest

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"


def _index(registry, ref):
    repository, _, tag = ref.split("/", 1)[1].rpartition(":")
    found = registry.manifest(repository, tag)
    assert found is not None, ref
    return found[0]


def test_attestations_off_gives_plain_manifests(base_image, registry, repo, tmp_path):
    done = run_cli(
        "publish",
        "--image",
        repo,
        "--tag",
        "noatt",
        "--platforms",
        TWO,
        "--attestations",
        "off",
        "--strategy",
        "per-arch",
        *example_args(base_image.ref, str(tmp_path)),
    )
    assert done.returncode == 0, done.output[-3000:]
    per_arch = _index(registry, f"{repo}:noatt-linux-arm64")
    assert per_arch["mediaType"] in {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
    assert "manifests" not in per_arch
    index = _index(registry, f"{repo}:noatt")
    assert len(index["manifests"]) == 2
    assert index_platforms(registry, f"{repo}:noatt") == ["linux/amd64", "linux/arm64"]


@pytest.mark.parametrize("tool", ["native", "imagetools"])
def test_index_annotations_applied_at_merge(base_image, registry, repo, tmp_path, tool):
    env = {"INVOKE_MULTIARCH_ANNOTATIONS": "org.opencontainers.image.description=hello world"}
    done = run_cli(
        "publish",
        "--image",
        repo,
        "--tag",
        "ann",
        "--platforms",
        TWO,
        "--manifest-tool",
        tool,
        "--strategy",
        "per-arch",
        *example_args(base_image.ref, str(tmp_path)),
        env=env,
    )
    assert done.returncode == 0, done.output[-3000:]
    index = _index(registry, f"{repo}:ann")
    assert index["annotations"]["org.opencontainers.image.description"] == "hello world"


def test_docker_media_type_native(base_image, registry, repo, tmp_path):
    env = {"INVOKE_MULTIARCH_MEDIA_TYPE": "docker"}
    done = run_cli(
        "publish",
        "--image",
        repo,
        "--tag",
        "dl",
        "--platforms",
        TWO,
        "--manifest-tool",
        "native",
        *example_args(base_image.ref, str(tmp_path)),
        env=env,
    )
    assert done.returncode == 0, done.output[-3000:]
    index = _index(registry, f"{repo}:dl")
    assert index["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert "attestations dropped" in done.stdout
    assert index_platforms(registry, f"{repo}:dl") == ["linux/amd64", "linux/arm64"]


def test_multi_platform_strategy(base_image, registry, repo, tmp_path):
    done = run_cli(
        "publish",
        "--strategy",
        "multi-platform",
        "--image",
        repo,
        "--tag",
        "mp",
        "--tag",
        "mp2",
        "--platforms",
        "linux/amd64,linux/s390x",
        *example_args(base_image.ref, str(tmp_path)),
    )
    assert done.returncode == 0, done.output[-3000:]
    log = done.output[-3000:]
    assert index_platforms(registry, f"{repo}:mp") == ["linux/amd64", "linux/s390x"], log
    assert tag_digest(registry, f"{repo}:mp") == tag_digest(registry, f"{repo}:mp2"), log
    digests = json.loads((tmp_path / "digests.json").read_text())
    assert digests["index"] == tag_digest(registry, f"{repo}:mp"), (digests, log)
    assert set(digests) == {"linux/amd64", "linux/s390x", "index"}, digests


def test_split_builds_merged_from_digest_maps(base_image, registry, repo, tmp_path):
    """Two 'runners' build one platform each; merge --from reads both digest maps."""
    for platform, out in (("linux/amd64", "a"), ("linux/arm64", "b")):
        done = run_cli(
            "build",
            "--image",
            repo,
            "--tag",
            "split",
            "--platforms",
            platform,
            *example_args(base_image.ref, str(tmp_path / out)),
        )
        assert done.returncode == 0, done.output[-3000:]
    assert tag_digest(registry, f"{repo}:split") is None
    merged = run_cli(
        "merge",
        "--from",
        f"{tmp_path / 'a'},{tmp_path / 'b'}",
        "--image",
        repo,
        "--tag",
        "split",
        "--platforms",
        TWO,
        "--output-dir",
        str(tmp_path / "m"),
        "--json",
    )
    assert merged.returncode == 0, merged.output
    result = json.loads(merged.stdout)  # progress went to stderr
    assert result["digest"] == tag_digest(registry, f"{repo}:split")
    assert index_platforms(registry, f"{repo}:split") == ["linux/amd64", "linux/arm64"]


def test_docker_container_builder_created_once_then_reused(engine, tmp_path):
    name = "multiarch-e2e-dc"
    subprocess.run(["docker", "buildx", "rm", name], capture_output=True, check=False)
    env = {
        "INVOKE_MULTIARCH_BOOTSTRAP": "false",
        "INVOKE_MULTIARCH_INSECURE_REGISTRIES": "registry.internal:5000",
    }
    try:
        argv = ["builder-create", "--builder", name, "--driver", "docker-container"]
        first, second = (run_cli(*argv, "--platforms", TWO, cwd=tmp_path, env=env) for _ in "12")
        assert first.returncode == 0, first.output
        assert f"created builder '{name}'" in first.stdout
        config = (tmp_path / ".multiarch" / "buildkitd.toml").read_text()
        assert '[registry."registry.internal:5000"]' in config
        assert "http = true" in config
        assert second.returncode == 0, second.output
        assert f"reusing builder '{name}'" in second.stdout
        current = subprocess.run(
            ["docker", "buildx", "inspect"], capture_output=True, text=True, check=True
        ).stdout
        assert f"Name:          {name}" not in current  # the user's current builder unchanged
    finally:
        subprocess.run(["docker", "buildx", "rm", name], capture_output=True, check=False)


@pytest.mark.parametrize(
    "variant",
    [["--strategy", "multi-platform"], ["--backend", "buildah"]],
    ids=["multi-platform", "buildah"],
)
def test_failing_platform_keeps_the_tag_with_every_strategy(
    base_image, registry, repo, tmp_path, variant
):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nARG FAIL_ON=none\n"
        'RUN if [ "$(uname -m)" = "$FAIL_ON" ]; then echo "boom on $FAIL_ON" >&2; exit 3; fi\n'
    )
    args = ["publish", *variant, "--image", repo, "--tag", "keep", "--platforms",
            "linux/amd64,linux/s390x", "--context", str(tmp_path), "--output-dir",
            str(tmp_path / "o")]  # fmt: skip
    good = run_cli(*args)
    assert good.returncode == 0, good.output[-3000:]
    before = tag_digest(registry, f"{repo}:keep")
    bad = run_cli(*args, "--build-arg", "FAIL_ON=s390x")
    assert bad.returncode == 1, bad.output[-3000:]
    assert "Traceback" not in bad.output
    assert "build failed for linux/s390x;" in bad.stderr
    assert tag_digest(registry, f"{repo}:keep") == before
