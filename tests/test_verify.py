"""verify/inspect: pure checks as tables; whole runs over synthetic images in the real registry.

The synthetic images are written with the registry client itself (config + tar layers
holding crafted ELF headers), so these tests need the registry but not the engine: they are
marked e2e (the bed's registry; tests/conftest.py's policy fails them in CI without it).
"""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
import zstandard

from multiarch_tasks.checks.inspect import InspectResult, InspectRow, inspect
from multiarch_tasks.checks.verify.check import (
    AttestationCheck,
    PlatformCheck,
    VerifyReport,
    config_problem,
    short,
    verify,
)
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model import oci
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed import images

MACHINES = {"amd64": 62, "arm64": 183, "s390x": 22, "ppc64le": 21, "arm": 40}


@pytest.mark.parametrize(
    ("claimed", "config", "problem"),
    [
        ("linux/amd64", {"os": "linux", "architecture": "amd64"}, None),
        ("linux/amd64", {"os": "linux", "architecture": "arm64"}, "linux/amd64: config says arm64"),
        ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"}, None),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm"}, None),  # variant omitted
        (
            "linux/arm/v7",
            {"os": "linux", "architecture": "arm", "variant": "v6"},
            "linux/arm/v7: config says arm/v6",
        ),
        (
            "linux/amd64",
            {"os": "windows", "architecture": "amd64"},
            "linux/amd64: config says windows/amd64",
        ),
        (
            "linux/amd64",
            {"os": "linux", "architecture": "vax"},
            "linux/amd64: config says linux/vax",
        ),
        ("linux/amd64", {}, "linux/amd64: config says nothing about its platform"),
    ],
)
def test_config_problem(claimed: str, config: dict[str, str], problem: str | None) -> None:
    assert config_problem(Platform.parse(claimed), config) == problem


def test_short_digest() -> None:
    assert short("sha256:" + "a" * 64) == "sha256:aaaaaaaaaaaa"
    assert short("") == ""


def test_inspect_row_that_could_not_be_read_shows_its_error_and_is_not_ok() -> None:
    index = {
        "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64"}},
        ]
    }
    rows = (
        InspectRow("linux/amd64", "sha256:a", 2048, "2026-01-01T00:00:00Z"),
        InspectRow("linux/arm64", "sha256:b", 0, "", error="manifest unreadable: 404"),
    )
    failed = InspectResult("r/x:1", "sha256:i", oci.OCI_INDEX, index, rows=rows)
    assert not failed.ok
    assert failed.message == "linux/arm64: manifest unreadable: 404"
    lines = failed.render().splitlines()
    assert lines[1].split() == [
        "PLATFORM",
        "DIGEST",
        "SIZE",
        "CREATED",
        "ATTESTATION",
        "ATTESTATIONS",
        "ERROR",
    ]
    assert lines[2].split()[2:] == ["2.0", "KiB", "2026-01-01T00:00:00Z", "-", "-", "-"]
    assert lines[3].split()[2:] == ["-", "-", "-", "-", "manifest", "unreadable:", "404"]
    entries = failed.to_json()["manifests"]
    assert "error" not in entries[0]
    assert entries[1]["error"] == "manifest unreadable: 404"
    assert "error" not in index["manifests"][1]  # the document itself is left as served
    fine = InspectResult("r/x:1", "sha256:i", oci.OCI_INDEX, index, rows=rows[:1])
    assert fine.ok
    assert "ERROR" not in fine.render()
    assert fine.to_json() == index


def test_report_json_shape_and_ok() -> None:
    report = VerifyReport(
        "r/x:1",
        "sha256:1",
        platforms=(
            PlatformCheck("linux/amd64", "sha256:a"),
            PlatformCheck("linux/arm64", "", ("linux/arm64: missing from the index",)),
        ),
        attestations=(AttestationCheck("sha256:att", "sha256:a", "linux/amd64"),),
        problems=("linux/arm64 is missing",),
    )
    assert not report.ok
    assert report.to_json() == {
        "ok": False,
        "ref": "r/x:1",
        "digest": "sha256:1",
        "platforms": [
            {"platform": "linux/amd64", "digest": "sha256:a", "ok": True, "problems": []},
            {
                "platform": "linux/arm64",
                "digest": "",
                "ok": False,
                "problems": ["linux/arm64: missing from the index"],
            },
        ],
        "attestations": [
            {
                "digest": "sha256:att",
                "attests": "sha256:a",
                "platform": "linux/amd64",
                "ok": True,
                "problems": [],
            }
        ],
        "problems": ["linux/arm64 is missing"],
    }
    text = report.render()
    assert "FAILED" in text
    assert "linux/arm64: missing from the index" in text
    assert PlatformCheck("p", "d").ok
    assert VerifyReport("r", "d", platforms=(PlatformCheck("p", "d"),)).ok


# --- synthetic images in the real registry ---------------------------------------------


def elf(machine: int) -> bytes:
    wide, big = (2, 2) if machine == 22 else (2, 1)
    if machine == 40:
        wide = 1
    order = "big" if big == 2 else "little"
    return (
        b"\x7fELF"
        + bytes([wide, big, 1])
        + bytes(9)
        + (2).to_bytes(2, order)
        + machine.to_bytes(2, order)
        + bytes(44)
    )


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def push_image(
    client: RegistryClient, ref: ImageRef, arch: str, layers: list[bytes], *, variant: str = ""
) -> oci.Descriptor:
    config: dict[str, object] = {
        "os": "linux",
        "architecture": arch,
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/app"], "Env": ["PATH=/bin"]},
    }
    if variant:
        config["variant"] = variant
    return images.push_image(client, ref, config, layers)[0]


