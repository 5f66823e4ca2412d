"""lint's rules: one function per hazard, each a parsed Dockerfile in, findings out.

The rules and what they catch are listed in :mod:`.lint`; the words and patterns they
look for (architecture spellings, compilers, cross-compile hints) are the tables at the top.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from multiarch_tasks.checks.lint.findings import (
    ARCH_LITERAL,
    BUILDPLATFORM_FINAL,
    COPY_FROM_BUILDPLATFORM,
    ERROR,
    PINNED_PLATFORM,
    TARGET_ARG_DEFAULT,
    WARNING,
    Finding,
)
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.errors import InvalidPlatformError
from multiarch_tasks.model.platforms import Platform

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
_TARGET_ARGS = ("TARGETARCH", "TARGETOS", "TARGETPLATFORM", "TARGETVARIANT")
# Spellings of an architecture -> the platform architecture they mean.
_ARCH_WORDS: dict[str, str] = {
    "amd64": "amd64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "armv6l": "arm",
    "armv7": "arm",
    "armv7l": "arm",
    "i386": "386",
    "i686": "386",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "ppc64el": "ppc64le",
    "riscv64": "riscv64",
}
_ARCH_LITERAL = re.compile(
    r"(?<![A-Za-z0-9_$])("
    + "|".join(re.escape(w) for w in sorted(_ARCH_WORDS, key=len, reverse=True))
    + r")(?![A-Za-z0-9])"
)
_GOARCH = re.compile(r"\bGOARCH=[\"']?([A-Za-z0-9_]+)")
_TRIPLE_TARGET = re.compile(r"--target[= ]+[\"']?([A-Za-z0-9_]+)-")
# What makes an instruction choose its architecture at build time instead of hard-coding it.
_MAPPING = re.compile(
    r"TARGETARCH|TARGETPLATFORM|TARGETVARIANT|uname\s+-m|dpkg\s+--print-architecture"
    r"|apk\s+--print-arch|\$\(arch\)|`arch`|xx-info|go\s+env\s+GOARCH|rpm\s+--eval"
)
_COMPILE = re.compile(
    r"\b(go\s+build|go\s+install|cargo\s+(build|install)|rustc|gcc|g\+\+|clang(\+\+)?|cc"
    r"|make|cmake|ninja|zig\s+build|meson\s+compile)\b"
)
_CROSS_HINT = re.compile(
    r"TARGETARCH|TARGETPLATFORM|TARGETOS|TARGETVARIANT|GOARCH|--target|\bxx-|CARGO_BUILD_TARGET"
    r"|CROSS_COMPILE|--host[= ]|\bCC="
)


def _arch_of(value: str) -> str:
    word = value.strip().strip("\"'").split("/")
    if len(word) >= 2 and word[0] == "linux":  # noqa: PLR2004 - "linux/amd64"
        return word[1]
    return _ARCH_WORDS.get(word[0], "")


def _platform_value(name: str, platform: Platform) -> str:
    """What BuildKit sets ``name`` to when building ``platform``."""
    return {
        "TARGETOS": platform.os,
        "TARGETARCH": platform.architecture,
        "TARGETPLATFORM": str(platform),
        "TARGETVARIANT": platform.variant,
    }[name]


def _pinned_arg(name: str, value: str, platforms: tuple[Platform, ...]) -> tuple[str, str]:
    """(severity, consequence) of pinning ``name`` to ``value`` for ``platforms``."""
    if platforms and all(_platform_value(name, p) == value for p in platforms):
        # TARGETOS=linux for linux platforms: right today, wrong once a platform is added.
        return WARNING, (
            f"every requested platform has {name}={value} so it does no harm yet, but any"
            " other platform would be built as this one"
        )
    return ERROR, f"so every platform's image is built as if for {value or 'an empty value'}"


def target_arg_defaults(
    parsed: dockerfile.Dockerfile,
    stages: tuple[dockerfile.Stage, ...],
    build_args: Mapping[str, str],
    platforms: tuple[Platform, ...],
) -> list[Finding]:
    """``target-arg-default``: an ARG or build arg that pins TARGETARCH and friends."""
    wanted = {s.index for s in stages} | {-1}
    out: list[Finding] = []
    for step in parsed.steps:
        if step.keyword != "ARG" or step.stage not in wanted:
            continue
        for name, value in dockerfile.arg_assignments(step.args):
            if name not in _TARGET_ARGS or value is None:
                continue
            severity, consequence = _pinned_arg(name, value, platforms)
            out.append(
                Finding(
                    TARGET_ARG_DEFAULT,
                    severity,
                    step.line,
                    f"`ARG {name}={value}` gives {name} a value of its own, which wins over the"
                    f" one BuildKit sets for each platform, {consequence}",
                    f"write `ARG {name}` with no value (BuildKit fills it in per platform)",
                    parsed.path,
                    _arch_of(value),
                )
            )
    for name in _TARGET_ARGS:
        if name in build_args:
            value = build_args[name]
            severity, consequence = _pinned_arg(name, value, platforms)
            out.append(
                Finding(
                    TARGET_ARG_DEFAULT,
                    severity,
                    0,
                    f"build_args sets {name}={value}, which wins over the value BuildKit sets"
                    f" for each platform, {consequence}",
                    f"remove {name} from build_args / --build-arg",
                    parsed.path,
                    _arch_of(value),
                )
            )
    return out


def _literals(text: str, *, output_only: bool) -> list[tuple[str, str]]:
    """(literal as written, its architecture) found in ``text``."""
    found = [(m.group(0), _ARCH_WORDS.get(m.group(1), m.group(1))) for m in _GOARCH.finditer(text)]
    for match in _TRIPLE_TARGET.finditer(text):
        arch = _ARCH_WORDS.get(match.group(1))
        if arch:
            found.append((match.group(0), arch))
    if not output_only:
        for match in _ARCH_LITERAL.finditer(text):
            if not any(match.group(1) in seen for seen, _ in found):
                found.append((match.group(1), _ARCH_WORDS[match.group(1)]))
    return list(dict.fromkeys(found))


def arch_literals(
    parsed: dockerfile.Dockerfile, stages: tuple[dockerfile.Stage, ...]
) -> list[Finding]:
    """``arch-literal``: an architecture written into a RUN, ADD URL or ENV."""
    out: list[Finding] = []
    for stage in stages:
        if stage.platform_mode == dockerfile.FIXED:
            continue  # pinned on purpose; pinned-platform judges whether it ships
        on_build = stage.platform_mode == dockerfile.BUILD
        for step in parsed.steps_of(stage):
            text = _linted_text(step)
            if not text or _MAPPING.search(f"{step.args}\n{step.body}"):
                continue
            literals = _literals(text, output_only=on_build)
            if not literals:
                continue
            shown = ", ".join(f"`{lit}`" for lit, _ in literals)
            arches = sorted({arch for _, arch in literals})
            where = "$BUILDPLATFORM " if on_build else ""
            out.append(
                Finding(
                    ARCH_LITERAL,
                    WARNING,
                    step.line,
                    f"{step.keyword} in {where}{stage.label} hard-codes {shown}: every"
                    f" platform's image gets the {'/'.join(arches)} artefact",
                    "derive it from the platform: `ARG TARGETARCH` and use ${TARGETARCH}"
                    " (map it where names differ, e.g. `case ${TARGETARCH} in amd64)"
                    " A=x86_64;; arm64) A=aarch64;; esac`)",
                    parsed.path,
                    arches[0] if len(arches) == 1 else "",
                )
            )
    return out


def _linted_text(step: dockerfile.Step) -> str:
    if step.keyword == "RUN":
        return f"{step.expanded}\n{step.body}"
    if step.keyword == "ENV":
        return step.expanded
    if step.keyword == "ADD":
        return " ".join(w for w in step.expanded.split() if "://" in w)
    return ""


def pinned_platform(
    parsed: dockerfile.Dockerfile, final: dockerfile.Stage, platforms: tuple[Platform, ...]
) -> list[Finding]:
    """``pinned-platform``: the final stage (or its origin) pinned to one platform."""
    for stage in parsed.origin(final):
        if not stage.platform_flag:
            continue  # inherits its platform from the stage it is built FROM
        if stage.platform_mode != dockerfile.FIXED:
            return []
        try:
            pinned = Platform.parse(stage.platform)
        except InvalidPlatformError:
            return []  # preflight reports the unreadable platform with the base images
        others = [p for p in platforms if p != pinned]
        if not others:
            return []
        via = "" if stage is final else f" (the final {final.label} is built FROM it)"
        names = ", ".join(str(p) for p in others)
        return [
            Finding(
                PINNED_PLATFORM,
                ERROR,
                stage.line,
                f"{stage.label} is pinned with --platform={stage.platform}{via}, so the"
                f" {names} image(s) would hold {pinned} programs (exec format error there)",
                "remove --platform from this FROM (or write --platform=$TARGETPLATFORM)",
                parsed.path,
                pinned.architecture,
            )
        ]
    return []


def buildplatform_final(
    parsed: dockerfile.Dockerfile, final: dockerfile.Stage, host: Platform, *, allow: bool
) -> list[Finding]:
    """``buildplatform-final``: the final stage runs on ``$BUILDPLATFORM``."""
    origin = parsed.build_platform_ancestor(final)
    if origin is None:
        return []
    via = "" if origin is final else f" (it builds on {origin.label}, line {origin.line})"
    message = (
        f"the final {final.label} runs on the build host's platform ($BUILDPLATFORM){via},"
        f" so every platform would ship {host} binaries (exec format error on the others)"
    )
    fix = (
        "build the final stage FROM a target-platform base (no --platform, or"
        " --platform=$TARGETPLATFORM) and COPY the cross-compiled files into it"
    )
    if allow:
        message += " (allowed by allow_buildplatform_final)"
        return [
            Finding(BUILDPLATFORM_FINAL, WARNING, final.line, message, fix, parsed.path,
                    host.architecture)
        ]  # fmt: skip
    fix += ", or set allow_buildplatform_final if that is really meant"
    return [
        Finding(BUILDPLATFORM_FINAL, ERROR, final.line, message, fix, parsed.path,
                host.architecture)
    ]  # fmt: skip


def _copy_sources(step: dockerfile.Step) -> list[str]:
    return [w.split("=", 1)[1] for w in step.expanded.split() if w.lower().startswith("--from=")]


def _stage_text(parsed: dockerfile.Dockerfile, stages: Iterable[dockerfile.Stage]) -> str:
    return "\n".join(
        f"{s.args}\n{s.expanded}\n{s.body}" for stage in stages for s in parsed.steps_of(stage)
    )


def copy_from_buildplatform(
    parsed: dockerfile.Dockerfile,
    stages: tuple[dockerfile.Stage, ...],
    host: Platform,
    platforms: tuple[Platform, ...],
) -> list[Finding]:
    """``copy-from-buildplatform``: compiled for the build host, copied to all."""
    out: list[Finding] = []
    for stage in stages:
        if stage.platform_mode != dockerfile.TARGET:
            continue
        for step in parsed.steps_of(stage):
            if step.keyword != "COPY":
                continue
            for source in _copy_sources(step):
                found = parsed.stage_named(source)
                if found is None:
                    continue
                finding = _copy_finding(parsed, stage, step, found, host, platforms)
                if finding is not None:
                    out.append(finding)
    return out


def _copy_finding(
    parsed: dockerfile.Dockerfile,
    stage: dockerfile.Stage,
    step: dockerfile.Step,
    source: dockerfile.Stage,
    host: Platform,
    platforms: tuple[Platform, ...],
) -> Finding | None:
    runs_on = ""
    arch = ""
    if parsed.build_platform_ancestor(source) is not None:
        runs_on = f"the build host's platform ($BUILDPLATFORM, here {host})"
        arch = host.architecture
    elif source.platform_mode == dockerfile.FIXED:
        try:
            pinned = Platform.parse(source.platform)
        except InvalidPlatformError:
            return None
        if all(p == pinned for p in platforms):
            return None
        runs_on, arch = f"{pinned} (--platform={source.platform})", pinned.architecture
    if not runs_on:
        return None
    text = _stage_text(parsed, parsed.origin(source))
    if not _COMPILE.search(text) or _CROSS_HINT.search(text):
        return None
    return Finding(
        COPY_FROM_BUILDPLATFORM,
        WARNING,
        step.line,
        f"COPY --from={source.name or source.index} in {stage.label} copies what"
        f" {source.label} (line {source.line}) compiles on {runs_on} with no cross-compile"
        f" setting, so every platform's image would get {arch} programs",
        f"in {source.label} add `ARG TARGETOS TARGETARCH` and compile for them"
        " (Go: GOOS=$TARGETOS GOARCH=$TARGETARCH; Rust/clang: --target; or tonistiigi/xx),"
        " or drop --platform=$BUILDPLATFORM so it runs per platform under emulation",
        parsed.path,
        arch,
    )
