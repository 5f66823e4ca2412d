"""preflight against the test bed: the real registry, buildx builder and binfmt_misc."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from multiarch_tasks.checks.preflight.check import PreflightReport, preflight
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.platforms import parse_platforms
from testbed.base_images import build_base
from tests.conftest import BaseImage, run_cli, unavailable

pytestmark = pytest.mark.e2e

S390X_HANDLER = Path("/proc/sys/fs/binfmt_misc/qemu-s390x")


@pytest.fixture(scope="module")
def amd64_only_image(
    engine: str, registry: object, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A busybox image with only linux/amd64, like a compiler image used on the build host."""
    ref = f"{registry.host}/tools/amd64-only:1"  # type: ignore[attr-defined]
    build_base(ref, ("linux/amd64",), tmp_path_factory.mktemp("amd64-only"))
    return ref


def _preflight(tmp_path: Path, text: str, platforms: str, **settings: object) -> PreflightReport:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    config = Settings(platforms=parse_platforms(platforms), file=str(path), **settings)  # type: ignore[arg-type]
    return preflight(config, Runner())


def test_partial_base_fails_fast_naming_base_and_platform(
    partial_base_image: BaseImage, tmp_path: Path
) -> None:
    text = f"FROM {partial_base_image.ref}\nRUN uname -m > /arch\n"
    started = time.monotonic()
    report = _preflight(tmp_path, text, "linux/amd64,linux/arm64,linux/s390x")
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"preflight took {elapsed:.1f}s"
    assert not report.ok
    [problem] = report.errors
    assert problem.kind == "missing-platform"
    assert problem.platforms == ("linux/s390x",)
    assert partial_base_image.ref in problem.message
    assert f"{tmp_path / 'Dockerfile'}:1" in problem.message
    assert problem.fix.startswith("multiarch mirror ")
    assert problem.fix.endswith(f" {partial_base_image.ref}")
    [base] = report.bases
    assert base.digest == partial_base_image.digest
    assert [report.cell(base, p) for p in report.columns] == ["ok", "ok", "MISSING"]


def test_buildplatform_builder_on_amd64_only_image_passes(
    base_image: BaseImage, amd64_only_image: str, tmp_path: Path
) -> None:
    text = (
        f"FROM --platform=$BUILDPLATFORM {amd64_only_image} AS build\n"
        "RUN echo built > /out\n"
        f"FROM {base_image.ref}\n"
        "COPY --from=build /out /out\n"
        "RUN cat /out\n"
    )
    report = _preflight(tmp_path, text, "linux/amd64,linux/arm64,linux/s390x")
    assert report.ok, report.render()
    assert {b.ref: b.digest != "" for b in report.bases} == {
        amd64_only_image: True,
        base_image.ref: True,
    }


def test_final_stage_on_buildplatform_is_refused_with_its_line(
    base_image: BaseImage, tmp_path: Path
) -> None:
    text = (
        f"FROM {base_image.ref} AS deps\n"
        "RUN true\n"
        "\n"
        f"FROM --platform=$BUILDPLATFORM {base_image.ref}\n"
        "COPY --from=deps /bin/busybox /bin/busybox\n"
    )
    report = _preflight(tmp_path, text, "linux/amd64,linux/arm64")
    assert not report.ok
    [problem] = report.errors
    assert problem.kind == "buildplatform-final"
    assert problem.line == 4
    assert f"{tmp_path / 'Dockerfile'}:4:" in problem.message


def test_disabled_s390x_emulator_fails_naming_it_and_qemu_setup(
    base_image: BaseImage, tmp_path: Path
) -> None:
    if os.geteuid() != 0 or not S390X_HANDLER.exists():
        unavailable("needs root and a registered qemu-s390x binfmt handler")
    path = tmp_path / "Dockerfile"
    path.write_text(f"FROM {base_image.ref}\nRUN uname -m\n")
    config = Settings(platforms=parse_platforms("linux/s390x"), file=str(path))
    # Other builds on this machine use the handler: keep the disabled window tiny.
    S390X_HANDLER.write_text("0")
    try:
        report = preflight(config, Runner())
    finally:
        S390X_HANDLER.write_text("1")
    assert S390X_HANDLER.read_text().startswith("enabled")
    assert not report.ok
    [problem] = report.errors
    assert problem.kind == "emulator"
    assert "qemu-s390x" in problem.message
    assert "qemu-setup" in problem.message
    assert [h.mode for h in report.host] == ["impossible"]


def test_cli_exits_1_with_the_matrix_on_a_partial_base(
    partial_base_image: BaseImage, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {partial_base_image.ref}\n")
    done = run_cli("preflight", "--platforms", "linux/amd64,linux/s390x", cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISSING" in done.stdout
    assert "linux/s390x" in done.stdout
    assert "Traceback" not in done.stderr


def test_cli_unreachable_registry_fails_or_warns_with_allow_unreachable(
    engine: str, tmp_path: Path
) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    (tmp_path / "Dockerfile").write_text("FROM 127.0.0.1:1/base/busybox:1\n")
    argv = ["preflight", "--platforms", "linux/amd64"]
    refused = run_cli(*argv, cwd=tmp_path)
    assert refused.returncode == 1
    assert "error: Dockerfile:1: cannot read base image 127.0.0.1:1/base/busybox:1" in (
        refused.stdout
    )
    allowed = run_cli(*argv, "--allow-unreachable", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "warning: Dockerfile:1: cannot read base image" in allowed.stdout
