"""ELF headers, layer whiteouts and compressed tar streams (verify --deep), without an engine.

One test reads real busybox binaries the test bed downloads: it is e2e (tests/conftest.py's
``unavailable()`` policy: skipped locally without them, failed in CI).
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile

import pytest
import zstandard

from multiarch_tasks.checks.elf import (
    ElfHeader,
    LayerChanges,
    LayerFormatError,
    ScanResult,
    apply_layer,
    expected_arch,
    normalise,
    open_tar,
    scan_tar,
)
from multiarch_tasks.model.errors import ToolMissingError
from multiarch_tasks.model.platforms import Platform
from testbed.base_images import busybox_binary
from tests.conftest import unavailable


def elf(machine: int, *, elf_class: int = 2, data: int = 1, elf_type: int = 2) -> bytes:
    """A minimal ELF identification + e_type/e_machine, padded like a real header."""
    order = "little" if data == 1 else "big"
    ident = b"\x7fELF" + bytes([elf_class, data, 1]) + bytes(9)
    return ident + elf_type.to_bytes(2, order) + machine.to_bytes(2, order) + bytes(44)


X86_64 = elf(62)
AARCH64 = elf(183)


@pytest.mark.parametrize(
    ("head", "arch"),
    [
        (elf(62), "x86-64"),
        (elf(183), "aarch64"),
        (elf(3, elf_class=1), "i386"),
        (elf(40, elf_class=1), "arm"),
        (elf(21), "ppc64le"),
        (elf(21, data=2), "ppc64"),
        (elf(22, data=2), "s390x"),
        (elf(22, elf_class=1, data=2), "s390"),
        (elf(243), "riscv64"),
        (elf(8), "mips64el"),
        (elf(258), "loongarch64"),
        (elf(4242), "e_machine 4242"),
    ],
)
def test_elf_arch_names(head: bytes, arch: str) -> None:
    header = ElfHeader.parse(head)
    assert header is not None
    assert header.arch == arch


@pytest.mark.parametrize(
    "head",
    [b"", b"#!/bin/sh\necho hi\n" + bytes(20), b"\x7fELF", b"\x7fELF\x03\x01" + bytes(20)],
)
def test_non_elf_is_none(head: bytes) -> None:
    assert ElfHeader.parse(head) is None


def test_big_endian_machine_is_read_in_its_byte_order() -> None:
    header = ElfHeader.parse(elf(22, data=2))
    assert header is not None
    assert header.machine == 22


@pytest.mark.parametrize(("elf_type", "program"), [(1, False), (2, True), (3, True), (4, False)])
def test_only_executables_and_shared_objects_are_programs(elf_type: int, program: bool) -> None:
    header = ElfHeader.parse(elf(62, elf_type=elf_type))
    assert header is not None
    assert header.is_program is program


@pytest.mark.parametrize(
    ("platform", "arch"),
    [
        ("linux/amd64", "x86-64"),
        ("linux/arm64", "aarch64"),
        ("linux/arm/v7", "arm"),
        ("linux/arm/v6", "arm"),
        ("linux/s390x", "s390x"),
        ("linux/ppc64le", "ppc64le"),
        ("linux/riscv64", "riscv64"),
        ("linux/386", "i386"),
        ("windows/amd64", None),
    ],
)
def test_expected_arch(platform: str, arch: str | None) -> None:
    assert expected_arch(Platform.parse(platform)) == arch


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("bin/sh", "/bin/sh"),
        ("./bin/sh", "/bin/sh"),
        ("/bin/sh", "/bin/sh"),
        ("./", "/"),
        (".wh.x", "/.wh.x"),
        ("a/./b/../c", "/a/c"),
    ],
)
def test_normalise(name: str, path: str) -> None:
    assert normalise(name) == path


def make_tar(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    """Entries (name, content, kind) where kind is file, dir, symlink or hardlink:TARGET."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = "/bin/busybox"
                tar.addfile(info)
            elif kind.startswith("hardlink:"):
                info.type = tarfile.LNKTYPE
                info.linkname = kind.split(":", 1)[1]
                tar.addfile(info)
            else:
                data = content or b""
                info.size = len(data)
                info.mode = 0o755
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def changes_of(blob: bytes) -> LayerChanges:
    with open_tar(io.BytesIO(blob)) as tar:
        return scan_tar(tar)


def test_layer_changes_record_elf_files_whiteouts_and_opaque_dirs() -> None:
    blob = make_tar(
        [
            ("usr", None, "dir"),
            ("usr/bin/tool", X86_64, "file"),
            ("usr/bin/script", b"#!/bin/sh\n" + bytes(30), "file"),
            ("usr/bin/tool2", None, "hardlink:usr/bin/tool"),
            ("bin/sh", None, "symlink"),
            ("etc/.wh.passwd", b"", "file"),
            ("opt/.wh..wh..opq", b"", "file"),
        ]
    )
    changes = changes_of(blob)
    assert changes.files["/usr/bin/tool"] == ElfHeader.parse(X86_64)
    assert changes.files["/usr/bin/tool2"] == ElfHeader.parse(X86_64)
    assert changes.files["/usr/bin/script"] is None
    assert changes.files["/bin/sh"] is None
    assert changes.whiteouts == frozenset({"/etc/passwd"})
    assert changes.opaque_dirs == frozenset({"/opt"})
    assert changes.regular_files == 2  # tool and script; whiteout markers are not files


