"""The layer cache the GitLab buildah jobs keep in the registry, read by a fresh runner.

ci-template's buildah variant builds with ``commands.buildah_build(cache_repo=IMAGE/buildcache)``
(``--layers --cache-from R --cache-to R``). Here that argv runs twice with the real buildah,
each time in a storage of its own (``--root``/``--runroot``: what a new CI runner starts
with): the first pushes each step's layer to the repository, the second, with nothing
local, pulls them from there and runs no step again.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from multiarch_tasks.engine import commands
from multiarch_tasks.model.platforms import Platform

pytestmark = pytest.mark.e2e


def _build(argv: list[str], store: Path) -> str:
    # Each run its own storage, as a fresh runner has: buildah's global options go first.
    isolated = [argv[0], "--root", str(store / "root"), "--runroot", str(store / "run"), *argv[1:]]
    done = subprocess.run(isolated, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def test_a_fresh_buildah_storage_builds_from_the_registry_layer_cache(
    base_image, registry, repo, tmp_path
):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nRUN echo {uuid.uuid4().hex} > /nonce\nRUN echo two > /two\n"
    )
    cache = f"{repo}/buildcache"
    argv = commands.buildah_build(
        context=str(context),
        platforms=(Platform("linux", "amd64"),),
        manifest="localhost/cache-test",
        tls_verify=False,
        cache_repo=cache,
    )
    try:
        first = _build(argv, tmp_path / "runner1")
        second = _build(argv, tmp_path / "runner2")
    finally:
        for store in ("runner1", "runner2"):
            subprocess.run(["buildah", "--root", str(tmp_path / store / "root"), "--runroot",
                            str(tmp_path / store / "run"), "rm", "--all"],
                           capture_output=True, check=False)  # fmt: skip
    assert first.count(f"--> Pushing cache {cache}:") == 2, first
    assert "Using cache" not in first
    # Nothing local on the second runner: both steps came from the registry.
    assert second.count(f"--> Cache pulled from remote {cache}:") == 2, second
    assert second.count("--> Using cache ") == 2, second
