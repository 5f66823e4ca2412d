"""The build plan is pure data: per-arch tags, cache refs, attestation switches."""

from __future__ import annotations

import pytest

from multiarch_tasks.build import (
    build_env,
    cache_options,
    failed_platforms,
    plan_build,
    public_url,
    render_plan,
)
from multiarch_tasks.platforms import Platform
from multiarch_tasks.settings import settings_from

ARM64 = Platform.parse("linux/arm64")
ARMV7 = Platform.parse("linux/arm/v7")


def _settings(**extra):
    return settings_from(
        {"image": "r.example/team/app", "tags": "1.2,latest",
         "platforms": "linux/arm64,linux/arm/v7", **extra})  # fmt: skip


def _how(settings):
    return dict.fromkeys(settings.platforms, "emulated (qemu-x)")


def test_per_arch_plan_one_step_per_platform_with_suffix_tags():
    settings = _settings(build_args={"A": "1"})
    steps = plan_build(settings, _how(settings), {"org.opencontainers.image.revision": "abc"})
    assert [s.tags for s in steps] == [
        ("r.example/team/app:1.2-linux-arm64",),
        ("r.example/team/app:1.2-linux-arm-v7",),
    ]
    argv = steps[1].argv
    assert argv[argv.index("--platform") + 1] == "linux/arm/v7"
    assert argv[argv.index("--builder") + 1] == "default"
    assert "A=1" in argv
    assert "org.opencontainers.image.revision=abc" in argv
    assert argv[argv.index("--metadata-file") + 1].endswith("metadata-linux-arm-v7.json")
    assert argv[-1] == "."
    assert "--push" in argv


def test_user_labels_override_git_labels():
    settings = _settings(labels={"org.opencontainers.image.revision": "mine"})
    steps = plan_build(settings, _how(settings), {"org.opencontainers.image.revision": "git"})
    assert "org.opencontainers.image.revision=mine" in steps[0].argv
    assert "org.opencontainers.image.revision=git" not in steps[0].argv


def test_multi_platform_plan_pushes_every_final_tag_at_once():
    settings = _settings(strategy="multi-platform")
    (step,) = plan_build(settings, _how(settings), {})
    assert step.tags == ("r.example/team/app:1.2", "r.example/team/app:latest")
    assert step.argv[step.argv.index("--platform") + 1] == "linux/arm64,linux/arm/v7"


@pytest.mark.parametrize(
    ("driver", "cache_to"),
    [
        ("docker", ["type=inline"]),
        ("docker-container",
         ["type=registry,ref=r.example/team/app:buildcache-linux-arm-v7,mode=max"]),
    ],
)  # fmt: skip
def test_registry_cache_has_one_ref_per_platform(driver, cache_to):
    settings = _settings(cache="registry", driver=driver)
    cache_from, to = cache_options(settings, ARMV7)
    assert cache_from == ["type=registry,ref=r.example/team/app:buildcache-linux-arm-v7"]
    assert to == cache_to
    other, _ = cache_options(settings, ARM64)
    assert other != cache_from


@pytest.mark.parametrize(
    ("attestations", "artifacts", "env"),
    [
        ("auto", "auto", {}),
        ("off", "auto", {"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}),
        ("auto", "off", {"BUILDX_NO_DEFAULT_OCI_ARTIFACT": "1"}),
    ],
)
def test_attestation_switches(attestations, artifacts, env):
    settings = _settings(attestations=attestations, attestation_artifacts=artifacts)
    assert build_env(settings) == env


def test_plan_names_how_each_platform_builds():
    settings = _settings()
    how = {ARM64: "native on arm-box", ARMV7: "emulated (qemu-arm)"}
    text = render_plan(settings, plan_build(settings, how, {}))
    assert "linux/arm64" in text
    assert "native on arm-box" in text
    assert "emulated (qemu-arm)" in text
    assert "-> r.example/team/app:1.2-linux-arm-v7" in text


def test_failed_platform_read_from_a_multi_platform_log():
    settings = _settings(strategy="multi-platform")
    (step,) = plan_build(settings, _how(settings), {})
    tail = (
        "#8 [linux/arm/v7 2/2] RUN false\n"
        "------\n > [linux/arm/v7 2/2] RUN false:\n------\nERROR: failed to solve"
    )
    assert failed_platforms(step, tail) == ["linux/arm/v7"]
    assert failed_platforms(step, "ERROR: no step named") == ["linux/arm64,linux/arm/v7"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x-access-token:ghs_SECRET@github.com/org/app.git", "https://github.com/org/app.git"),
        ("https://gitlab-ci-token:glpat-SECRET@gitlab.example.com/g/app", "https://gitlab.example.com/g/app"),
        ("https://github.com/org/app.git", "https://github.com/org/app.git"),
        ("git@github.com:org/app.git", "git@github.com:org/app.git"),
        ("/work/main", "/work/main"),
    ],
)  # fmt: skip
def test_source_label_never_carries_credentials(url, shown):
    assert public_url(url) == shown
