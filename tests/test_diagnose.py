"""diagnose: every known failure signature maps to its cause and an exact fix.

Texts are real outputs: those captured on this test bed (tests/e2e/test_diagnose.py
reproduces them) and recorded logs in tests/fixtures/logs (docs/traps.md says which).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multiarch_tasks.checks.diagnose import diagnosis as diagnose
from multiarch_tasks.checks.diagnose.diagnosis import Context
from multiarch_tasks.model.errors import BuildFailedError, CommandError, RegistryError

LOGS = Path(__file__).parent / "fixtures" / "logs"

# (signature, real output captured on this machine)
CAPTURED = [
    (
        "manifest-list",
        "127.0.0.1:40000/app:1-linux-amd64 is a manifest list",
    ),
    (
        "no-match-platform",
        (
            "ERROR: failed to solve: 127.0.0.1:40000/base/busybox:partial: failed to resolve source"
            " metadata for 127.0.0.1:40000/base/busybox:partial: no match for platform in manifest:"
            " not found"
        ),
    ),
    (
        "exec-format-error",
        "exec /bin/app: exec format error",
    ),
    (
        "invalid-elf",
        "qemu-aarch64-static: /bin/true: Invalid ELF image for this architecture",
    ),
    (
        "qemu-segfault",
        "qemu: uncaught target signal 11 (Segmentation fault) - core dumped",
    ),
    (
        "http-to-https",
        (
            'time="2026-11-30T03:25:20Z" level=fatal msg="Error parsing image name'
            ' \\"docker://127.0.0.1:42153/base/busybox:partial\\": pinging container registry'
            ' 127.0.0.1:42153: Get \\"https://127.0.0.1:42153/v2/\\": http: server gave HTTP'
            ' response to HTTPS client"'
        ),
    ),
    (
        "push-by-digest-docker-driver",
        (
            "ERROR: push-by-digest is currently not implemented for docker driver, please create"
            " a new builder instance"
        ),
    ),
    (
        "docker-exporter-manifest-list",
        (
            "ERROR: docker exporter does not support exporting manifest lists, use the oci"
            " exporter instead"
        ),
    ),
    (
        "blob-unknown",
        (
            "Uploading manifest list failed, attempted the following formats: (uploading manifest"
            " 1 to 127.0.0.1:42153/filtered/x: errors:\nmanifest blob unknown: blob unknown to"
            " registry\n)"
        ),
    ),
    (
        "illegal-instruction",
        "qemu: uncaught target signal 4 (Illegal instruction) - core dumped",
    ),
]

# (signature, recorded log file)
RECORDED = [
    ("attestation-docker-driver", "attestation-docker-driver.txt"),
    ("multi-platform-docker-driver", "multi-platform-docker-driver.txt"),
    ("rate-limited", "rate-limited.txt"),
    ("binfmt-mount", "binfmt-mount.txt"),
    ("unknown-platform-build", "unknown-platform-build.txt"),
    ("duplicate-endpoint", "buildx-create-duplicate-endpoint.txt"),
    ("no-remote-endpoint", "buildx-create-remote-no-endpoint.txt"),
]


@pytest.mark.parametrize(("signature", "text"), CAPTURED, ids=[c[0] for c in CAPTURED])
def test_captured_output_is_diagnosed(signature: str, text: str) -> None:
    found = diagnose.diagnose(text, Context(platform="linux/s390x"))
    assert found is not None
    assert found.signature == signature
    assert found.cause
    assert found.fix
    assert "\n" not in found.message


@pytest.mark.parametrize(("signature", "name"), RECORDED, ids=[r[0] for r in RECORDED])
def test_recorded_log_is_diagnosed(signature: str, name: str) -> None:
    found = diagnose.diagnose((LOGS / name).read_text())
    assert found is not None
    assert found.signature == signature
    assert "\n" not in found.message


def test_every_signature_has_a_test() -> None:
    tested = {s for s, _ in CAPTURED} | {s for s, _ in RECORDED}
    assert tested == {s.id for s in diagnose.SIGNATURES}


def test_every_recorded_log_says_where_it_comes_from() -> None:
    for log in LOGS.glob("*.txt"):
        first = log.read_text().splitlines()[0]
        if log.name.startswith("buildx-create-"):
            continue  # copied from /work/shared/fixtures/errors as recorded by the lead
        assert first.startswith("# recorded:"), log.name


def test_missing_platform_names_the_base_the_platform_and_mirror() -> None:
    text = dict(CAPTURED)["no-match-platform"]
    found = diagnose.diagnose(text, Context(platform="linux/s390x"))
    assert found is not None
    assert found.cause == "base image 127.0.0.1:40000/base/busybox:partial has no linux/s390x"
    assert "run `multiarch mirror SRC 127.0.0.1:40000/base/busybox:partial`" in found.fix


def test_manifest_list_names_the_tag_and_imagetools() -> None:
    found = diagnose.diagnose(dict(CAPTURED)["manifest-list"])
    assert found is not None
    assert found.cause.startswith("127.0.0.1:40000/app:1-linux-amd64 is an index")
    assert "multiarch merge" in found.fix
    assert "attestations = off" in found.fix


def test_http_to_https_names_the_host_and_insecure_registries() -> None:
    found = diagnose.diagnose(dict(CAPTURED)["http-to-https"])
    assert found is not None
    assert found.cause == "127.0.0.1:42153 serves plain HTTP but was contacted over HTTPS"
    assert "--insecure-registry 127.0.0.1:42153" in found.fix


def test_exec_format_error_points_at_qemu_setup_for_the_platform() -> None:
    found = diagnose.diagnose("exec format error", Context(platform="linux/arm64"))
    assert found is not None
    assert "multiarch qemu-setup --platforms linux/arm64" in found.fix


def test_invalid_elf_wins_over_exec_format_error() -> None:
    text = "exec format error\nqemu-arm: /bin/sh: Invalid ELF image for this architecture"
    found = diagnose.diagnose(text)
    assert found is not None
    assert found.signature == "invalid-elf"


def test_unknown_output_gives_none() -> None:
    assert diagnose.diagnose("ERROR: failed to solve: process did not complete: exit 1") is None


def test_explain_reads_a_command_errors_output() -> None:
    err = CommandError(
        ["docker", "buildx", "build"], 1, dict(CAPTURED)["push-by-digest-docker-driver"]
    )
    found = diagnose.explain(err)
    assert found is not None
    assert found.signature == "push-by-digest-docker-driver"
    assert diagnose.explained(err).endswith(found.message)
    assert diagnose.explained(err).startswith(str(err))


def test_explain_uses_the_failing_platform_of_a_build() -> None:
    err = BuildFailedError(
        {"linux/amd64": "ok", "linux/s390x": dict(CAPTURED)["no-match-platform"]}
    )
    found = diagnose.explain(err)
    assert found is not None
    assert found.cause.endswith("has no linux/s390x")


def test_explain_reads_other_errors_messages() -> None:
    found = diagnose.explain(RegistryError("GET x: 429 Too Many Requests", status=429))
    assert found is not None
    assert found.signature == "rate-limited"


def test_explained_without_match_is_the_error_itself() -> None:
    err = CommandError(["docker", "run"], 2, "something else")
    assert diagnose.explained(err) == str(err)


def test_diagnosis_json() -> None:
    found = diagnose.diagnose("toomanyrequests: slow down")
    assert found is not None
    assert found.to_json() == {
        "signature": "rate-limited",
        "cause": found.cause,
        "fix": found.fix,
        "matched": "toomanyrequests",
    }


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (["docker", "run", "--rm", "--platform", "linux/arm64", "img"], ""),
        (["docker", "run", "--platform=linux/arm64", "img"], ""),
        (["docker", "buildx", "build", "."], "build linux/arm64"),
    ],
)
def test_explain_takes_the_platform_from_the_command(argv: list[str], label: str) -> None:
    err = CommandError(argv, 1, "exec /bin/sh: exec format error", label=label)
    found = diagnose.explain(err)
    assert found is not None
    assert "multiarch qemu-setup --platforms linux/arm64" in found.fix


def test_explain_without_a_platform_says_that_platform() -> None:
    err = CommandError(["docker", "run", "img"], 1, "exec format error", label="verify --run")
    found = diagnose.explain(err)
    assert found is not None
    assert "`multiarch qemu-setup --platforms PLATFORM`" in found.fix
    assert "not built for the target platform" in found.cause
