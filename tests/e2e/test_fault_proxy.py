"""Transient registry faults, injected by a loopback proxy in front of the real registry.

The proxy (testbed/fault_proxy.py) answers chosen requests with 500, 429 + Retry-After or
401, drops the connection, or cuts a body in half; everything else reaches the real
Distribution registry. What each test proves: the command still succeeds (or fails at
once, for 401), the registry ends up holding the right digest, the proxy really injected
the faults, and the output says a retry happened.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from testbed.fault_proxy import Rule
from testbed.registry import Registry, RegistryConfig
from tests.conftest import CliResult, example_args, run_cli, tag_digest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from testbed.fault_proxy import FaultProxy
    from tests.conftest import BaseImage

pytestmark = pytest.mark.e2e

MANIFEST_PUT = Rule(method="PUT", path=r"/manifests/", first=1, status=500)


def _platform_digests(registry: Registry, base: BaseImage) -> dict[str, str]:
    repository, _, tag = base.ref.split("/", 1)[1].rpartition(":")
    return registry.platform_digests(repository, tag)


def _via(proxy: FaultProxy, ref: str) -> str:
    """``ref`` with the registry host replaced by the proxy's."""
    return proxy.host + "/" + ref.split("/", 1)[1]


def _copy_base_to(registry: Registry, base: BaseImage, repo: str) -> None:
    done = run_cli("mirror", base.ref, f"{repo}:src", "--tool", "native", timeout=300)
    assert done.returncode == 0, done.output


@pytest.fixture
def second_registry(tmp_path: Path) -> Iterator[Registry]:
    """Another registry on loopback, for copies that cannot mount blobs."""
    reg = Registry(RegistryConfig(root=tmp_path / "second"))
    yield reg
    reg.stop()


def _merge_args(proxy: FaultProxy, repo: str, digests: dict[str, str], out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "digests.json").write_text(json.dumps(digests))
    return ["merge", "--from", str(out), "--image", _via(proxy, repo), "--tag", "v1",
            "--platforms", ",".join(digests), "--output-dir", str(out)]  # fmt: skip


