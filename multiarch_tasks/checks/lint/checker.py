"""lint: the Dockerfile hazards that build fine and ship the wrong architecture.

Every platform's build succeeds, verify's index and config checks pass, and yet the arm64
image holds amd64 programs. Each rule below is a way that happens; each finding says the
line, why it breaks the other platforms, and the fix:

- ``target-arg-default`` (error): ``ARG TARGETARCH=amd64`` (or ``TARGETOS``,
  ``TARGETPLATFORM``, ``TARGETVARIANT``) gives the ARG a value of its own, which wins over
  the one BuildKit injects per platform; so does ``--build-arg TARGETARCH=...``.
- ``arch-literal`` (warning): ``amd64``, ``x86_64``, ``aarch64``, ``arm64``, ``GOARCH=...``
  written into a ``RUN``, an ``ADD`` URL or an ``ENV`` of a target-platform stage, with no
  ``$TARGETARCH``-style mapping (``uname -m``, ``dpkg --print-architecture``...) in it. In
  a ``$BUILDPLATFORM`` stage only literals that pick the output (``GOARCH=``, ``--target``)
  count: downloads there are for the build host.
- ``pinned-platform`` (error): the final stage (or a stage it is built ``FROM``) has
  ``--platform=linux/amd64`` while other platforms are requested.
- ``buildplatform-final`` (error, a warning with ``allow_buildplatform_final``): the final
  stage runs on ``$BUILDPLATFORM``.
- ``copy-from-buildplatform`` (warning): ``COPY --from=STAGE`` where STAGE runs on
  ``$BUILDPLATFORM`` (or a pinned platform), compiles something, and shows no
  cross-compile setting (``TARGETARCH``, ``GOARCH``, ``--target``, tonistiigi/xx...).

Pure: a parsed :class:`~multiarch_tasks.model.dockerfile.Dockerfile` in, a :class:`LintResult`
out. ``verify --deep`` takes the findings and says which one its ELF scan confirmed.

Here: :func:`lint` and :func:`check`, which run the rules (:mod:`.lint_rules`), and
:func:`confirmed_by`; the findings and the result are in :mod:`.lint_findings`
(re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.elf.header import EXPECTED_ELF, expected_arch
from multiarch_tasks.checks.lint import rules as lint_rules
from multiarch_tasks.checks.lint.findings import (
    ARCH_LITERAL,
    ARCH_RULES,
    BUILDPLATFORM_FINAL,
    COPY_FROM_BUILDPLATFORM,
    ERROR,
    PINNED_PLATFORM,
    TARGET_ARG_DEFAULT,
    WARNING,
    Finding,
    LintResult,
)
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.platforms import Platform

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from multiarch_tasks.checks.elf.layers import ScanResult
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner

__all__ = [
    "ARCH_LITERAL",
    "ARCH_RULES",
    "BUILDPLATFORM_FINAL",
    "COPY_FROM_BUILDPLATFORM",
    "ERROR",
    "PINNED_PLATFORM",
    "TARGET_ARG_DEFAULT",
    "WARNING",
    "Finding",
    "LintResult",
    "check",
    "confirmed_by",
    "lint",
]


def lint(settings: Settings, runner: Runner | None = None) -> LintResult:  # noqa: ARG001
    """Read ``settings.dockerfile`` and report its multi-arch hazards.

    ``runner`` is unused (lint starts no process); it is taken so every step has the
    same signature.
    """
    parsed = dockerfile.parse_file(settings.dockerfile, settings.build_args)
    return check(
        parsed,
        settings.platforms,
        target=settings.target,
        build_args=settings.build_args,
        allow_buildplatform_final=settings.allow_buildplatform_final,
    )


def check(
    parsed: dockerfile.Dockerfile,
    platforms: tuple[Platform, ...],
    *,
    target: str = "",
    build_args: Mapping[str, str] | None = None,
    allow_buildplatform_final: bool = False,
    host: Platform | None = None,
) -> LintResult:
    """Run every rule over ``parsed`` for a build of ``target`` for ``platforms``.

    ``host`` is the build host's platform (named in messages; this machine by default).
    """
    host = host or Platform.host()
    stages = parsed.reachable(target)
    final = parsed.stage_named(target) if target else parsed.final
    final = final or parsed.final
    findings: list[Finding] = []
    findings += lint_rules.target_arg_defaults(parsed, stages, build_args or {}, platforms)
    findings += lint_rules.arch_literals(parsed, stages)
    findings += lint_rules.pinned_platform(parsed, final, platforms)
    findings += lint_rules.buildplatform_final(parsed, final, host, allow=allow_buildplatform_final)
    findings += lint_rules.copy_from_buildplatform(parsed, stages, host, platforms)
    findings.sort(key=lambda f: (f.line, f.rule))
    return LintResult(parsed.path, platforms, tuple(findings))


# --- after the build: what verify --deep made of the findings ----------------------------


def confirmed_by(
    findings: Iterable[Finding], scans: Mapping[Platform, ScanResult]
) -> tuple[str, ...]:
    """Say which finding the ELF scan confirmed (foreign programs of its arch) or cleared.

    ``scans`` are verify --deep's per-platform results; one line per architecture-related
    finding: ``Dockerfile:2 [target-arg-default] confirmed by --deep: linux/arm64: ...``.
    """
    out = []
    for finding in findings:
        if finding.rule not in ARCH_RULES:
            continue
        wanted = EXPECTED_ELF.get(finding.arch) if finding.arch else None
        hits = []
        for plat, scan in scans.items():
            foreign = [
                f"{path} is {header.arch}"
                for path, header in sorted(scan.programs.items())
                if header.arch != expected_arch(plat) and (wanted is None or header.arch == wanted)
            ]
            if foreign:
                hits.append(f"{plat}: {foreign[0]}")
        verdict = (
            "confirmed by --deep: " + "; ".join(hits)
            if hits
            else "not confirmed: --deep found every platform's programs built for it"
        )
        out.append(f"{finding.where} [{finding.rule}] {verdict}")
    return tuple(out)
