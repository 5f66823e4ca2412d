"""publish and its steps against the real engine, registry and QEMU (issue 3)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, example_args, index_platforms, run_cli, tag_digest

pytestmark = pytest.mark.e2e
FIVE = ["linux/amd64", "linux/arm64", "linux/s390x", "linux/ppc64le", "linux/arm/v7"]
UNAME = {
    "linux/amd64": "x86_64",
    "linux/arm64": "aarch64",
    "linux/s390x": "s390x",
    "linux/ppc64le": "ppc64le",
    "linux/arm/v7": "armv7l",
}


def _run_image(ref: str, platform: str) -> str:
    subprocess.run(
        ["docker", "pull", "-q", "--platform", platform, ref], check=True, capture_output=True
    )
    out = subprocess.run(
        ["docker", "run", "--rm", "--pull=never", "--platform", platform, ref],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.splitlines()[0].strip()


def test_inv_publish_from_invoke_yaml_five_platforms(
    base_image, registry, repo, tmp_path, engine, qemu
):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".multiarch"))
    (project / "invoke.yaml").write_text(
        json.dumps(
            {
                "multiarch": {
                    "image": repo,
                    "tags": ["1.0", "latest"],
                    "platforms": FIVE,
                    "build_args": {"BASE": base_image.ref},
                }
            }
        )
    )
    done = run_cli("multiarch.publish", cwd=project, program="inv")
    assert done.returncode == 0, done.output[-3000:]
    assert index_platforms(registry, f"{repo}:1.0") == sorted(FIVE)
    assert tag_digest(registry, f"{repo}:1.0") == tag_digest(registry, f"{repo}:latest")
    for platform in FIVE:
        assert _run_image(f"{repo}:1.0", platform) == UNAME[platform], platform
    digests = json.loads((project / ".multiarch" / "digests.json").read_text())
    assert set(digests) == {*FIVE, "index"}
    assert digests["index"] == tag_digest(registry, f"{repo}:1.0")


@pytest.fixture(scope="module")
def per_arch_with_attestations(base_image, registry, tmp_path_factory, engine, qemu):
    """Per-arch pushes with buildx's default attestations ON, as the article's Makefile."""
    repo = registry.repo("trap")
    out = tmp_path_factory.mktemp("trap")
    done = run_cli(
        "build",
        "--image",
        repo,
        "--tag",
        "1",
        "--platforms",
        "linux/amd64,linux/arm64",
        "--strategy",
        "per-arch",
        *example_args(base_image.ref, str(out)),
    )
    assert done.returncode == 0, done.output[-3000:]
    found = registry.manifest(repo.split("/", 1)[1], "1-linux-arm64")
    assert found is not None
    assert found[0]["mediaType"] == "application/vnd.oci.image.index.v1+json"
    return repo, out


def test_article_trap_reproduced(per_arch_with_attestations):
    repo, _ = per_arch_with_attestations
    done = subprocess.run(
        [
            "docker",
            "manifest",
            "create",
            "--insecure",
            "--amend",
            f"{repo}:article",
            f"{repo}:1-linux-amd64",
            f"{repo}:1-linux-arm64",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "is a manifest list" in done.stderr


@pytest.mark.parametrize("tool", ["imagetools", "docker", "native"])
def test_each_manifest_tool_merges_attested_per_arch_tags(
    per_arch_with_attestations, registry, tool
):
    repo, out = per_arch_with_attestations
    common = [
        "--image",
        repo,
        "--tag",
        tool,
        "--platforms",
        "linux/amd64,linux/arm64",
        "--output-dir",
        str(out),
        "--manifest-tool",
        tool,
    ]
    created = run_cli("manifest-create", *common)
    assert created.returncode == 0, created.output
    assert tag_digest(registry, f"{repo}:{tool}") is None  # create moves no tag
    pushed = run_cli("manifest-push", *common)
    assert pushed.returncode == 0, pushed.output
    assert index_platforms(registry, f"{repo}:{tool}") == ["linux/amd64", "linux/arm64"]
    assert "attaches attestations by default" in created.stdout
    index, _ = registry.manifest(repo.split("/", 1)[1], tool)
    kinds = [m.get("annotations", {}).get("vnd.docker.reference.type") for m in index["manifests"]]
    if tool == "docker":
        assert "attestation-manifest" not in kinds
    else:
        assert kinds.count("attestation-manifest") == 2


def test_failing_platform_keeps_previous_tag(base_image, registry, repo, tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nARG FAIL_ON=none\n"
        'RUN if [ "$(uname -m)" = "$FAIL_ON" ]; then echo "boom on $FAIL_ON" >&2; exit 3; fi\n'
    )
    args = [
        "publish",
        "--image",
        repo,
        "--tag",
        "stable",
        "--platforms",
        "linux/amd64,linux/s390x",
        "--context",
        str(context),
        "--output-dir",
        str(tmp_path / "o"),
    ]
    good = run_cli(*args)
    assert good.returncode == 0, good.output[-3000:]
    before = tag_digest(registry, f"{repo}:stable")
    assert before
    bad = run_cli(*args, "--build-arg", "FAIL_ON=s390x")
    assert bad.returncode == 1
    assert "linux/s390x" in bad.stderr.strip().splitlines()[-1]
    assert "Traceback" not in bad.output
    assert "boom on s390x" in bad.stdout
    assert tag_digest(registry, f"{repo}:stable") == before


def test_second_publish_takes_the_emulated_run_step_from_cache(
    base_image, registry, repo, tmp_path
):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nARG BUST\nRUN echo $BUST > /bust && uname -m > /arch\n"
    )
    args = [
        "publish", "--image", repo, "--tag", "twice", "--platforms", "linux/amd64,linux/arm64",
        "--context", str(context), "--build-arg", f"BUST={uuid.uuid4()}",
        "--output-dir", str(tmp_path / "o"),
    ]  # fmt: skip

    def run_step_cached(stdout: str) -> bool:
        # `#7 [linux/arm64 2/2] RUN echo ...` then, from the cache, `#7 CACHED`.
        steps = {m.group(1) for m in re.finditer(r"(#\d+) \[linux/arm64[^\]]*\] RUN echo", stdout)}
        assert steps, stdout[-3000:]
        return all(re.search(rf"{step} CACHED", stdout) for step in steps)

    first = run_cli(*args)
    assert first.returncode == 0, first.output[-3000:]
    assert not run_step_cached(first.stdout)  # a fresh BUST: really run under QEMU
    second = run_cli(*args)
    assert second.returncode == 0, second.output[-3000:]
    assert run_step_cached(second.stdout)
    assert tag_digest(registry, f"{repo}:twice")


def test_builder_lacking_platform_suggests_qemu_setup_then_qemu_setup_fixes_it(engine):
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-riscv64")
    if not handler.exists():
        pytest.fail("qemu-riscv64 handler not registered (scripts/engine-up registers it)")
    handler.write_text("0")
    try:
        done = run_cli("builder-create", "--platforms", "linux/amd64,linux/riscv64")
        assert done.returncode == 1
        assert "linux/riscv64" in done.stderr
        assert "qemu-setup" in done.stderr
        fixed = run_cli("qemu-setup", "--platforms", "linux/riscv64", "--mode", "host")
        assert fixed.returncode == 0, fixed.output
        assert "emulator added: linux/riscv64" in fixed.stdout
        assert handler.read_text().startswith("enabled")
    finally:
        handler.write_text("1")


def test_nox_publish_example_session(base_image, registry, tmp_path):
    """The noxfile's publish-example session, as a user's CI would run it."""
    root = Path(__file__).resolve().parents[2]
    import sys  # noqa: PLC0415

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nox",
            "-f",
            str(root / "noxfile.py"),
            "-s",
            "publish-example",
            "--envdir",
            str(tmp_path / "nox"),
            "--",
            registry.host,
            base_image.ref,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    ref = f"{registry.host}/examples/hello:ci"
    assert index_platforms(registry, ref) == ["linux/amd64", "linux/arm64", "linux/s390x"]


def test_buildah_backend_publishes_every_platform_with_no_cache_and_pull(
    base_image, registry, repo, tmp_path
):
    done = run_cli(
        "publish",
        "--backend",
        "buildah",
        "--image",
        repo,
        "--tag",
        "bah",
        "--platforms",
        "linux/amd64,linux/arm64,linux/s390x",
        "--no-cache",
        "--pull",
        *example_args(base_image.ref, str(tmp_path / "o")),
    )
    assert done.returncode == 0, done.output[-3000:]
    # buildx's --no-cache and --pull, in buildah's words, accepted by the real buildah.
    assert "buildah build --platform linux/s390x --tls-verify=false --no-cache --pull=always" in (
        done.stdout
    )
    assert index_platforms(registry, f"{repo}:bah") == ["linux/amd64", "linux/arm64", "linux/s390x"]
    for platform in ("linux/arm64", "linux/s390x"):
        assert _run_image(f"{repo}:bah", platform) == UNAME[platform]


def test_publish_stops_at_preflight_before_any_push(partial_base_image, registry, repo, tmp_path):
    """A base with only amd64+arm64, published for s390x too: nothing is pushed."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {partial_base_image.ref}\nRUN true\n")
    done = run_cli(
        "publish", "--image", repo, "--tag", "pf", "--platforms",
        "linux/amd64,linux/arm64,linux/s390x", "--context", str(context),
        "--output-dir", str(tmp_path / "o"),
    )  # fmt: skip
    assert done.returncode == 1
    assert "preflight failed" in done.stderr
    assert "linux/s390x" in done.stdout
    assert partial_base_image.ref in done.stdout
    assert "$ docker buildx build" in done.stdout  # planned (printed) ...
    ran = [line for line in done.stdout.splitlines() if line.startswith("docker buildx build")]
    assert ran == []  # ... never run
    assert registry.tags(repo.split("/", 1)[1]) == []


def test_buildah_reads_the_base_registry_from_an_arg_default(base_image, registry, repo, tmp_path):
    """`ARG BASE=<loopback base>` / `FROM ${BASE}`, no --build-arg: buildah must pull the
    base over plain HTTP, which only the ARG-expanding Dockerfile parser can tell it."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"ARG BASE={base_image.ref}\nFROM ${{BASE}}\nRUN uname -m > /built-on\n"
    )
    done = run_cli(
        "publish", "--backend", "buildah", "--image", repo, "--tag", "argbase",
        "--platforms", "linux/amd64,linux/arm64,linux/s390x",
        "--context", str(context), "--output-dir", str(tmp_path / "o"),
    )  # fmt: skip
    assert done.returncode == 0, done.output[-3000:]
    assert "buildah build --platform linux/s390x --tls-verify=false" in done.stdout
    assert f"verify {repo}@sha256:" in done.stdout
    assert index_platforms(registry, f"{repo}:argbase") == [
        "linux/amd64", "linux/arm64", "linux/s390x"
    ]  # fmt: skip
