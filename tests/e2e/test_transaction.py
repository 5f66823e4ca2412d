"""publish is a transaction: nothing that fails verify reaches a tag, concurrent runs do not
mix, and an interrupted run stops its children and says where the tags are."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from testbed.base_images import busybox_binary
from testbed.processes import processes_mentioning
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e
TWO = "linux/amd64,linux/arm64"


def _digest(registry, repo: str, tag: str) -> str | None:
    found = registry.manifest(repo.split("/", 1)[1], tag)
    return found[1] if found else None


def _publish(repo: str, context: Path, out: Path, *args: str, **kwargs) -> object:
    return run_cli(
        "publish", "--image", repo, "--platforms", TWO, "--context", str(context),
        "--output-dir", str(out), *args, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("strategy", ["per-arch", "multi-platform"])
def test_failed_deep_verify_promotes_nothing_and_names_the_unpromoted_index(
    base_image, registry, repo, tmp_path, strategy
):
    good = tmp_path / "good"
    good.mkdir()
    (good / "Dockerfile").write_text(f"FROM {base_image.ref}\nRUN true\n")
    first = _publish(repo, good, tmp_path / "o1", "--tag", "keep", "--strategy", strategy)
    assert first.returncode == 0, first.output[-3000:]
    kept = _digest(registry, repo, "keep")
    assert kept

    bad = tmp_path / "bad"
    bad.mkdir()
    # An x86-64 binary copied into every platform: the arm64 image cannot run it.
    shutil.copy(busybox_binary("amd64"), bad / "tool")
    (bad / "Dockerfile").write_text(f"FROM {base_image.ref}\nCOPY tool /usr/local/bin/tool\n")
    done = _publish(
        repo, bad, tmp_path / "o2", "--tag", "keep,fresh", "--deep", "--strategy", strategy
    )
    assert done.returncode == 1
    assert "/usr/local/bin/tool: x86-64" in done.stdout
    assert "verify failed: nothing promoted; the unpromoted index is" in done.stdout
    unpromoted = done.stdout.split("the unpromoted index is ", 1)[1].split(";")[0]
    name, _, digest = unpromoted.partition("@")
    assert name == repo
    assert _digest(registry, repo, digest) == digest  # there, to inspect, by digest only
    assert _digest(registry, repo, "keep") == kept
    assert _digest(registry, repo, "fresh") is None
    assert f"{repo}:keep still at {kept}" in done.stdout


def _layer_file(registry, repo: str, digest: str, platform: str, path: str) -> str:
    """The text of ``path`` in ``platform``'s image of the index ``repo@digest``."""
    repository = repo.split("/", 1)[1]
    index, _ = registry.manifest(repository, digest)
    (entry,) = [
        m for m in index["manifests"]
        if f"{m['platform']['os']}/{m['platform']['architecture']}" == platform
    ]  # fmt: skip
    manifest, _ = registry.manifest(repository, entry["digest"])
    for layer in reversed(manifest["layers"]):
        url = f"http://{registry.host}/v2/{repository}/blobs/{layer['digest']}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            data = resp.read()
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            try:
                member = tar.extractfile(path)
            except KeyError:
                continue
            if member is not None:
                return member.read().decode().strip()
    raise AssertionError(f"{path} not in {platform} of {repo}@{digest}")


@pytest.mark.parametrize("shared_output", [False, True], ids=["own-output", "shared-output"])
def test_concurrent_publishes_of_one_tag_never_mix_their_images(
    base_image, registry, repo, tmp_path, shared_output
):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base_image.ref}\nARG V\nRUN echo $V > /v\n")
    rounds = 3 if not shared_output else 1
    for round_ in range(rounds):

        def run(value: str, round_: int = round_) -> dict[str, object]:
            out = tmp_path / ("o" if shared_output else f"o-{round_}-{value}")
            done = _publish(
                repo, context, out, "--tag", "v1", "--build-arg", f"V={value}", "--json"
            )
            assert done.returncode == 0, done.output[-3000:]
            return json.loads(done.stdout)

        with ThreadPoolExecutor(2) as pool:
            results = dict(zip("AB", pool.map(run, "AB"), strict=True))
        for value, result in results.items():
            digest = str(result["digest"])
            for platform in TWO.split(","):
                assert _layer_file(registry, repo, digest, platform, "v") == value
        assert results["A"]["digest"] != results["B"]["digest"]
        assert _digest(registry, repo, "v1") in {r["digest"] for r in results.values()}


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_builds_stops_every_child_and_leaves_the_tag(
    base_image, registry, repo, tmp_path, sig, code
):
    good = tmp_path / "good"
    good.mkdir()
    (good / "Dockerfile").write_text(f"FROM {base_image.ref}\nRUN true\n")
    first = _publish(repo, good, tmp_path / "o1", "--tag", "sig")
    assert first.returncode == 0, first.output[-3000:]
    before = _digest(registry, repo, "sig")

    slow = tmp_path / "slow-context"
    slow.mkdir()
    # Unique per run, so no earlier run's cache makes the step instant.
    (slow / "Dockerfile").write_text(f"FROM {base_image.ref}\nRUN sleep 60 && echo {tmp_path}\n")
    multiarch = str(Path(sys.executable).parent / "multiarch")
    proc = subprocess.Popen(
        [multiarch, "publish", "--image", repo, "--tag", "sig", "--platforms", TWO,
         "--strategy", "per-arch",
         "--context", str(slow), "--output-dir", str(tmp_path / "o2")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # Wait until both builds run (their sleep step started).
        while time.monotonic() < deadline:
            running = [p for p in processes_mentioning(str(slow)) if "buildx build" in p]
            # The docker CLI and its buildx plugin, for each platform.
            if {"--platform linux/amd64" in p for p in running} == {True, False}:
                break
            time.sleep(0.2)
        if {"--platform linux/amd64" in p for p in running} != {True, False}:
            proc.kill()
            pytest.fail(f"builds never ran together: {running}\n{proc.communicate()}")
        time.sleep(2)
        proc.send_signal(sig)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, (out + err)[-3000:]
    assert elapsed < 10
    assert processes_mentioning(str(slow)) == []
    assert f"interrupted by {sig.name}: nothing promoted; {repo}:sig still at {before}" in err
    assert _digest(registry, repo, "sig") == before