def test_whiteouts_remove_files_of_lower_layers() -> None:
    state: dict[str, ElfHeader] = {}
    apply_layer(
        state,
        changes_of(
            make_tar(
                [
                    ("bin/a", X86_64, "file"),
                    ("bin/b", X86_64, "file"),
                    ("opt/x/y", X86_64, "file"),
                    ("lib/dir/z", X86_64, "file"),
                ]
            )
        ),
    )
    assert set(state) == {"/bin/a", "/bin/b", "/opt/x/y", "/lib/dir/z"}
    apply_layer(
        state,
        changes_of(
            make_tar(
                [
                    ("bin/.wh.a", b"", "file"),  # deletes /bin/a
                    ("lib/.wh.dir", b"", "file"),  # deletes the directory /lib/dir and below
                    ("opt/.wh..wh..opq", b"", "file"),  # empties /opt of lower content ...
                    ("opt/new", AARCH64, "file"),  # ... but keeps what this layer adds
                    ("bin/b", b"not elf any more" + bytes(10), "file"),  # overwritten by a non-ELF
                ]
            )
        ),
    )
    assert state == {"/opt/new": ElfHeader.parse(AARCH64)}


def test_scan_result_names_path_found_and_expected_arch() -> None:
    header_x86 = ElfHeader.parse(X86_64)
    header_arm = ElfHeader.parse(AARCH64)
    assert header_x86 is not None
    assert header_arm is not None
    result = ScanResult({"/usr/bin/tool": header_x86, "/bin/busybox": header_arm}, 2)
    assert result.foreign(Platform.parse("linux/arm64")) == [
        "/usr/bin/tool: x86-64 (expected aarch64)"
    ]
    assert result.foreign(Platform.parse("linux/amd64")) == [
        "/bin/busybox: aarch64 (expected x86-64)"
    ]
    assert result.foreign(Platform.parse("windows/amd64")) == []


def test_open_tar_reads_gzip_zstd_and_plain_layers() -> None:
    blob = make_tar([("bin/tool", X86_64, "file")])
    for packed in (blob, gzip.compress(blob), zstandard.ZstdCompressor().compress(blob)):
        assert changes_of(packed).files == {"/bin/tool": ElfHeader.parse(X86_64)}


def test_zstd_layer_without_zstandard_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    packed = zstandard.ZstdCompressor().compress(make_tar([("bin/tool", X86_64, "file")]))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ToolMissingError, match=r"zstd.*multiarch-tasks\[zstd\]"):
        open_tar(io.BytesIO(packed), "layer sha256:abc")


def test_garbage_layer_is_a_layer_format_error() -> None:
    with pytest.raises(LayerFormatError, match="not a tar archive"):
        changes_of(gzip.compress(b"this is not a tar archive at all" * 40))


@pytest.mark.e2e  # downloads busybox-static (the test bed's): in CI a failed download fails
def test_real_busybox_binaries_have_their_architecture() -> None:
    try:
        paths = {arch: busybox_binary(arch) for arch in ("amd64", "arm64", "s390x")}
    except RuntimeError as err:
        unavailable(f"busybox-static not downloadable here: {err}")
        raise  # unavailable() skips or fails: not reached
    found = {}
    for arch, path in paths.items():
        header = ElfHeader.parse(path.read_bytes()[:20])
        assert header is not None
        found[arch] = header.arch
    assert found == {"amd64": "x86-64", "arm64": "aarch64", "s390x": "s390x"}


def arm_elf(cpu_arch: int | None, *, data: int = 1, prefix_tags: bytes = b"") -> bytes:
    """A 32-bit ARM executable whose only section is .ARM.attributes with ``Tag_CPU_arch``."""
    order = "little" if data == 1 else "big"

    def u32(value: int) -> bytes:
        return value.to_bytes(4, order)

    file_attrs = prefix_tags + (bytes([6, cpu_arch]) if cpu_arch is not None else b"")
    subsection = b"\x01" + u32(5 + len(file_attrs)) + file_attrs
    vendor = b"aeabi\x00"
    section = b"A" + u32(4 + len(vendor) + len(subsection)) + vendor + subsection
    header_size = 52
    shoff = header_size + len(section)
    ident = b"\x7fELF" + bytes([1, data, 1]) + bytes(9)
    header = (
        ident
        + (2).to_bytes(2, order)  # e_type EXEC
        + (40).to_bytes(2, order)  # e_machine ARM
        + u32(1) + u32(0) + u32(0) + u32(shoff) + u32(0)
        + (52).to_bytes(2, order) + bytes(4)
        + (40).to_bytes(2, order) + (2).to_bytes(2, order) + bytes(2)
    )  # fmt: skip
    null_section = bytes(40)
    attributes = u32(0) + u32(0x70000003) + u32(0) + u32(0) + u32(header_size)
    attributes += u32(len(section)) + bytes(16)
    return header + section + null_section + attributes


