"""verify and inspect end to end: images built by buildx, pushed to the real registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from multiarch_tasks.checks.inspect import inspect
from multiarch_tasks.checks.verify.check import verify
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model import oci
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform, parse_platforms
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.registry.client import RegistryClient
from testbed.base_images import FULL_PLATFORMS, busybox_binary
from tests.conftest import buildx_push

pytestmark = pytest.mark.e2e
MULTIARCH = str(Path(sys.executable).with_name("multiarch"))


def settings_for(platforms: str | tuple[str, ...], **kwargs: object) -> Settings:
    return Settings(platforms=parse_platforms(platforms), **kwargs)  # type: ignore[arg-type]


def buildx(context: Path, ref: str, platforms: str, *, provenance: bool = False) -> None:
    argv = ["docker", "buildx", "build", "--platform", platforms, "-t", ref, "--push"]
    if not provenance:
        argv.append("--provenance=false")
    done = buildx_push([*argv, str(context)])
    assert done.returncode == 0, done.stderr[-2000:]


def copy_image(client: RegistryClient, src: ImageRef, dest: ImageRef) -> None:
    """Copy one image manifest (blobs mounted) from ``src`` to ``dest`` by digest."""
    doc = client.get_manifest(src)
    for blob in [doc.config, *doc.layers]:
        assert client.mount_blob(dest, blob.digest, src.repository)
    client.put_manifest(dest.with_digest(doc.digest), doc.raw, doc.media_type)


def test_good_multiarch_image_passes_with_the_json_shape(base_image) -> None:
    ref = ImageRef.parse(base_image.ref)
    report = verify(settings_for(FULL_PLATFORMS), ref, runner=Runner())
    assert report.ok, report.render()
    data = report.to_json()
    assert set(data) == {"ok", "ref", "digest", "platforms", "attestations", "problems"}
    assert data["ok"] is True
    assert data["ref"] == base_image.ref
    assert data["digest"] == base_image.digest
    assert data["attestations"] == []
    assert [p["platform"] for p in data["platforms"]] == list(FULL_PLATFORMS)
    for entry in data["platforms"]:
        assert set(entry) == {"platform", "digest", "ok", "problems"}
        assert entry["ok"] is True
        assert entry["problems"] == []
        assert entry["digest"].startswith("sha256:")
    assert json.loads(json.dumps(data)) == data


def test_good_image_passes_deep_and_run(base_image) -> None:
    ref = ImageRef.parse(base_image.ref)
    settings = settings_for(
        "linux/amd64,linux/arm64,linux/s390x", verify_run=("/bin/sh", "-c", "test -x /bin/busybox")
    )
    sub = _subset_index(ref, ("linux/amd64", "linux/arm64", "linux/s390x"))
    report = verify(settings, sub, runner=Runner(), deep=True, run=True)
    assert report.ok, report.render()
    # busybox --install made hundreds of links to one program; the program itself counts
    assert all("ELF programs checked" in " ".join(c.notes) for c in report.platforms)
    assert all("ran" in " ".join(c.notes) for c in report.platforms)


def _subset_index(ref: ImageRef, platforms: tuple[str, ...]) -> ImageRef:
    """Write an index over some of ``ref``'s platforms beside it; return it by digest."""
    client = RegistryClient()
    doc = client.get_manifest(ref)
    wanted = {Platform.parse(p) for p in platforms}
    raw = oci.build_index([d for d in doc.images if d.platform in wanted])
    pinned = ref.with_digest(oci.sha256_digest(raw))
    client.put_manifest(pinned, raw, oci.OCI_INDEX)
    return pinned


def test_index_labelling_arm64_as_amd64_fails_the_config_check(base_image, repo) -> None:
    client = RegistryClient()
    src = ImageRef.parse(base_image.ref)
    dest = ImageRef.parse(f"{repo}:mislabelled")
    real = {str(d.platform): d for d in client.get_manifest(src).images}
    for plat in ("linux/amd64", "linux/arm64"):
        copy_image(client, src.with_digest(real[plat].digest), dest)
    arm = real["linux/arm64"]
    # the arm64 image, labelled amd64, is the only image of the index
    lying = oci.Descriptor(arm.media_type, arm.digest, arm.size, Platform.parse("linux/amd64"))
    client.put_manifest(dest, oci.build_index([lying]), oci.OCI_INDEX)

    report = verify(settings_for("linux/amd64"), dest, runner=Runner())
    assert not report.ok
    (check,) = report.platforms
    assert check.platform == "linux/amd64"
    assert check.problems == ("linux/amd64: config says arm64",)
    assert report.to_json()["platforms"][0]["ok"] is False


