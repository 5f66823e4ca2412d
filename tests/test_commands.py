"""The pure argv builders: one table row per command shape; argv lists, never shell strings."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import pytest

from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import REDACTED, display
from multiarch_tasks.model.platforms import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARMV7 = Platform("linux", "arm", "v7")
REF = "localhost:5000/app"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64

# (id, builder, kwargs, expected argv)
CASES: list[tuple[str, Callable[..., list[str]], dict[str, Any], list[str]]] = [
    # --- buildx build ---------------------------------------------------------------------
    (
        "build-per-arch-push",
        commands.buildx_build,
        {
            "context": ".",
            "platforms": [ARMV7],
            "tags": [f"{REF}:v1-linux-arm-v7"],
            "builder": "multiarch",
        },
        [
            "docker",
            "buildx",
            "build",
            "--builder",
            "multiarch",
            "--platform",
            "linux/arm/v7",
            "--tag",
            f"{REF}:v1-linux-arm-v7",
            "--push",
            ".",
        ],
    ),
    (
        "build-multi-platform-no-builder",
        commands.buildx_build,
        {
            "context": "app",
            "platforms": [AMD64, ARM64, ARMV7],
            "tags": [f"{REF}:v1", f"{REF}:latest"],
        },
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            "linux/amd64,linux/arm64,linux/arm/v7",
            "--tag",
            f"{REF}:v1",
            "--tag",
            f"{REF}:latest",
            "--push",
            "app",
        ],
    ),
    (
        "build-everything",
        commands.buildx_build,
        {
            "context": "ctx",
            "platforms": [ARM64],
            "tags": ["r/a:t"],
            "builder": "b",
            "file": "ctx/Dockerfile.prod",
            "build_args": {"VERSION": "1.0", "LIST": "a,b c"},
            "labels": {"org.opencontainers.image.source": "https://x/y"},
            "target": "final",
            "cache_from": ["type=registry,ref=r/a:cache"],
            "cache_to": ["type=registry,ref=r/a:cache,mode=max"],
            "secrets": ["id=npm,src=.npmrc", "id=tok,env=TOKEN"],
            "attestations": "off",
            "metadata_file": "out/meta.json",
        },
        [
            "docker",
            "buildx",
            "build",
            "--builder",
            "b",
            "--platform",
            "linux/arm64",
            "--file",
            "ctx/Dockerfile.prod",
            "--tag",
            "r/a:t",
            "--build-arg",
            "VERSION=1.0",
            "--build-arg",
            "LIST=a,b c",
            "--label",
            "org.opencontainers.image.source=https://x/y",
            "--target",
            "final",
            "--cache-from",
            "type=registry,ref=r/a:cache",
            "--cache-to",
            "type=registry,ref=r/a:cache,mode=max",
            "--secret",
            "id=npm,src=.npmrc",
            "--secret",
            "id=tok,env=TOKEN",
            "--provenance=false",
            "--sbom=false",
            "--metadata-file",
            "out/meta.json",
            "--push",
            "ctx",
        ],
    ),
    (
        "build-attestations-on",
        commands.buildx_build,
        {"context": ".", "platforms": [AMD64], "tags": ["r/a:t"], "attestations": "on"},
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            "linux/amd64",
            "--tag",
            "r/a:t",
            "--provenance=mode=min",
            "--push",
            ".",
        ],
    ),
    (
        "build-attestations-auto-leaves-buildx-default",
        commands.buildx_build,
        {"context": ".", "platforms": [AMD64], "tags": ["r/a:t"], "attestations": "auto"},
        ["docker", "buildx", "build", "--platform", "linux/amd64", "--tag", "r/a:t", "--push", "."],
    ),
    (
        "build-insecure-push-output",
        commands.buildx_build,
        {"context": ".", "platforms": [ARM64], "tags": [f"{REF}:t"], "insecure_push": True},
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            "linux/arm64",
            "--tag",
            f"{REF}:t",
            "--output",
            "type=image,push=true,registry.insecure=true",
            ".",
        ],
    ),
    (
        "build-no-push",
        commands.buildx_build,
        {
            "context": ".",
            "platforms": [ARM64],
            "tags": ["r/a:t"],
            "push": False,
            "insecure_push": True,
        },
        ["docker", "buildx", "build", "--platform", "linux/arm64", "--tag", "r/a:t", "."],
    ),
    # --- buildx create ----------------------------------------------------------------------
    (
        "create",
        commands.buildx_create,
        {"name": "multiarch", "driver": "docker-container"},
        ["docker", "buildx", "create", "--name", "multiarch", "--driver", "docker-container"],
    ),
    (
        "create-full",
        commands.buildx_create,
        {
            "name": "multiarch",
            "driver": "docker-container",
            "driver_opts": ["network=host", "image=moby/buildkit:v0.13.1"],
            "buildkitd_config": ".multiarch/buildkitd.toml",
            "platforms": [AMD64, ARMV7],
            "node": "local",
            "bootstrap": True,
        },
        [
            "docker",
            "buildx",
            "create",
            "--name",
            "multiarch",
            "--driver",
            "docker-container",
            "--driver-opt",
            "network=host",
            "--driver-opt",
            "image=moby/buildkit:v0.13.1",
            "--buildkitd-config",
            ".multiarch/buildkitd.toml",
            "--node",
            "local",
            "--platform",
            "linux/amd64,linux/arm/v7",
            "--bootstrap",
        ],
    ),
    (
        "create-use-only-when-asked",
        commands.buildx_create,
        {"name": "m", "driver": "remote", "endpoint": "tcp://10.0.0.2:1234", "use": True},
        [
            "docker",
            "buildx",
            "create",
            "--name",
            "m",
            "--driver",
            "remote",
            "--use",
            "tcp://10.0.0.2:1234",
        ],
    ),
    (
        "create-append-node",
        commands.buildx_create,
        {
            "name": "multiarch",
            "driver": "docker-container",
            "driver_opts": ["network=host"],
            "buildkitd_config": "ignored.toml",
            "append": True,
            "node": "arm-box",
            "platforms": [ARM64, ARMV7],
            "endpoint": "ssh://me@arm-box",
            "bootstrap": True,
        },
        [
            "docker",
            "buildx",
            "create",
            "--name",
            "multiarch",
            "--append",
            "--node",
            "arm-box",
            "--platform",
            "linux/arm64,linux/arm/v7",
            "--bootstrap",
            "ssh://me@arm-box",
        ],
    ),
    (
        "inspect",
        commands.buildx_inspect,
        {"builder": "multiarch"},
        ["docker", "buildx", "inspect", "multiarch"],
    ),
    (
        "inspect-bootstrap",
        commands.buildx_inspect,
        {"builder": "multiarch", "bootstrap": True},
        ["docker", "buildx", "inspect", "--bootstrap", "multiarch"],
    ),
    # --- imagetools -------------------------------------------------------------------------
    (
        "imagetools-create",
        commands.imagetools_create,
        {
            "tags": [f"{REF}:v1", f"{REF}:latest"],
            "sources": [f"{REF}@{DIGEST_A}", f"{REF}@{DIGEST_B}"],
            "builder": "multiarch",
        },
        [
            "docker",
            "buildx",
            "imagetools",
            "create",
            "--builder",
            "multiarch",
            "--tag",
            f"{REF}:v1",
            "--tag",
            f"{REF}:latest",
            f"{REF}@{DIGEST_A}",
            f"{REF}@{DIGEST_B}",
        ],
    ),
    (
        "imagetools-create-annotations-dry-run",
        commands.imagetools_create,
        {
            "tags": [f"{REF}:v1"],
            "sources": [f"{REF}:v1-linux-amd64"],
            "annotations": {
                "org.opencontainers.image.description": "a demo app",
                "org.opencontainers.image.version": "1.0",
            },
            "dry_run": True,
        },
        [
            "docker",
            "buildx",
            "imagetools",
            "create",
            "--tag",
            f"{REF}:v1",
            "--annotation",
            "index:org.opencontainers.image.description=a demo app",
            "--annotation",
            "index:org.opencontainers.image.version=1.0",
            "--dry-run",
            f"{REF}:v1-linux-amd64",
        ],
    ),
    (
        "imagetools-inspect-raw",
        commands.imagetools_inspect_raw,
        {"ref": f"{REF}:v1", "builder": "b"},
        ["docker", "buildx", "imagetools", "inspect", "--builder", "b", "--raw", f"{REF}:v1"],
    ),
    # --- docker manifest ----------------------------------------------------------------------
    (
        "manifest-create-defaults-amend",
        commands.docker_manifest_create,
        {"target": f"{REF}:v1", "sources": [f"{REF}:v1-linux-amd64", f"{REF}:v1-linux-arm64"]},
        [
            "docker",
            "manifest",
            "create",
            "--amend",
            f"{REF}:v1",
            f"{REF}:v1-linux-amd64",
            f"{REF}:v1-linux-arm64",
        ],
    ),
    (
        "manifest-create-insecure",
        commands.docker_manifest_create,
        {"target": f"{REF}:v1", "sources": [f"{REF}:a"], "insecure": True},
        ["docker", "manifest", "create", "--insecure", "--amend", f"{REF}:v1", f"{REF}:a"],
    ),
    (
        "manifest-create-no-amend",
        commands.docker_manifest_create,
        {"target": "r/a:v1", "sources": ["r/a:x"], "amend": False},
        ["docker", "manifest", "create", "r/a:v1", "r/a:x"],
    ),
    (
        "manifest-annotate-variant",
        commands.docker_manifest_annotate,
        {"target": "r/a:v1", "source": "r/a:v1-linux-arm-v7", "platform": ARMV7},
        [
            "docker",
            "manifest",
            "annotate",
            "--os",
            "linux",
            "--arch",
            "arm",
            "--variant",
            "v7",
            "r/a:v1",
            "r/a:v1-linux-arm-v7",
        ],
    ),
    (
        "manifest-annotate-no-variant",
        commands.docker_manifest_annotate,
        {"target": "r/a:v1", "source": "r/a:v1-linux-arm64", "platform": ARM64},
        [
            "docker",
            "manifest",
            "annotate",
            "--os",
            "linux",
            "--arch",
            "arm64",
            "r/a:v1",
            "r/a:v1-linux-arm64",
        ],
    ),
    (
        "manifest-push-defaults-purge",
        commands.docker_manifest_push,
        {"target": "r/a:v1"},
        ["docker", "manifest", "push", "--purge", "r/a:v1"],
    ),
    (
        "manifest-push-insecure",
        commands.docker_manifest_push,
        {"target": f"{REF}:v1", "insecure": True},
        ["docker", "manifest", "push", "--insecure", "--purge", f"{REF}:v1"],
    ),
    (
        "manifest-push-no-purge",
        commands.docker_manifest_push,
        {"target": "r/a:v1", "purge": False},
        ["docker", "manifest", "push", "r/a:v1"],
    ),
    (
        "manifest-rm",
        commands.docker_manifest_rm,
        {"target": "r/a:v1"},
        ["docker", "manifest", "rm", "r/a:v1"],
    ),
    # --- QEMU ---------------------------------------------------------------------------------
    (
        "binfmt-install",
        commands.docker_binfmt_install,
        {"image": "tonistiigi/binfmt:qemu-v8.1.5", "arches": ["arm64", "arm", "s390x"]},
        [
            "docker",
            "run",
            "--privileged",
            "--rm",
            "tonistiigi/binfmt:qemu-v8.1.5",
            "--install",
            "arm64,arm,s390x",
        ],
    ),
    (
        "binfmt-install-all",
        commands.docker_binfmt_install,
        {"image": "tonistiigi/binfmt:qemu-v8.1.5", "arches": ["all"]},
        [
            "docker",
            "run",
            "--privileged",
            "--rm",
            "tonistiigi/binfmt:qemu-v8.1.5",
            "--install",
            "all",
        ],
    ),
    (
        "update-binfmts",
        commands.update_binfmts_enable,
        {"handler": "qemu-aarch64"},
        ["update-binfmts", "--enable", "qemu-aarch64"],
    ),
    (
        "docker-run",
        commands.docker_run,
        {"ref": "r/a@" + DIGEST_A, "platform": ARMV7, "args": ["uname", "-m"]},
        [
            "docker",
            "run",
            "--rm",
            "--platform",
            "linux/arm/v7",
            "r/a@" + DIGEST_A,
            "uname",
            "-m",
        ],
    ),
    (
        "docker-version",
        commands.docker_version,
        {},
        ["docker", "version", "--format", "{{json .}}"],
    ),
    ("docker-info", commands.docker_info, {}, ["docker", "info", "--format", "{{json .}}"]),
    ("buildx-version", commands.buildx_version, {}, ["docker", "buildx", "version"]),
    # --- buildah ------------------------------------------------------------------------------
    (
        "buildah-build",
        commands.buildah_build,
        {"context": ".", "platforms": [AMD64, ARM64], "manifest": "app-list"},
        [
            "buildah",
            "build",
            "--platform",
            "linux/amd64,linux/arm64",
            "--manifest",
            "app-list",
            ".",
        ],
    ),
    (
        "buildah-build-everything",
        commands.buildah_build,
        {
            "context": "ctx",
            "platforms": [ARMV7],
            "manifest": "m",
            "file": "ctx/Containerfile",
            "build_args": {"A": "1"},
            "labels": {"l": "v"},
            "target": "final",
            "secrets": ["id=npm,src=.npmrc"],
            "tls_verify": False,
        },
        [
            "buildah",
            "build",
            "--platform",
            "linux/arm/v7",
            "--tls-verify=false",
            "--manifest",
            "m",
            "--file",
            "ctx/Containerfile",
            "--build-arg",
            "A=1",
            "--label",
            "l=v",
            "--target",
            "final",
            "--secret",
            "id=npm,src=.npmrc",
            "ctx",
        ],
    ),
    (
        "buildah-push-image",
        commands.buildah_push,
        {
            "source": "localhost/app:amd64",
            "dest": f"{REF}:v1-linux-amd64",
            "digestfile": "out/digest",
        },
        [
            "buildah",
            "push",
            "--tls-verify=true",
            "--digestfile",
            "out/digest",
            "localhost/app:amd64",
            f"docker://{REF}:v1-linux-amd64",
        ],
    ),
    (
        "buildah-push-manifest-all-insecure",
        commands.buildah_push,
        {"source": "app-list", "dest": f"{REF}:v1", "tls_verify": False, "all_": True},
        [
            "buildah",
            "manifest",
            "push",
            "--all",
            "--tls-verify=false",
            "app-list",
            f"docker://{REF}:v1",
        ],
    ),
    (
        "buildah-rm-manifest",
        commands.buildah_rm_manifest,
        {"name": "app-list"},
        ["buildah", "manifest", "rm", "app-list"],
    ),
]


@pytest.mark.parametrize(
    ("builder", "kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_argv(
    builder: Callable[..., list[str]], kwargs: dict[str, Any], expected: list[str]
) -> None:
    assert builder(**kwargs) == expected


@pytest.mark.parametrize(
    ("builder", "kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_argv_is_a_list_of_separate_strings(
    builder: Callable[..., list[str]], kwargs: dict[str, Any], expected: list[str]
) -> None:
    argv = builder(**kwargs)
    assert isinstance(argv, list)
    assert all(type(arg) is str for arg in argv)
    assert all(arg for arg in argv), "no empty elements"
    for arg in argv:
        # An option is never glued to its value with a blank ("--tag x"), and nothing is a
        # pre-joined shell fragment.
        if arg.startswith("-"):
            assert " " not in arg, arg
        assert not any(token in arg for token in (" && ", " | ", "; ", "`", "$(")), arg


def test_values_with_blanks_and_shell_characters_stay_one_element() -> None:
    argv = commands.buildx_build(
        context="my dir",
        platforms=[AMD64],
        tags=["r/a:t"],
        build_args={"MSG": "a b; rm -rf / && echo $(id)"},
        labels={"k": "`x`|y"},
    )
    assert "MSG=a b; rm -rf / && echo $(id)" in argv
    assert "k=`x`|y" in argv
    assert argv[-1] == "my dir"
    assert argv[argv.index("MSG=a b; rm -rf / && echo $(id)") - 1] == "--build-arg"


NASTY = {
    "spaces": "a  b c",
    "quotes": """it's "quoted\"""",
    "dollar": "$HOME ${X:-y} $(id) `id`",
    "empty": "",
    "newline": "line1\nline2",
    "glob": "*.txt [ab] ~root",
}


