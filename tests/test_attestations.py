"""verify --attestations' reading of BuildKit's in-toto statements (pure parts, issue 19)."""

from __future__ import annotations

import pytest

from multiarch_tasks.checks.verify.attestations import (
    Source,
    provenance_source,
    step_platforms,
    subject_platform,
)
from multiarch_tasks.engine import commands
from multiarch_tasks.model.oci import SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1
from multiarch_tasks.model.platforms import Platform

V02 = {
    "invocation": {
        "configSource": {"entryPoint": "Dockerfile"},
        "environment": {"platform": "linux/amd64"},
    },
    "buildConfig": {
        "llbDefinition": [
            {"id": "step0", "op": {"platform": {"Architecture": "arm64", "OS": "linux"}}}
        ]
    },
    "metadata": {
        "https://mobyproject.org/buildkit@v1#metadata": {
            "vcs": {"source": "https://github.com/acme/app", "revision": "abc123"}
        }
    },
}
V1 = {
    "buildDefinition": {
        "externalParameters": {
            "configSource": {
                "path": "build/Dockerfile",
                "uri": "https://github.com/acme/app.git#main",
            }
        },
        "internalParameters": {
            "builderPlatform": "linux/amd64",
            "buildConfig": {
                "llbDefinition": [
                    {"op": {"platform": {"Architecture": "arm", "OS": "linux", "Variant": "v7"}}}
                ]
            },
        },
    },
    "runDetails": {"metadata": {"buildkit_metadata": {"vcs": {"revision": "def456"}}}},
}


@pytest.mark.parametrize(
    ("ptype", "predicate", "source"),
    [
        (SLSA_PROVENANCE_V02, V02, Source("Dockerfile", "https://github.com/acme/app", "abc123")),
        (
            SLSA_PROVENANCE_V1,
            V1,
            Source("build/Dockerfile", "https://github.com/acme/app.git#main", "def456"),
        ),
        (SLSA_PROVENANCE_V02, {}, Source()),
    ],
)
def test_provenance_source_reads_v02_and_v1(ptype: str, predicate: dict, source: Source) -> None:
    assert provenance_source(ptype, predicate) == source


def test_step_platforms_are_the_targets_not_the_builders_platform() -> None:
    assert step_platforms(SLSA_PROVENANCE_V02, V02) == {Platform("linux", "arm64")}
    assert step_platforms(SLSA_PROVENANCE_V1, V1) == {Platform.parse("linux/arm/v7")}


@pytest.mark.parametrize(
    ("name", "platform"),
    [
        ("pkg:docker/127.0.0.1%3A5000/app@1?platform=linux%2Farm64", "linux/arm64"),
        ("pkg:docker/app@1?platform=linux%2Farm%2Fv7", "linux/arm/v7"),
        ("pkg:docker/app@1", None),
    ],
)
def test_subject_platform_reads_the_purl_qualifier(name: str, platform: str | None) -> None:
    assert subject_platform(name) == (Platform.parse(platform) if platform else None)


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (("auto", "max", True, ""), ["--provenance=mode=max", "--sbom=true"]),
        (("on", "auto", False, ""), ["--provenance=mode=min"]),
        (
            ("auto", "min", True, "reg/scanner:1"),
            ["--provenance=mode=min", "--sbom=generator=reg/scanner:1"],
        ),
    ],
)
def test_provenance_and_sbom_pass_through_to_buildx(args: tuple, flags: list[str]) -> None:
    assert commands.attestation_flags(*args) == flags