def test_same_image_under_two_platforms_is_reported(base_image, repo) -> None:
    client = RegistryClient()
    src = ImageRef.parse(base_image.ref)
    dest = ImageRef.parse(f"{repo}:dup")
    amd = next(d for d in client.get_manifest(src).images if str(d.platform) == "linux/amd64")
    copy_image(client, src.with_digest(amd.digest), dest)
    twice = [
        oci.Descriptor(amd.media_type, amd.digest, amd.size, Platform.parse(p))
        for p in ("linux/amd64", "linux/arm64")
    ]
    client.put_manifest(dest, oci.build_index(twice), oci.OCI_INDEX)
    report = verify(settings_for("linux/amd64,linux/arm64"), dest, runner=Runner())
    problems = {c.platform: c.problems for c in report.platforms}
    assert any("same manifest as linux/arm64" in p for p in problems["linux/amd64"])
    assert "linux/arm64: config says amd64" in problems["linux/arm64"]


@pytest.fixture
def x86_tool_image(base_image, repo, tmp_path: Path) -> ImageRef:
    """Every platform of the base plus an x86-64 static busybox COPY'd to /usr/local/bin/tool."""
    shutil.copy2(busybox_binary("amd64"), tmp_path / "tool")
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image.ref}\nCOPY tool /usr/local/bin/tool\n")
    ref = f"{repo}:x86tool"
    buildx(tmp_path, ref, "linux/amd64,linux/arm64,linux/s390x")
    return ImageRef.parse(ref)


def test_x86_binary_copied_into_every_platform_fails_deep(x86_tool_image) -> None:
    settings = settings_for("linux/amd64,linux/arm64,linux/s390x")
    shallow = verify(settings, x86_tool_image, runner=Runner())
    assert shallow.ok, "configs are right: only --deep can see this"
    report = verify(settings, x86_tool_image, runner=Runner(), deep=True)
    assert not report.ok
    problems = {c.platform: c.problems for c in report.platforms}
    assert problems["linux/amd64"] == ()
    assert problems["linux/arm64"] == (
        "linux/arm64: /usr/local/bin/tool: x86-64 (expected aarch64)",
    )
    assert problems["linux/s390x"] == ("linux/s390x: /usr/local/bin/tool: x86-64 (expected s390x)",)


def test_deleted_binary_is_not_reported(base_image, repo, tmp_path: Path) -> None:
    shutil.copy2(busybox_binary("amd64"), tmp_path / "tool")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nCOPY tool /opt/tool\nRUN rm /opt/tool\n"
    )
    ref = f"{repo}:removed"
    buildx(tmp_path, ref, "linux/arm64")
    report = verify(
        settings_for("linux/arm64"),
        ImageRef.parse(ref),
        runner=Runner(),
        deep=True,
        allow_single=True,
    )
    assert report.ok, report.render()


def test_missing_and_extra_platforms_are_named(base_image) -> None:
    settings = settings_for("linux/amd64,linux/arm64,linux/riscv64")
    report = verify(settings, ImageRef.parse(base_image.ref), runner=Runner())
    assert not report.ok
    checks = {c.platform: c for c in report.platforms}
    assert checks["linux/riscv64"].problems == ("linux/riscv64: missing from the index",)
    assert checks["linux/riscv64"].digest == ""
    for extra in ("linux/arm/v7", "linux/s390x", "linux/ppc64le"):
        assert not checks[extra].ok
        assert "unexpected platform" in checks[extra].problems[0]
    assert checks["linux/amd64"].ok
    assert "linux/riscv64 is missing" in report.problems
    assert "unexpected platforms: linux/arm/v7, linux/s390x, linux/ppc64le" in report.problems


