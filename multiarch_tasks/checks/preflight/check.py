"""preflight: catch what would fail a multi-arch build minutes in, in a few seconds.

Three checks, all before anything is built or pushed:

1. **Base images x target platforms.** Every image the build pulls (each ``FROM``,
   ``COPY --from=IMAGE``, ``RUN --mount=from=IMAGE`` of the stages the target needs) is
   read through the registry client, at its digest when pinned, and must offer each
   platform its stage runs on: the targets, the build host's platform for
   ``--platform=$BUILDPLATFORM`` stages, or a literal ``--platform``. This is the
   article's trap: a base re-tagged with ``docker pull/tag/push`` keeps one architecture,
   and the emulated build dies with ``no match for platform in manifest``.
2. **The Dockerfile's hazards** (:mod:`multiarch_tasks.checks.lint`): ``ARG TARGETARCH=amd64``,
   a pinned or ``$BUILDPLATFORM`` final stage (an error unless
   ``allow_buildplatform_final``)... Errors fail preflight; warnings are printed.
3. **The build host**: each target platform is native (the host, or a builder node),
   emulated (a binfmt_misc QEMU handler, enabled, flag ``F``) or impossible. Emulation only
   matters when a target-platform stage has a ``RUN``.

The result is a :class:`PreflightReport`; it does not raise for problems it finds (tasks
and ``publish`` look at ``ok``). A missing Dockerfile raises
:class:`~multiarch_tasks.model.errors.DockerfileError`.

Here: the check itself, which runs the three. The base images are read in
:mod:`.base_images`, the host judged in :mod:`.build_host`, the report and its rendering
live in :mod:`.preflight_report` (re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.lint import checker as lint
from multiarch_tasks.checks.preflight import base_images, build_host
from multiarch_tasks.checks.preflight.report import (
    ERROR,
    WARNING,
    BaseCheck,
    HostCheck,
    PreflightReport,
    Problem,
)
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.errors import ToolMissingError
from multiarch_tasks.model.platforms import Platform, compatible
from multiarch_tasks.planning.decide import NATIVE
from multiarch_tasks.registry.bases import quick_client

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.reference import ImageRef
    from multiarch_tasks.planning.decide import Assignment
    from multiarch_tasks.registry.bases import ManifestReader

__all__ = [
    "ERROR",
    "WARNING",
    "BaseCheck",
    "HostCheck",
    "PreflightReport",
    "Problem",
    "preflight",
]


def preflight(
    settings: Settings,
    runner: Runner,
    *,
    client: ManifestReader | None = None,
    native: tuple[Platform, ...] | None = None,
    assignments: tuple[Assignment, ...] | None = None,
) -> PreflightReport:
    """Check the Dockerfile's base images, its final stage and the build host.

    ``client`` defaults to a :class:`~multiarch_tasks.registry.client.RegistryClient` from the
    settings. Where each target builds comes from the plan: ``assignments`` (publish
    passes its own; qemu-setup then registers what is missing), else the facts are
    gathered and assigned here; ``native`` instead judges by those platforms alone.
    """
    parsed = dockerfile.parse_file(settings.dockerfile, settings.build_args)
    path = parsed.path
    targets = settings.platforms
    registers = assignments is not None
    if native is not None:
        host = [build_host.classify(p, native) for p in targets]
    else:
        if assignments is None:
            assignments = _assign(settings, runner)
        host = [build_host.from_assignment(a, registers=registers) for a in assignments]
        native = (Platform.host(),)
        native += tuple(
            a.platform for a in assignments if a.mode == NATIVE and a.platform not in native
        )
    problems: list[Problem] = []

    stages = parsed.reachable(settings.target)
    # A $BUILDPLATFORM stage runs on the node that builds each target: the host for
    # emulated targets, the native node itself for natively built ones.
    build_platforms = [native[0]]
    build_platforms += [
        p for p, (mode, _) in zip(targets, host, strict=True)
        if mode == NATIVE and p not in build_platforms and not compatible(native[0], p)
    ]  # fmt: skip
    uses = base_images.uses(parsed, stages, targets, tuple(build_platforms), problems)

    grouped: dict[ImageRef, list[base_images.Use]] = {}
    for use in uses:
        grouped.setdefault(use.ref, []).append(use)
    reader = client if client is not None else quick_client(settings)
    refs = list(grouped)
    bases = (
        reader.map(lambda ref: base_images.check_base(reader, ref, grouped[ref]), refs)
        if refs
        else []
    )
    for ref, base in zip(refs, bases, strict=True):
        if not base.reachable:
            problems.append(base_images.unreachable_problem(path, base, settings.allow_unreachable))
        elif base.missing:
            problems.append(base_images.missing_problem(path, base, ref))

    problems += _lint_problems(parsed, settings, native[0])
    host_checks, host_problems = build_host.host_checks(parsed, stages, targets, host)
    problems += host_problems

    columns = list(targets)
    columns += [p for b in bases for p in b.required if p not in columns]
    return PreflightReport(
        dockerfile=path,
        platforms=targets,
        native=native,
        bases=tuple(bases),
        host=host_checks,
        problems=tuple(problems),
        columns=tuple(columns),
    )


def _assign(settings: Settings, runner: Runner) -> tuple[Assignment, ...]:
    """Where each target builds, from the facts (the host alone when docker is absent)."""
    from multiarch_tasks.engine import facts  # noqa: PLC0415
    from multiarch_tasks.planning.decide import assign  # noqa: PLC0415

    try:
        found = facts.gather(settings, runner)
    except ToolMissingError:
        found = facts.gather(settings, runner, docker=False)
    return tuple(assign(p, settings, found) for p in settings.platforms)


def _lint_problems(
    parsed: dockerfile.Dockerfile, settings: Settings, host: Platform
) -> list[Problem]:
    """The Dockerfile's hazards (:mod:`.lint`): errors fail, warnings print."""
    found = lint.check(
        parsed,
        settings.platforms,
        target=settings.target,
        build_args=settings.build_args,
        allow_buildplatform_final=settings.allow_buildplatform_final,
        host=host,
    )
    return [
        Problem(
            f.rule,
            f"{f.where}: {f.message}; {f.fix}",
            severity=ERROR if f.severity == lint.ERROR else WARNING,
            line=f.line,
        )
        for f in found.findings
    ]
