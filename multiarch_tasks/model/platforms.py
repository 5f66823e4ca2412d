"""Platforms as containerd normalises them: ``os/arch[/variant]``.

``Platform.parse`` accepts what users type (``arm64``, ``aarch64``, ``linux/arm64/v8``,
``armhf``, ``x86_64``) and yields one canonical value, so that ``linux/arm64/v8`` and
``linux/arm64`` compare equal and print the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from multiarch_tasks.model.errors import InvalidPlatformError

KNOWN_OS = ("linux", "windows", "freebsd", "darwin")

# arch alias -> (canonical arch, implied variant or "")
_ARCH_ALIASES: dict[str, tuple[str, str]] = {
    "amd64": ("amd64", ""),
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "arm64": ("arm64", ""),
    "aarch64": ("arm64", ""),
    "arm": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "386": ("386", ""),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "s390x": ("s390x", ""),
    "ppc64le": ("ppc64le", ""),
    "ppc64el": ("ppc64le", ""),
    "riscv64": ("riscv64", ""),
    "mips64le": ("mips64le", ""),
    "mips64el": ("mips64le", ""),
    "loong64": ("loong64", ""),
}

_VARIANTS: dict[str, tuple[str, ...]] = {
    "arm": ("v5", "v6", "v7", "v8"),
    "arm64": ("v8", "v9"),
    "amd64": ("v1", "v2", "v3", "v4"),
}

# canonical arch -> QEMU user-mode name (binfmt_misc handler is ``qemu-<name>``)
_QEMU_NAMES: dict[str, str] = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "loong64": "loongarch64",
}

# canonical arch -> the ELF arch name its programs have (checks/elf reads e_machine into
# it): QEMU's names, but for x86-64's hyphen.
ELF_NAMES: dict[str, str] = {**_QEMU_NAMES, "amd64": "x86-64"}

# canonical arch -> what `uname -m` prints inside such a container
_UNAME: dict[str, str] = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "armv7l",
    "386": "i686",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "mips64le": "mips64",
    "loong64": "loongarch64",
}


@dataclass(frozen=True, order=True)
class Platform:
    """An ``os/arch[/variant]`` triple in canonical form."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/arm64``, ``arm64``, ``aarch64``, ``linux/arm/v7``, ``armhf``..."""
        raw = text.strip().lower()
        parts = raw.split("/")
        if not raw or any(not p for p in parts) or len(parts) > 3:  # noqa: PLR2004
            raise _unknown(text)
        if parts[0] in KNOWN_OS:
            os_name, rest = parts[0], parts[1:]
        elif len(parts) <= 2:  # noqa: PLR2004
            os_name, rest = "linux", parts
        else:
            raise _unknown(text)
        if not rest:
            raise _unknown(text)
        arch_alias, variant = rest[0], (rest[1] if len(rest) > 1 else "")
        if arch_alias not in _ARCH_ALIASES:
            raise _unknown(text)
        arch, implied = _ARCH_ALIASES[arch_alias]
        variant = variant or implied
        if variant and variant not in _VARIANTS.get(arch, ()):
            raise InvalidPlatformError(
                f"unknown variant {variant!r} for {arch} in platform {text!r}"
                f" (known: {', '.join(_VARIANTS.get(arch, ())) or 'none'})"
            )
        # arm64 implies v8 and amd64 implies v1: drop them so equal platforms print equal.
        if (arch, variant) in {("arm64", "v8"), ("amd64", "v1")}:
            variant = ""
        return cls(os_name, arch, variant)

    @classmethod
    def from_oci(cls, data: Mapping[str, object]) -> Platform:
        """Build from an OCI descriptor's or config's ``os``/``architecture``/``variant``."""
        os_name = str(data.get("os", ""))
        arch = str(data.get("architecture", ""))
        variant = str(data.get("variant", "") or "")
        if os_name == "unknown" or arch == "unknown":
            return cls(os_name, arch, variant)
        return cls.parse("/".join(p for p in (os_name, arch, variant) if p))

    @classmethod
    def host(cls) -> Platform:
        """The platform of the machine running this code."""
        import platform as _stdlib_platform  # noqa: PLC0415 - 4 ms of regexes at import

        return cls.parse(_stdlib_platform.machine())

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @property
    def tag_suffix(self) -> str:
        """The per-arch tag suffix of the article's Makefile: ``linux-arm-v7``."""
        return str(self).replace("/", "-")

    @property
    def qemu_name(self) -> str:
        """QEMU user-mode name: the binfmt_misc handler is ``qemu-<this>``."""
        return _QEMU_NAMES.get(self.architecture, self.architecture)

    @property
    def elf_name(self) -> str | None:
        """The ELF arch name of this platform's programs (None: not Linux, or unknown)."""
        return ELF_NAMES.get(self.architecture) if self.os == "linux" else None

    @property
    def uname_machine(self) -> str:
        """What ``uname -m`` prints inside a container of this platform."""
        return _UNAME.get(self.architecture, self.architecture)

    @property
    def is_attestation(self) -> bool:
        """BuildKit marks attestation manifests ``unknown/unknown``."""
        return self.os == "unknown" and self.architecture == "unknown"

    def as_oci(self) -> dict[str, str]:
        """Return the ``platform`` object of an OCI descriptor."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


def _unknown(text: str) -> InvalidPlatformError:
    known = ", ".join(str(p) for p in COMMON_PLATFORMS)
    return InvalidPlatformError(f"unknown platform {text!r} (known: {known})")


COMMON_PLATFORMS: tuple[Platform, ...] = (
    Platform("linux", "amd64"),
    Platform("linux", "arm64"),
    Platform("linux", "arm", "v7"),
    Platform("linux", "arm", "v6"),
    Platform("linux", "386"),
    Platform("linux", "s390x"),
    Platform("linux", "ppc64le"),
    Platform("linux", "riscv64"),
    Platform("linux", "mips64le"),
    Platform("linux", "loong64"),
)


def parse_platforms(value: str | Iterable[str]) -> tuple[Platform, ...]:
    """Parse docker's comma form (``linux/amd64,linux/arm64``) or a list; keep order, dedupe."""
    items = (
        value.split(",")
        if isinstance(value, str)
        else [part for item in value for part in str(item).split(",")]
    )
    out: list[Platform] = []
    for item in items:
        if not item.strip():
            continue
        plat = Platform.parse(item)
        if plat not in out:
            out.append(plat)
    return tuple(out)


def compatible(wanted: Platform, offered: Platform) -> bool:
    """Tell whether an image for ``offered`` satisfies a build for ``wanted``.

    As containerd's matcher: same OS and architecture; an ``arm/v7`` build may use
    ``arm/v6`` or ``arm/v5`` images, an ``amd64/v3`` build ``amd64`` (v1) or ``v2``.
    """
    if (wanted.os, wanted.architecture) != (offered.os, offered.architecture):
        return False
    if wanted.variant == offered.variant or not offered.variant:
        return True
    if wanted.architecture in {"arm", "amd64"} and wanted.variant and offered.variant:
        return offered.variant <= wanted.variant
    return False