def test_attestations_are_listed_apart_and_dangling_ones_fail(
    base_image, repo, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image.ref}\nENV X=1\n")
    ref = ImageRef.parse(f"{repo}:attested")
    buildx(tmp_path, str(ref), "linux/amd64,linux/arm64", provenance=True)
    settings = settings_for("linux/amd64,linux/arm64")
    report = verify(settings, ref, runner=Runner())
    assert report.ok, report.render()
    assert [c.platform for c in report.platforms] == ["linux/amd64", "linux/arm64"]
    assert sorted(a.platform for a in report.attestations) == ["linux/amd64", "linux/arm64"]

    client = RegistryClient()
    doc = client.get_manifest(ref)
    amd = next(d for d in doc.images if str(d.platform) == "linux/amd64")
    # drop the arm64 image but keep its attestation: it now describes nothing
    kept = [d for d in doc.descriptors if d.is_attestation or d.digest == amd.digest]
    dangling = ref.with_tag("dangling")
    client.put_manifest(dangling, oci.build_index(kept), oci.OCI_INDEX)
    report = verify(settings_for("linux/amd64"), dangling, runner=Runner())
    assert not report.ok
    bad = [a for a in report.attestations if not a.ok]
    assert len(bad) == 1
    assert "which is not in the index" in bad[0].problems[0]
    assert report.to_json()["attestations"][1 if report.attestations[0].ok else 0]["ok"] is False


def test_single_manifest_needs_allow_single(base_image) -> None:
    client = RegistryClient()
    ref = ImageRef.parse(base_image.ref)
    arm = next(d for d in client.get_manifest(ref).images if str(d.platform) == "linux/arm64")
    single = ref.with_digest(arm.digest)
    refused = verify(settings_for("linux/arm64"), single, runner=Runner())
    assert not refused.ok
    assert "--allow-single" in refused.problems[0]
    accepted = verify(settings_for("linux/arm64"), single, runner=Runner(), allow_single=True)
    assert accepted.ok, accepted.render()
    assert [c.platform for c in accepted.platforms] == ["linux/arm64"]


def test_every_tag_must_resolve_to_the_index(base_image, repo) -> None:
    client = RegistryClient()
    src = ImageRef.parse(base_image.ref)
    dest = ImageRef.parse(f"{repo}:1.0")
    doc = client.get_manifest(src)
    for child in doc.images:
        copy_image(client, src.with_digest(child.digest), dest)
    client.put_manifest(dest, doc.raw, doc.media_type)
    client.put_manifest(dest.with_tag("latest"), doc.raw, doc.media_type)
    settings = settings_for(FULL_PLATFORMS, image=dest.name, tags=("1.0", "latest"))
    assert verify(settings, dest, runner=Runner()).ok
    stale = settings_for(FULL_PLATFORMS, image=dest.name, tags=("1.0", "latest", "stable"))
    report = verify(stale, dest, runner=Runner())
    assert report.problems == ("tag stable does not exist",)
    other = doc.images[0]
    client.put_manifest(dest.with_tag("latest"), oci.build_index([other]), oci.OCI_INDEX)
    report = verify(settings, dest, runner=Runner())
    assert len(report.problems) == 1
    assert report.problems[0].startswith("tag latest points at sha256:")


def test_run_reports_exec_format_error_apart_from_a_failing_command(
    base_image, repo, tmp_path: Path
) -> None:
    program = bytearray(busybox_binary("amd64").read_bytes())
    program[18:20] = (0xBEEF).to_bytes(2, "little")  # an e_machine no kernel nor QEMU runs
    (tmp_path / "alien").write_bytes(bytes(program))
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image.ref}\nCOPY --chmod=755 alien /bin/alien\n"
    )
    ref = ImageRef.parse(f"{repo}:alien")
    buildx(tmp_path, str(ref), "linux/amd64")
    alien = verify(
        settings_for("linux/amd64", verify_run=("/bin/alien",)),
        ref,
        runner=Runner(),
        run=True,
        allow_single=True,
    )
    assert alien.platforms[0].problems == (
        "linux/amd64: exec format error: its programs are not built for linux/amd64",
    )
    failing = verify(
        settings_for("linux/amd64", verify_run=("/bin/sh", "-c", "exit 3")),
        ref,
        runner=Runner(),
        run=True,
        allow_single=True,
    )
    (problem,) = failing.platforms[0].problems
    assert problem.startswith("linux/amd64: `/bin/sh -c 'exit 3'` exited 3")


