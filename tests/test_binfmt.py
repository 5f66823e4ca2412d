"""binfmt_misc entries as the kernel prints them, read from a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from multiarch_tasks.engine.binfmt import (
    Handler,
    handler_for,
    is_mounted,
    needs_emulation,
    parse_handler,
    read_handler,
)
from multiarch_tasks.model.platforms import Platform

AARCH64_F = """\
enabled
interpreter /usr/bin/qemu-aarch64-static
flags: F
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""

# tonistiigi/binfmt registers with POCF; Debian's qemu-user-static with OCF (or PF).
ARM_POCF = """\
enabled
interpreter /usr/bin/qemu-arm
flags: POCF
offset 0
magic 7f454c4601010100000000000000000002002800
mask ffffffffffffff00fffffffffffffffffeffffff
"""

S390X_P = """\
enabled
interpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P
flags: P
offset 0
magic 7f454c4602020100000000000000000000020016
mask ffffffffffffff00fffffffffffffffffffeffff
"""

PPC_DISABLED_PF = """\
disabled
interpreter /usr/bin/qemu-ppc64le-static
flags: PF
offset 0
magic 7f454c4602010100000000000000000002001500
mask ffffffffffffff00fffffffffffffffffeffff00
"""

NO_FLAGS = """\
enabled
interpreter /usr/bin/qemu-riscv64
flags: \n\
offset 0
"""


@pytest.mark.parametrize(
    ("name", "text", "enabled", "interpreter", "flags", "fix_binary", "usable"),
    [
        ("qemu-aarch64", AARCH64_F, True, "/usr/bin/qemu-aarch64-static", "F", True, True),
        ("qemu-arm", ARM_POCF, True, "/usr/bin/qemu-arm", "POCF", True, True),
        ("qemu-s390x", S390X_P, True, "/usr/libexec/qemu-binfmt/s390x-binfmt-P", "P", False, False),
        ("qemu-ppc64le", PPC_DISABLED_PF, False, "/usr/bin/qemu-ppc64le-static", "PF", True, False),
        ("qemu-riscv64", NO_FLAGS, True, "/usr/bin/qemu-riscv64", "", False, False),
        ("qemu-x", "", False, "", "", False, False),
    ],
)
def test_parse_handler(
    name: str,
    text: str,
    enabled: bool,
    interpreter: str,
    flags: str,
    fix_binary: bool,
    usable: bool,
) -> None:
    handler = parse_handler(name, text)
    assert handler == Handler(name, enabled, interpreter, flags)
    assert handler.fix_binary is fix_binary
    assert handler.usable is usable


def test_disabled_is_not_enabled_even_though_it_contains_the_word() -> None:
    assert not parse_handler("qemu-ppc64le", PPC_DISABLED_PF).enabled


def test_read_handler_and_handler_for(tmp_path: Path) -> None:
    (tmp_path / "qemu-aarch64").write_text(AARCH64_F)
    (tmp_path / "qemu-arm").write_text(ARM_POCF)
    (tmp_path / "register").write_text("")
    assert read_handler("qemu-aarch64", tmp_path) == parse_handler("qemu-aarch64", AARCH64_F)
    assert read_handler("qemu-s390x", tmp_path) is None
    arm64 = handler_for(Platform("linux", "arm64"), tmp_path)
    assert arm64 is not None
    assert arm64.name == "qemu-aarch64"
    # arm/v6 and arm/v7 share the qemu-arm handler
    for variant in ("v6", "v7"):
        arm = handler_for(Platform("linux", "arm", variant), tmp_path)
        assert arm is not None
        assert arm.name == "qemu-arm"
    assert handler_for(Platform("linux", "mips64le"), tmp_path) is None


def test_is_mounted(tmp_path: Path) -> None:
    assert not is_mounted(tmp_path)
    (tmp_path / "register").write_text("")
    assert is_mounted(tmp_path)


AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("platform", "native", "needed"),
    [
        (AMD64, (AMD64,), False),
        (Platform("linux", "amd64", "v3"), (AMD64,), False),
        (ARM64, (AMD64,), True),
        (Platform("linux", "arm", "v7"), (ARM64,), True),
        (ARM64, (AMD64, ARM64), False),
        (Platform("windows", "amd64"), (AMD64,), True),
        (AMD64, (), True),
    ],
)
def test_needs_emulation(platform: Platform, native: tuple[Platform, ...], needed: bool) -> None:
    assert needs_emulation(platform, native) is needed