def test_native_merge_succeeds_when_the_first_index_put_gets_500_and_logs_the_retry(
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    _copy_base_to(registry, base_image, repo)
    proxy = fault_proxy(Rule(method="PUT", path=r"/manifests/v1$", first=1, status=500))
    digests = _platform_digests(registry, base_image)
    done = run_cli(
        *_merge_args(proxy, repo, digests, tmp_path / "out"), "--manifest-tool", "native"
    )
    assert done.returncode == 0, done.output
    assert [f.method for f in proxy.faults()] == ["PUT"]
    assert "500 Internal Server Error; retry 1/3" in done.output
    assert tag_digest(registry, f"{repo}:v1") is not None


def test_imagetools_merge_gets_through_a_500_on_the_index_put(
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    _copy_base_to(registry, base_image, repo)
    proxy = fault_proxy(Rule(method="PUT", path=r"/manifests/v1$", first=1, status=500))
    digests = _platform_digests(registry, base_image)
    done = run_cli(
        *_merge_args(proxy, repo, digests, tmp_path / "out"), "--manifest-tool", "imagetools"
    )
    assert done.returncode == 0, done.output
    assert [f.method for f in proxy.faults()] == ["PUT"]
    # imagetools composes the index (--dry-run); it goes in by digest, is verified, and the
    # registry client writes the tag, retrying the 500 it got there.
    retries = [line for line in done.output.splitlines() if "retry 1/3" in line]
    assert len(retries) == 1, done.output
    assert retries[0].startswith("registry: PUT ")
    assert "/manifests/v1: 500" in retries[0]
    assert "manifest (imagetools): pushed" in done.output
    assert tag_digest(registry, f"{repo}:v1") is not None


FLAKY = (
    Rule(method="GET", path=r"/manifests/", first=1, status=500),
    Rule(method="GET", path=r"/manifests/sha256:", every=3, status=429, retry_after="1"),
    Rule(method="GET", path=r"/blobs/", first=1, drop=True),
    Rule(method="GET", path=r"/blobs/", every=4, status=503),
)


def test_verify_survives_500_429_and_dropped_connections(
    base_image: BaseImage, fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = fault_proxy(*FLAKY)
    done = run_cli(
        "verify", _via(proxy, base_image.ref), "--platforms", ",".join(base_image.platforms)
    )
    assert done.returncode == 0, done.output
    kinds = {f.fault for f in proxy.faults()}
    assert {"status 500", "status 429", "drop"} <= kinds, proxy.faults()
    assert "retry 1/3" in done.output


def test_deep_verify_survives_a_layer_cut_in_half(
    base_image: BaseImage, fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = fault_proxy(Rule(method="GET", path=r"/blobs/", every=5, cut=True))
    done = run_cli(
        "verify",
        _via(proxy, base_image.ref),
        "--platforms",
        ",".join(base_image.platforms),
        "--deep",
    )
    assert done.returncode == 0, done.output
    assert "cut" in {f.fault for f in proxy.faults()}
    assert "retry 1/3" in done.output


def test_inspect_survives_500_429_and_dropped_connections(
    base_image: BaseImage, fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = fault_proxy(
        Rule(method="GET", path=r"/manifests/", first=1, drop=True),
        Rule(method="GET", path=r"/manifests/", first=2, status=429, retry_after="1"),
        Rule(method="GET", path=r"/manifests/", first=3, status=500),
    )
    done = run_cli("inspect", _via(proxy, base_image.ref))
    assert done.returncode == 0, done.output
    assert [f.fault for f in proxy.faults()] == ["drop", "status 429", "status 500"]
    for platform in base_image.platforms:
        assert platform in done.stdout
    assert "retry 3/3" in done.output


def test_native_mirror_survives_500_429_drops_and_a_cut_blob(
    base_image: BaseImage,
    second_registry: Registry,
    fault_proxy: Callable[..., FaultProxy],
) -> None:
    # Source through one proxy, destination another registry behind a second one, so
    # every blob is streamed from one to the other (no mount possible).
    proxy = fault_proxy(
        Rule(method="GET", path=r"/manifests/sha256:", first=1, status=500),
        Rule(method="GET", path=r"/blobs/", first=1, cut=True),
        Rule(method="GET", path=r"/blobs/", every=3, status=429, retry_after="1"),
    )
    dest_proxy = fault_proxy(
        Rule(method="HEAD", path=r"/manifests/", first=1, drop=True),
        Rule(method="PUT", path=r"/blobs/uploads/", first=1, status=500),
        Rule(method="POST", path=r"/blobs/uploads/", every=4, status=503),
        Rule(method="PUT", path=r"/manifests/", per_path=True, first=1, status=500),
        upstream=second_registry.host,
    )
    dest = f"{dest_proxy.host}/mirrored/busybox:full"
    done = run_cli("mirror", _via(proxy, base_image.ref), dest, "--tool", "native", timeout=600)
    assert done.returncode == 0, done.output
    found = second_registry.manifest("mirrored/busybox", "full")
    assert found is not None
    assert found[1] == base_image.digest
    assert {"status 500", "cut", "status 429"} <= {f.fault for f in proxy.faults()}
    dest_kinds = {f.fault for f in dest_proxy.faults()}
    assert {"drop", "status 500", "status 503"} <= dest_kinds, dest_proxy.faults()
    assert "retry 1/3" in done.output


@pytest.fixture
def docker_config(tmp_path: Path) -> Callable[[str], dict[str, str]]:
    """An env with a DOCKER_CONFIG holding (wrong) credentials for ``host``."""

    def make(host: str) -> dict[str, str]:
        config = tmp_path / "docker-config"
        config.mkdir(exist_ok=True)
        auth = base64.b64encode(b"someone:wrong-password").decode()
        (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
        return {"DOCKER_CONFIG": str(config)}

    return make


@pytest.mark.parametrize("command", ["verify", "inspect", "mirror", "merge"])
def test_persistent_401_fails_at_once_naming_the_registry(
    command: str,
    base_image: BaseImage,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    docker_config: Callable[[str], dict[str, str]],
    tmp_path: Path,
    registry: Registry,
) -> None:
    proxy = fault_proxy(Rule(status=401, headers={"WWW-Authenticate": 'Basic realm="fault-proxy"'}))
    ref = _via(proxy, base_image.ref)
    args = {
        "verify": ["verify", ref, "--platforms", ",".join(base_image.platforms)],
        "inspect": ["inspect", ref],
        "mirror": ["mirror", ref, f"{repo}:copy", "--tool", "native"],
        "merge": [
            *_merge_args(proxy, repo, _platform_digests(registry, base_image), tmp_path / "o"),
            "--manifest-tool",
            "native",
        ],
    }[command]
    done = run_cli(*args, env=docker_config(proxy.host), timeout=120)
    assert done.returncode == 1, done.output
    assert proxy.host in done.output
    assert "401" in done.output
    assert "Traceback" not in done.output
    assert "retry" not in done.output
    assert "wrong-password" not in done.output
    # Challenge, answer with the credentials, refused: at most two requests per read.
    assert len(proxy.log) <= 2 * len(base_image.platforms) + 2, proxy.log


def test_publish_retries_per_arch_push_through_500(
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    """issue 9: the first PUT of every per-arch manifest and of the index gets a 500."""
    proxy = fault_proxy(Rule(method="PUT", path=r"/manifests/", per_path=True, first=1, status=500))
    image = _via(proxy, repo)
    done = run_cli(
        "publish", "--image", image, "--tag", "v1", "--platforms", "linux/amd64,linux/arm64",
        "--strategy", "per-arch", *example_args(base_image.ref, tmp_path / "out"),
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.output
    faulted = [f.path for f in proxy.faults() if f.method == "PUT"]
    # every per-arch push (to its staging tag) got its 500 and went through all the same
    assert sum("-staging-" in path for path in faulted) == 2, faulted
    retries = [
        line for line in done.output.splitlines()
        if line.startswith("registry: PUT ") and ": 500 " in line and "retry 1/" in line
    ]  # fmt: skip
    assert any("/manifests/sha256:" in line for line in retries), done.output  # the index
    assert any("/manifests/v1: 500" in line for line in retries), done.output  # promotion
    assert tag_digest(registry, f"{repo}:v1") is not None


@pytest.mark.parametrize("tool", ["native", "imagetools"])
def test_merge_gets_through_a_proxy_failing_every_4th_request(
    tool: str,
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    """issue 9, Why 3: every 4th request answered 500, whatever it is."""
    _copy_base_to(registry, base_image, repo)
    proxy = fault_proxy(Rule(every=4, status=500))
    digests = _platform_digests(registry, base_image)
    done = run_cli(
        *_merge_args(proxy, repo, digests, tmp_path / "out"), "--manifest-tool", tool, timeout=600
    )
    assert done.returncode == 0, done.output
    assert proxy.faults(), "the proxy injected nothing"
    assert "registry: " in done.output  # the native client's own retry lines
    if tool == "imagetools":
        # imagetools makes more than 4 requests per run: it cannot get through on its own.
        assert "merging through the registry API instead" in done.output
    assert tag_digest(registry, f"{repo}:v1") is not None


def _publish_through(
    proxy: FaultProxy,
    repo: str,
    base: BaseImage,
    out: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> CliResult:
    """``publish`` of examples/hello for amd64+arm64 through ``proxy``, with --echo."""
    return run_cli(
        "--echo", "publish", "--image", _via(proxy, repo), "--tag", "v1",
        "--platforms", "linux/amd64,linux/arm64", *extra, *example_args(base.ref, out),
        env=env, timeout=1200,
    )  # fmt: skip


def _retry_lines(output: str) -> list[str]:
    """Every retry the log shows: BuildKit's own, the build step's, the registry client's."""
    return [
        line for line in output.splitlines()
        # BuildKit (push), under its short platform or the step (issue 18): `  build │ #12 …`
        if re.search(r"^ *[\w/]+ │ #\d+ [\d.]+ retrying in \d", line)
        or line.startswith("retrying in ")  # the build step, run again
        or (line.startswith("registry: ") and "; retry " in line)  # the registry client
    ]  # fmt: skip


def _assert_published_through_faults(done: CliResult, proxy: FaultProxy, ref: str) -> None:
    """Succeeded, every injected 500 is answered by a retry in the log, the index verified."""
    assert done.returncode == 0, done.output[-4000:]
    faults = proxy.faults()
    assert faults, "the proxy injected nothing"
    retries = _retry_lines(done.output)
    # One retry per injected 500 at least (a build step run again may retry several).
    assert len(retries) >= len(faults), (faults, done.output[-4000:])
    for line in retries:
        if line.startswith("retrying in "):  # the build step's: names itself and the 500
            assert re.match(r"retrying in \d+s \(\d/3\) build linux/", line), line
            assert "500 Internal Server Error" in line, line
    assert _verified(done, ref), done.output[-4000:]


def _verified(done: CliResult, ref: str) -> list[str]:
    """The lines saying the index of ``ref`` passed verify."""
    return [
        line for line in done.output.splitlines()
        if line.startswith(f"verify {ref}@sha256:") and line.endswith(": OK")
    ]  # fmt: skip


EVERY_FIRST_MANIFEST_PUT = Rule(
    method="PUT", path=r"/manifests/", per_path=True, first=1, status=500
)


@pytest.mark.parametrize("strategy", ["auto", "per-arch"])
def test_publish_on_containerd_store_gets_through_a_500_on_every_first_manifest_put(
    strategy: str,
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    """issue 17: the default path (one multi-platform build + push) and per-arch."""
    proxy = fault_proxy(EVERY_FIRST_MANIFEST_PUT)
    done = _publish_through(proxy, repo, base_image, tmp_path / "out", "--strategy", strategy)
    _assert_published_through_faults(done, proxy, _via(proxy, repo))
    platforms = "--platform linux/amd64,linux/arm64 "
    assert (platforms in done.stdout) is (strategy == "auto")  # auto: one multi-platform build
    assert tag_digest(registry, f"{repo}:v1") is not None


def test_publish_auto_retries_the_build_when_dockerds_own_push_gets_a_500(
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    """issue 17: after a multi-platform build the daemon pushes again (its user agent is
    ``docker/...``); a 500 there fails buildx, and publish runs the cached build again."""
    proxy = fault_proxy(
        Rule(method="PUT", path=r"/manifests/", agent=r"^docker/", first=1, status=500)
    )
    done = _publish_through(proxy, repo, base_image, tmp_path / "out")
    _assert_published_through_faults(done, proxy, _via(proxy, repo))
    retries = [line for line in done.output.splitlines() if line.startswith("retrying in ")]
    assert len(retries) == 1, done.output[-4000:]
    assert retries[0].startswith("retrying in 1s (1/3) build linux/amd64,linux/arm64 after: ")
    assert "500 Internal Server Error" in retries[0]
    assert tag_digest(registry, f"{repo}:v1") is not None


def test_publish_auto_on_classic_store_gets_through_a_500_on_every_first_manifest_put(
    classic_engine: str,
    classic_base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    """issue 17: on the classic store auto is per-arch (one build per platform, merged)."""
    proxy = fault_proxy(EVERY_FIRST_MANIFEST_PUT)
    done = _publish_through(
        proxy, repo, classic_base_image, tmp_path / "out", env={"DOCKER_HOST": classic_engine}
    )
    _assert_published_through_faults(done, proxy, _via(proxy, repo))
    assert "--platform linux/amd64 " in done.stdout
    assert "--platform linux/arm64 " in done.stdout
    assert tag_digest(registry, f"{repo}:v1") is not None


def test_publish_auto_gets_through_a_proxy_that_forwards_one_accept_header(
    base_image: BaseImage,
    registry: Registry,
    repo: str,
    fault_proxy: Callable[..., FaultProxy],
    tmp_path: Path,
) -> None:
    """issue 17: after its push of a multi-platform build, dockerd reads the index back
    with one Accept header per media type; a proxy that forwards only the first makes the
    registry answer ``manifest unknown: OCI index found, but accept header does not
    support OCI indexes`` and docker fail, although the push went through. publish checks
    the staging tag itself, finds the index the engine built, says so and goes on."""
    proxy = fault_proxy(one_accept=True)
    done = _publish_through(proxy, repo, base_image, tmp_path / "out")
    assert done.returncode == 0, done.output[-4000:]
    notes = [line for line in done.output.splitlines() if "accept header" in line]
    assert notes, done.output[-4000:]
    assert any("holds the index this build made" in line for line in notes), notes
    assert _verified(done, _via(proxy, repo)), done.output[-4000:]
    assert tag_digest(registry, f"{repo}:v1") is not None