def test_run_of_a_program_crashing_under_qemu_is_reported_and_its_container_removed(
    base_image,
) -> None:
    """A shell that kills itself with SIGSEGV under QEMU: as the container's PID 1 it never
    exits (the kernel ignores default-action signals sent to init), so verify --run stops
    waiting after `timeout`, says so and removes the container instead of hanging."""
    started = time.monotonic()
    report = verify(
        settings_for(
            "linux/amd64,linux/s390x", verify_run=("/bin/sh", "-c", "kill -SEGV $$"), timeout=15
        ),
        ImageRef.parse(base_image.ref),
        runner=Runner(),
        run=True,
    )
    assert time.monotonic() - started < 120
    s390x = next(p for p in report.platforms if p.platform == "linux/s390x")
    (problem,) = s390x.problems
    assert problem.startswith("linux/s390x: `/bin/sh -c 'kill -SEGV $$'` did not finish in 15s")
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "name=multiarch-verify-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert left.stdout.strip() == ""


def test_run_without_verify_run_says_to_set_it(base_image) -> None:
    with pytest.raises(InvalidValueError, match="set verify_run"):
        verify(
            settings_for("linux/amd64"), ImageRef.parse(base_image.ref), runner=Runner(), run=True
        )


def test_five_platform_verify_sends_requests_concurrently(base_image) -> None:
    client = RegistryClient()
    lock = threading.Lock()
    state = {"active": 0, "peak": 0, "total": 0}
    send = client.session.request

    def counting(*args, **kwargs):
        with lock:
            state["active"] += 1
            state["total"] += 1
            state["peak"] = max(state["peak"], state["active"])
        try:
            time.sleep(0.02)  # widen the window; a serial client still peaks at 1
            return send(*args, **kwargs)
        finally:
            with lock:
                state["active"] -= 1

    client.session.request = counting  # type: ignore[method-assign]
    report = verify(
        settings_for(FULL_PLATFORMS), ImageRef.parse(base_image.ref), runner=Runner(), client=client
    )
    assert report.ok
    assert state["total"] >= 11  # the index, 5 manifests, 5 configs
    assert state["peak"] >= 5


def test_inspect_table_json_and_platform(base_image) -> None:
    settings = Settings()
    ref = ImageRef.parse(base_image.ref)
    result = inspect(settings, ref)
    assert result.ok
    assert [r.platform for r in result.rows] == list(FULL_PLATFORMS)
    assert all(r.size > 0 and r.created for r in result.rows)
    text = result.render()
    assert "PLATFORM" in text
    assert "linux/ppc64le" in text
    raw = result.to_json()
    assert raw["mediaType"] in oci.INDEX_TYPES
    assert len(raw["manifests"]) == 5
    one = inspect(settings, ref, platform="arm64")
    summary = one.to_json()
    assert summary["platform"] == "linux/arm64"
    assert summary["cmd"] == ["/bin/sh"]
    assert summary["layers"] == 2
    assert "config" in one.render()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MULTIARCH, *args], capture_output=True, text=True, check=False, cwd=cwd)


def test_cli_verify_json_exit_codes_and_one_line_errors(base_image, tmp_path: Path) -> None:
    good = run_cli(
        "verify", base_image.ref, "--platforms", ",".join(FULL_PLATFORMS), "--json", cwd=tmp_path
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True
    bad = run_cli(
        "verify", base_image.ref, "--platforms", "linux/amd64,linux/riscv64", "--json", cwd=tmp_path
    )
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False
    assert {
        "platform": "linux/riscv64",
        "digest": "",
        "ok": False,
        "problems": ["linux/riscv64: missing from the index"],
    } in data["platforms"]
    malformed = run_cli("verify", "Not A/Valid:ref!", "--json", cwd=tmp_path)
    assert malformed.returncode == 1
    assert "Traceback" not in malformed.stderr
    lines = [line for line in malformed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    # One line naming the bad value, on stderr and as the JSON error.
    assert lines[0].startswith("multiarch: error: invalid image reference 'Not A/Valid:ref!'")
    assert json.loads(malformed.stdout)["error"].startswith(
        "invalid image reference 'Not A/Valid:ref!'"
    )