def _splits_back(line: str, argv: list[str]) -> bool:
    try:
        return shlex.split(line) == argv
    except ValueError:  # an unbalanced quote
        return False


@pytest.mark.parametrize("value", list(NASTY.values()), ids=list(NASTY))
def test_displayed_command_pastes_back_into_a_shell_as_the_same_argv(value: str) -> None:
    # What --dry and --echo print (runner.display) is what a user pastes: a shell must split
    # it back into exactly the argv that runs, whatever the values hold (a plain " ".join
    # fails every case here).
    build = commands.buildx_build(
        context=f"ctx {value}",
        platforms=[AMD64],
        tags=["r/a:t"],
        build_args={"MSG": value},
        labels={"k": value},
    )
    run = commands.docker_run("r/a@" + DIGEST_A, ARM64, ["sh", "-c", value])
    for argv in (build, run):
        shown = display(argv)
        assert shlex.split(shown) == argv
        assert not _splits_back(" ".join(argv), argv)  # the values do need quoting


def test_displayed_command_never_shows_a_secret_and_still_pastes_back() -> None:
    secret = "s3cr$t 'pw'"  # noqa: S105 - a made-up secret
    argv = commands.buildx_build(
        context=".",
        platforms=[AMD64],
        tags=["r/a:t"],
        build_args={"TOKEN": secret, "URL": f"https://user:{secret}@git.example/repo"},
    )
    shown = display(argv, [secret])
    assert secret not in shown
    assert "s3cr" not in shown
    back = shlex.split(shown)
    assert back[back.index("--build-arg") + 1] == f"TOKEN={REDACTED}"
    # The user:secret part of a URL is scrubbed whole, not only the secret.
    assert "URL=https://git.example/repo" in back
    assert len(back) == len(argv)