@pytest.mark.parametrize(
    ("cpu_arch", "variant", "name"),
    [
        (4, "v5", "v5TE"),
        (6, "v6", "v6"),
        (7, "v6", "v6KZ"),
        (8, "v7", "v6T2"),
        (9, "v6", "v6K"),
        (10, "v7", "v7"),
        (14, "v8", "v8-A"),
    ],
)
def test_arm_variant_from_tag_cpu_arch(cpu_arch: int, variant: str, name: str) -> None:
    header = ElfHeader.parse(arm_elf(cpu_arch))
    assert header is not None
    assert header.cpu_arch == cpu_arch
    assert header.arm_variant == variant
    assert header.cpu_arch_name == name


def test_tag_cpu_arch_after_string_attributes_and_in_big_endian() -> None:
    header = ElfHeader.parse(arm_elf(10, data=2, prefix_tags=b"\x057-A\x00\x04raw\x00"))
    assert header is not None
    assert header.arm_variant == "v7"


def test_arm_file_without_the_attribute_or_only_a_header_has_no_variant() -> None:
    whole = ElfHeader.parse(arm_elf(None))
    assert whole is not None
    assert whole.arm_variant == ""
    head_only = ElfHeader.parse(arm_elf(10)[:20])
    assert head_only is not None
    assert head_only.arm_variant == ""


def _arm_result(cpu_arch: int) -> ScanResult:
    header = ElfHeader.parse(arm_elf(cpu_arch))
    assert header is not None
    return ScanResult({"/bin/app": header}, 1)


def test_armv7_program_in_an_arm_v6_slot_is_foreign() -> None:
    assert _arm_result(10).foreign(Platform.parse("linux/arm/v6")) == [
        (
            "/bin/app: arm/v7 (Tag_CPU_arch v7; expected arm/v6 or older:"
            " Illegal instruction on v6 CPUs)"
        )
    ]


@pytest.mark.parametrize(
    ("cpu_arch", "platform"),
    [(10, "linux/arm/v7"), (10, "linux/arm"), (6, "linux/arm/v6"), (4, "linux/arm/v6"),
     (6, "linux/arm/v7")],
)  # fmt: skip
def test_older_or_equal_arm_variant_fits_its_slot(cpu_arch: int, platform: str) -> None:
    assert _arm_result(cpu_arch).foreign(Platform.parse(platform)) == []


def test_scan_tar_reads_the_attributes_of_arm_programs_in_a_layer() -> None:
    blob = make_tar([("bin/app", arm_elf(10), "file")])
    changes = changes_of(blob)
    header = changes.files["/bin/app"]
    assert header is not None
    assert header.arm_variant == "v7"


def test_real_debian_armhf_is_v7_and_armel_is_v5() -> None:
    try:
        paths = {arch: busybox_binary(arch) for arch in ("armhf", "armel")}
    except RuntimeError as err:
        pytest.skip(f"busybox-static not downloadable here: {err}")
    variants = {}
    for arch, path in paths.items():
        header = ElfHeader.parse(path.read_bytes())
        assert header is not None
        variants[arch] = (header.arm_variant, header.cpu_arch_name)
    assert variants == {"armhf": ("v7", "v7"), "armel": ("v5", "v5TE")}


def test_a_failed_run_over_a_foreign_program_is_an_exec_format_error() -> None:
    from multiarch_tasks.checks.verify.run import wrong_arch  # noqa: PLC0415

    arm64, amd64 = Platform.parse("linux/arm64"), Platform.parse("linux/amd64")
    x86 = ElfHeader(2, 1, 2, 62)
    failed = f"{arm64}: `/bin/sh -c tool` exited 127: /bin/sh: tool: not found"
    results = {arm64: ([failed], ""), amd64: ([f"{amd64}: `x` exited 127: x: not found"], "")}
    scans = {arm64: ScanResult({"/usr/bin/tool": x86}, 1), amd64: ScanResult({"/x": x86}, 1)}
    out = wrong_arch(results, scans)
    said = (
        f"{arm64}: exec format error: /usr/bin/tool: x86-64 (expected aarch64): its programs"
        f" are not built for {arm64} (`/bin/sh -c tool` exited 127: /bin/sh: tool: not found)"
    )
    assert out[arm64] == ([said], "")
    assert out[amd64] == results[amd64], "a failure among right-architecture programs stays"


def test_a_run_that_said_exec_format_error_is_not_restated() -> None:
    from multiarch_tasks.checks.verify.run import failed_runs  # noqa: PLC0415

    arm64 = Platform.parse("linux/arm64")
    said = {arm64: ([f"{arm64}: exec format error: its programs are not built for x"], "")}
    assert failed_runs(said) == []
    assert failed_runs({arm64: ([], "ran")}) == []
    assert failed_runs({arm64: ([f"{arm64}: `sh -c 'exit 3'` exited 3"], "")}) == [], (
        "a command that ran and failed says nothing about its programs"
    )