def push_index(client: RegistryClient, ref: ImageRef, children: list[oci.Descriptor]) -> None:
    client.put_manifest(ref, oci.build_index(children), oci.OCI_INDEX)


def with_platform(desc: oci.Descriptor, platform: str) -> oci.Descriptor:
    return oci.Descriptor(desc.media_type, desc.digest, desc.size, Platform.parse(platform))


@pytest.fixture
def client() -> RegistryClient:
    return RegistryClient()


@pytest.mark.e2e  # these need the test bed's registry (no engine)
def test_deep_applies_whiteouts_across_gzip_and_zstd_layers(client, repo) -> None:
    ref = ImageRef.parse(f"{repo}:deep")
    children = []
    for arch in ("amd64", "arm64"):
        own = elf(MACHINES[arch])
        bottom = gzip.compress(tar_of({"bin/app": own, "opt/x86": elf(62), "lib/x/y": elf(62)}))
        # the top layer deletes /opt/x86 and empties /lib, zstd-compressed
        top = zstandard.ZstdCompressor().compress(
            tar_of({"opt/.wh.x86": b"", "lib/.wh..wh..opq": b"", "lib/ok": own})
        )
        children.append(
            with_platform(push_image(client, ref, arch, [bottom, top]), f"linux/{arch}")
        )
    push_index(client, ref, children)
    settings = Settings(platforms=parse_platforms("linux/amd64,linux/arm64"))
    report = verify(settings, ref, runner=Runner(), client=client, deep=True)
    assert report.ok, report.render()
    assert [c.notes for c in report.platforms] == [("2 ELF programs checked",)] * 2


@pytest.mark.e2e
def test_deep_names_foreign_programs_per_platform(client, repo) -> None:
    ref = ImageRef.parse(f"{repo}:foreign")
    children = []
    for arch in ("amd64", "arm64", "s390x"):
        layer = gzip.compress(tar_of({"bin/app": elf(MACHINES[arch]), "usr/bin/tool": elf(62)}))
        children.append(with_platform(push_image(client, ref, arch, [layer]), f"linux/{arch}"))
    push_index(client, ref, children)
    settings = Settings(platforms=parse_platforms("linux/amd64,linux/arm64,linux/s390x"))
    report = verify(settings, ref, runner=Runner(), client=client, deep=True)
    assert {c.platform: c.problems for c in report.platforms} == {
        "linux/amd64": (),
        "linux/arm64": ("linux/arm64: /usr/bin/tool: x86-64 (expected aarch64)",),
        "linux/s390x": ("linux/s390x: /usr/bin/tool: x86-64 (expected s390x)",),
    }


@pytest.mark.e2e
def test_variant_in_config_is_compared(client, repo) -> None:
    ref = ImageRef.parse(f"{repo}:arm")
    layer = gzip.compress(tar_of({"bin/app": elf(40)}))
    v6 = push_image(client, ref, "arm", [layer], variant="v6")
    push_index(client, ref, [with_platform(v6, "linux/arm/v7")])
    report = verify(
        Settings(platforms=parse_platforms("linux/arm/v7")),
        ref,
        runner=Runner(),
        client=client,
        deep=True,
    )
    assert report.platforms[0].problems == ("linux/arm/v7: config says arm/v6",)


@pytest.mark.e2e
def test_platform_pointing_at_an_index_is_a_problem_not_a_crash(client, repo) -> None:
    ref = ImageRef.parse(f"{repo}:nested")
    good = with_platform(
        push_image(client, ref, "amd64", [gzip.compress(tar_of({}))]), "linux/amd64"
    )
    inner_raw = oci.build_index([good])
    inner = ref.with_digest(oci.sha256_digest(inner_raw))
    client.put_manifest(inner, inner_raw, oci.OCI_INDEX)
    nested = oci.Descriptor(
        oci.OCI_INDEX, inner.digest, len(inner_raw), Platform.parse("linux/arm64")
    )
    push_index(client, ref, [good, nested])
    report = verify(
        Settings(platforms=parse_platforms("linux/amd64,linux/arm64")),
        ref,
        runner=Runner(),
        client=client,
        deep=True,
    )
    problems = {c.platform: c.problems for c in report.platforms}
    assert problems == {
        "linux/amd64": (),
        "linux/arm64": ("linux/arm64: points at another index, not at an image manifest",),
    }


@pytest.mark.e2e
def test_inspect_rows_and_single_platform_summary(client, repo) -> None:
    ref = ImageRef.parse(f"{repo}:inspect")
    layer = gzip.compress(tar_of({"bin/app": elf(62)}))
    amd = with_platform(push_image(client, ref, "amd64", [layer]), "linux/amd64")
    push_index(client, ref, [amd])
    result = inspect(Settings(), ref, client=client)
    (row,) = result.rows
    assert (row.platform, row.digest, row.size, row.created) == (
        "linux/amd64",
        amd.digest,
        len(layer),
        "2026-01-01T00:00:00Z",
    )
    summary = inspect(Settings(), ref, platform="linux/amd64", client=client).to_json()
    assert summary["cmd"] == ["/bin/app"]
    assert summary["env"] == ["PATH=/bin"]
    assert summary["digest"] == amd.digest
    with pytest.raises(
        InvalidValueError, match=r"has no linux/s390x image \(it has: linux/amd64\)"
    ):
        inspect(Settings(), ref, platform="s390x", client=client)