@pytest.mark.parametrize(
    ("attestations", "flags"),
    [
        ("auto", []),
        ("on", ["--provenance=mode=min"]),
        ("off", ["--provenance=false", "--sbom=false"]),
    ],
)
def test_attestation_flags(attestations: str, flags: list[str]) -> None:
    assert commands.attestation_flags(attestations) == flags


def test_use_is_never_added_unless_asked() -> None:
    for kwargs in ({}, {"append": True}, {"bootstrap": True}, {"node": "n"}):
        assert "--use" not in commands.buildx_create("m", driver="docker-container", **kwargs)


def test_build_args_keep_their_order() -> None:
    argv = commands.buildx_build(
        context=".", platforms=[AMD64], tags=["r/a:t"], build_args={"Z": "1", "A": "2", "M": "3"}
    )
    values = [argv[i + 1] for i, a in enumerate(argv) if a == "--build-arg"]
    assert values == ["Z=1", "A=2", "M=3"]


def test_builders_do_not_mutate_their_inputs() -> None:
    tags = ["r/a:v1"]
    sources = ["r/a:x"]
    commands.imagetools_create(tags, sources, dry_run=True)
    commands.docker_manifest_create("r/a:v1", sources, insecure=True)
    assert tags == ["r/a:v1"]
    assert sources == ["r/a:x"]
