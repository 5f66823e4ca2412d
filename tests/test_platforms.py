"""Platform parsing and normalisation (containerd's aliases), as tables."""

from __future__ import annotations

import pytest

from multiarch_tasks.model.errors import InvalidPlatformError, InvalidValueError, MultiarchError
from multiarch_tasks.model.platforms import COMMON_PLATFORMS, Platform, parse_platforms

ARM64 = Platform("linux", "arm64")
AMD64 = Platform("linux", "amd64")
ARMV7 = Platform("linux", "arm", "v7")
ARMV6 = Platform("linux", "arm", "v6")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/arm64", ARM64),
        ("linux/arm64/v8", ARM64),
        ("arm64", ARM64),
        ("arm64/v8", ARM64),
        ("aarch64", ARM64),
        ("linux/aarch64", ARM64),
        ("linux/arm64/v9", Platform("linux", "arm64", "v9")),
        ("x86_64", AMD64),
        ("x86-64", AMD64),
        ("amd64", AMD64),
        ("linux/amd64", AMD64),
        ("linux/amd64/v1", AMD64),
        ("linux/amd64/v3", Platform("linux", "amd64", "v3")),
        ("armhf", ARMV7),
        ("armel", ARMV6),
        ("arm/v7", ARMV7),
        ("arm", ARMV7),
        ("linux/arm", ARMV7),
        ("linux/arm/v7", ARMV7),
        ("linux/arm/v6", ARMV6),
        ("linux/arm/v5", Platform("linux", "arm", "v5")),
        ("linux/386", Platform("linux", "386")),
        ("386", Platform("linux", "386")),
        ("i386", Platform("linux", "386")),
        ("i686", Platform("linux", "386")),
        ("linux/riscv64", Platform("linux", "riscv64")),
        ("linux/s390x", Platform("linux", "s390x")),
        ("linux/ppc64le", Platform("linux", "ppc64le")),
        ("ppc64el", Platform("linux", "ppc64le")),
        ("mips64el", Platform("linux", "mips64le")),
        ("linux/mips64le", Platform("linux", "mips64le")),
        ("loong64", Platform("linux", "loong64")),
        ("windows/amd64", Platform("windows", "amd64")),
        ("freebsd/arm64", Platform("freebsd", "arm64")),
        ("darwin/arm64/v8", Platform("darwin", "arm64")),
        # what users paste: case and surrounding blanks do not matter
        ("LINUX/ARM64", ARM64),
        ("  linux/arm/v7 ", ARMV7),
    ],
)
def test_parse_aliases(text: str, expected: Platform) -> None:
    assert Platform.parse(text) == expected


def test_arm64_v8_equals_arm64_and_prints_the_same() -> None:
    with_variant = Platform.parse("linux/arm64/v8")
    assert with_variant == Platform.parse("linux/arm64")
    assert str(with_variant) == "linux/arm64"
    assert hash(with_variant) == hash(ARM64)
    assert len({with_variant, ARM64, Platform.parse("aarch64")}) == 1


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("x86_64", "linux/amd64"),
        ("armhf", "linux/arm/v7"),
        ("armel", "linux/arm/v6"),
        ("arm", "linux/arm/v7"),
        ("i686", "linux/386"),
        ("ppc64el", "linux/ppc64le"),
        ("mips64el", "linux/mips64le"),
        ("amd64/v2", "linux/amd64/v2"),
        ("windows/amd64", "windows/amd64"),
    ],
)
def test_str_is_canonical(text: str, shown: str) -> None:
    assert str(Platform.parse(text)) == shown


@pytest.mark.parametrize(
    "platform",
    [
        *COMMON_PLATFORMS,
        Platform("linux", "amd64", "v3"),
        Platform("linux", "arm", "v5"),
        Platform("linux", "arm64", "v9"),
        Platform("windows", "amd64"),
    ],
    ids=str,
)
def test_str_round_trip(platform: Platform) -> None:
    assert Platform.parse(str(platform)) == platform


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("linux/arm64", "linux-arm64"),
        ("linux/arm64/v8", "linux-arm64"),
        ("linux/amd64", "linux-amd64"),
        ("linux/arm/v7", "linux-arm-v7"),
        ("armel", "linux-arm-v6"),
        ("linux/386", "linux-386"),
        ("linux/s390x", "linux-s390x"),
    ],
)
def test_tag_suffix(text: str, suffix: str) -> None:
    assert Platform.parse(text).tag_suffix == suffix


