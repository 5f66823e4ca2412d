"""A second rehearsal of the push workflow finds every platform's build in the registry cache.

Issue 20 item 9. The workflow's shards build with ``--cache auto``, which on this engine's
docker driver (containerd store) is one registry cache per platform,
``IMAGE:buildcache-<platform>``, in the rehearsal's scratch repository. The first rehearsal
runs on the main engine and exports it. The second runs on a throwaway second dockerd with
the containerd store and an empty data root (testbed/classic_engine.py ``fresh_engine``),
so no local BuildKit cache can answer: each build step it reports CACHED (or whose layers
it only fetched) came from the registry cache. A one-line change in the Dockerfile's last
step then runs that step only: the earlier ones are CACHED, or their cached layers
extracted for the step that runs on them. (bench/ci_cache.py times the first two runs.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from testbed import ci_cache
from testbed.classic_engine import EngineUnavailableError, fresh_engine, remove_engine
from tests.conftest import index_platforms, pinned_requirement, unavailable

pytestmark = pytest.mark.e2e
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/s390x"]


@pytest.fixture
def empty_engine() -> Iterator[str]:
    """A second dockerd, containerd store, empty data root; yields its DOCKER_HOST."""
    try:
        engine = fresh_engine("cacheb")
    except EngineUnavailableError as err:
        unavailable(str(err))
        raise  # unavailable() skips or fails: not reached
    try:
        yield engine.docker_host
    finally:
        remove_engine(engine)


def docker(host: str, *argv: str) -> str:
    return subprocess.run(["docker", "-H", host, *argv], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def test_second_rehearsal_on_an_empty_engine_finds_every_platforms_steps_in_the_registry_cache(
    base_image, registry, repo, tmp_path, empty_engine
):
    install, _ = pinned_requirement(tmp_path)
    project = ci_cache.make_project(tmp_path, repo, base_image.ref, PLATFORMS, install)
    scratch = f"{repo}-rehearsal"

    took, code, first = ci_cache.rehearse(project)
    assert code == 0, first[-4000:]
    for platform in PLATFORMS:  # a cold build: nothing cached yet
        steps = ci_cache.build_steps(first, platform)
        assert len(steps) == 3, (platform, steps, first[-3000:])
        assert set(steps.values()) == {"ran"}, (platform, steps)
    assert index_platforms(registry, f"{scratch}:cached") == PLATFORMS

    # The second engine has never built nor pulled anything, and reaches the loopback
    # registry as the main engine does (127.0.0.0/8 is an insecure registry by default).
    assert docker(empty_engine, "image", "ls", "-q") == ""
    assert "127.0.0.0/8" in docker(empty_engine, "info", "--format", "{{json .RegistryConfig}}")
    took2, code, second = ci_cache.rehearse(project, empty_engine)
    assert code == 0, second[-4000:]
    for platform in PLATFORMS:
        steps = ci_cache.build_steps(second, platform)
        assert len(steps) == 3, (platform, steps, first[-3000:])
        # None ran: CACHED, or (BuildKit's printer may skip CACHED for a step whose layers
        # the push then fetched) its layers fetched from the registry cache.
        assert set(steps.values()) <= {"cached", "loaded"}, (platform, steps, second[-4000:])
        cache = f"{scratch}:buildcache-{platform.replace('/', '-')}"
        assert f"importing cache manifest from {cache}" in second, platform
    print(f"first rehearsal {took:.1f}s (main engine), second {took2:.1f}s (empty engine)")

    # A one-line change in the last step: only that step runs again, on every platform.
    ci_cache.change_last_step(project, "two")
    _, code, third = ci_cache.rehearse(project, empty_engine)
    assert code == 0, third[-4000:]
    last = ci_cache.LAST_STEP.format(release="two")
    for platform in PLATFORMS:
        steps = ci_cache.build_steps(third, platform)
        assert steps.pop(last) == "ran", (platform, steps)
        assert len(steps) == 2, (platform, steps)
        # The earlier steps' results come from the cache; the one the changed step runs on
        # is extracted for it ("loaded"), not run again.
        assert set(steps.values()) <= {"cached", "loaded"}, (platform, steps)
