"""verify --deep tells arm/v6 from arm/v7 programs (Tag_CPU_arch), on real Debian busybox.

Debian's armhf busybox is ARMv7 code (Tag_CPU_arch v7): it stops with `Illegal
instruction` on an ARMv6 board (tests/e2e/test_diagnose.py runs it on QEMU's arm1176).
Debian's armel busybox is ARMv5TE code, which every arm/v6 and arm/v7 CPU runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from multiarch_tasks.checks.verify.check import verify
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.model.platforms import parse_platforms
from multiarch_tasks.model.reference import ImageRef
from testbed.base_images import FULL_PLATFORMS, busybox_binary
from tests.conftest import BaseImage, buildx_push

pytestmark = pytest.mark.e2e
ARM = "linux/arm/v6,linux/arm/v7"


def _arm_image(repo: str, tag: str, tmp_path: Path, v6_binary: str) -> ImageRef:
    """An arm/v6 + arm/v7 image: armhf busybox for v7, ``v6_binary`` (a Debian arch) for v6."""
    shutil.copy2(busybox_binary(v6_binary), tmp_path / "busybox-v6")
    shutil.copy2(busybox_binary("armhf"), tmp_path / "busybox-v7")
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch\nARG TARGETVARIANT\nCOPY busybox-${TARGETVARIANT} /bin/busybox\n"
    )
    ref = f"{repo}:{tag}"
    done = buildx_push(
        ["docker", "buildx", "build", "--builder", "default", "--platform", ARM,
         "--provenance=false", "--tag", ref, "--push", str(tmp_path)],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return ImageRef.parse(ref)


@pytest.mark.usefixtures("engine")
def test_armv7_program_in_the_arm_v6_slot_fails_deep(repo: str, tmp_path: Path) -> None:
    ref = _arm_image(repo, "v7-in-v6", tmp_path, "armhf")
    settings = Settings(platforms=parse_platforms(ARM))
    assert verify(settings, ref, runner=Runner()).ok, "index and configs are right"
    report = verify(settings, ref, runner=Runner(), deep=True)
    assert not report.ok
    problems = {c.platform: c.problems for c in report.platforms}
    assert problems["linux/arm/v7"] == ()
    assert problems["linux/arm/v6"] == (
        (
            "linux/arm/v6: /bin/busybox: arm/v7 (Tag_CPU_arch v7; expected arm/v6 or older:"
            " Illegal instruction on v6 CPUs)"
        ),
    )


@pytest.mark.usefixtures("engine")
def test_armv5te_program_in_the_arm_v6_slot_passes_deep(repo: str, tmp_path: Path) -> None:
    ref = _arm_image(repo, "v5-in-v6", tmp_path, "armel")
    report = verify(Settings(platforms=parse_platforms(ARM)), ref, runner=Runner(), deep=True)
    assert report.ok, report.render()


def test_real_arm_v7_base_passes_deep(base_image: BaseImage) -> None:
    assert "linux/arm/v7" in FULL_PLATFORMS
    settings = Settings(platforms=parse_platforms(FULL_PLATFORMS))
    report = verify(settings, ImageRef.parse(base_image.ref), runner=Runner(), deep=True)
    assert report.ok, report.render()
    [arm] = [c for c in report.platforms if c.platform == "linux/arm/v7"]
    assert any("ELF programs checked" in n for n in arm.notes)