@pytest.mark.parametrize(
    ("text", "qemu", "uname"),
    [
        ("linux/amd64", "x86_64", "x86_64"),
        ("linux/arm64", "aarch64", "aarch64"),
        ("linux/arm/v7", "arm", "armv7l"),
        ("linux/arm/v6", "arm", "armv7l"),
        ("linux/386", "i386", "i686"),
        ("linux/s390x", "s390x", "s390x"),
        ("linux/ppc64le", "ppc64le", "ppc64le"),
        ("linux/riscv64", "riscv64", "riscv64"),
        ("linux/mips64le", "mips64el", "mips64"),
        ("linux/loong64", "loongarch64", "loongarch64"),
    ],
)
def test_qemu_name_and_uname_machine(text: str, qemu: str, uname: str) -> None:
    platform = Platform.parse(text)
    assert platform.qemu_name == qemu
    assert platform.uname_machine == uname


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"os": "linux", "architecture": "amd64"}, AMD64),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, ARM64),
        ({"os": "linux", "architecture": "arm", "variant": "v7"}, ARMV7),
        ({"os": "linux", "architecture": "arm"}, ARMV7),
        ({"os": "linux", "architecture": "arm64", "variant": None}, ARM64),
        ({"os": "linux", "architecture": "s390x", "os.version": "x"}, Platform("linux", "s390x")),
    ],
)
def test_from_oci(data: dict[str, object], expected: Platform) -> None:
    assert Platform.from_oci(data) == expected


def test_from_oci_keeps_attestation_unknown_unknown() -> None:
    platform = Platform.from_oci({"architecture": "unknown", "os": "unknown"})
    assert platform == Platform("unknown", "unknown")
    assert platform.is_attestation
    assert str(platform) == "unknown/unknown"
    assert not ARM64.is_attestation


def test_from_oci_rejects_unknown_architecture() -> None:
    with pytest.raises(InvalidPlatformError, match="linux/ppc64"):
        Platform.from_oci({"os": "linux", "architecture": "ppc64"})


@pytest.mark.parametrize(
    "platform", [AMD64, ARM64, ARMV7, Platform("linux", "amd64", "v2")], ids=str
)
def test_as_oci_round_trips_through_from_oci(platform: Platform) -> None:
    data = platform.as_oci()
    assert ("variant" in data) == bool(platform.variant)
    assert Platform.from_oci(dict(data)) == platform


def test_invalid_platform_names_value_and_lists_known() -> None:
    with pytest.raises(InvalidPlatformError) as info:
        Platform.parse("linux/arm65")
    message = str(info.value)
    assert "'linux/arm65'" in message
    for known in ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"):
        assert known in message


def test_invalid_platform_is_a_value_error_in_our_tree() -> None:
    with pytest.raises(ValueError, match="arm65"):
        Platform.parse("linux/arm65")
    assert issubclass(InvalidPlatformError, InvalidValueError)
    assert issubclass(InvalidPlatformError, MultiarchError)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "linux",
        "linux/",
        "/arm64",
        "linux//arm64",
        "linux/arm64/v8/extra",
        "plan9/amd64",
        "solaris/arm64/v8",
        "linux/arm65",
        "ppc64",
        "mips",
        "arm64 v8",
    ],
)
def test_unknown_platforms_raise(text: str) -> None:
    with pytest.raises(InvalidPlatformError, match="unknown platform"):
        Platform.parse(text)


@pytest.mark.parametrize(
    ("text", "arch"),
    [
        ("linux/arm/v9", "arm"),
        ("arm/v8l", "arm"),
        ("linux/arm64/v7", "arm64"),
        ("linux/amd64/v5", "amd64"),
        ("linux/s390x/v1", "s390x"),
    ],
)
def test_bad_variants_raise(text: str, arch: str) -> None:
    with pytest.raises(InvalidPlatformError, match="unknown variant") as info:
        Platform.parse(text)
    assert f"for {arch}" in str(info.value)
    assert repr(text) in str(info.value)


def test_bad_variant_for_arch_without_variants_says_none() -> None:
    with pytest.raises(InvalidPlatformError, match=r"known: none"):
        Platform.parse("linux/riscv64/v1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("linux/amd64,linux/arm64", (AMD64, ARM64)),
        ("linux/arm64,linux/amd64", (ARM64, AMD64)),
        (" linux/amd64 , arm64 ,", (AMD64, ARM64)),
        ("aarch64,linux/arm64/v8,arm64", (ARM64,)),
        (["linux/amd64", "linux/arm/v7"], (AMD64, ARMV7)),
        (("armhf", "linux/arm/v7", "arm"), (ARMV7,)),
        (["linux/amd64,linux/arm64", "linux/s390x"], (AMD64, ARM64, Platform("linux", "s390x"))),
        (["x86_64", "amd64", "armel"], (AMD64, ARMV6)),
        ("", ()),
        (",,", ()),
        ([], ()),
    ],
)
def test_parse_platforms(value: str | list[str], expected: tuple[Platform, ...]) -> None:
    assert parse_platforms(value) == expected


def test_parse_platforms_reports_the_bad_item() -> None:
    with pytest.raises(InvalidPlatformError, match="'linux/arm65'"):
        parse_platforms("linux/amd64,linux/arm65")


def test_platforms_are_immutable_and_ordered() -> None:
    with pytest.raises(AttributeError):
        ARM64.os = "windows"  # type: ignore[misc]
    assert sorted([ARM64, AMD64, ARMV7]) == [AMD64, ARMV7, ARM64]


def test_host_is_a_known_platform() -> None:
    host = Platform.host()
    assert host.os == "linux"
    assert Platform.parse(str(host)) == host
