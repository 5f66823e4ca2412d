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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from multiarch_tasks.checks import lint
from multiarch_tasks.engine import binfmt
from multiarch_tasks.model import dockerfile
from multiarch_tasks.model.errors import (
    InvalidPlatformError,
    InvalidReferenceError,
    RateLimitedError,
    RegistryError,
    ToolMissingError,
)
from multiarch_tasks.model.platforms import Platform, compatible
from multiarch_tasks.model.reference import DOCKER_HUB, ImageRef
from multiarch_tasks.planning.decide import EMULATED, IMPOSSIBLE, NATIVE, Assignment
from multiarch_tasks.registry.bases import ManifestReader, quick_client, read_platforms

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner

T = TypeVar("T")
R = TypeVar("R")

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, where, and the command that fixes it."""

    kind: str
    message: str
    severity: str = ERROR
    line: int = 0
    ref: str = ""
    platforms: tuple[str, ...] = ()
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the problem as JSON."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "ref": self.ref,
            "platforms": list(self.platforms),
            "fix": self.fix,
        }


@dataclass(frozen=True)
class BaseCheck:
    """One row of the matrix: an image, where it is used, what it has, what is needed."""

    ref: str
    lines: tuple[int, ...]
    required: tuple[Platform, ...]
    available: tuple[Platform, ...] = ()
    digest: str = ""
    error: str = ""

    @property
    def reachable(self) -> bool:
        """True when the image's manifest could be read."""
        return not self.error

    def has(self, platform: Platform) -> bool:
        """Tell whether the image offers ``platform`` (or one containerd accepts for it)."""
        return any(compatible(platform, p) for p in self.available)

    @property
    def missing(self) -> tuple[Platform, ...]:
        """Required platforms the image lacks (empty when it could not be read)."""
        if not self.reachable:
            return ()
        return tuple(p for p in self.required if not self.has(p))


@dataclass(frozen=True)
class HostCheck:
    """How the build host would run one platform."""

    platform: Platform
    mode: str
    detail: str = ""
    needs_run: bool = True


@dataclass(frozen=True)
class PreflightReport:
    """What preflight found; ``ok`` is False when any problem is an error."""

    dockerfile: str
    platforms: tuple[Platform, ...]
    native: tuple[Platform, ...]
    bases: tuple[BaseCheck, ...] = ()
    host: tuple[HostCheck, ...] = ()
    problems: tuple[Problem, ...] = ()
    columns: tuple[Platform, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings allowed)."""
        return not any(p.severity == ERROR for p in self.problems)

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that fail the check."""
        return tuple(p for p in self.problems if p.severity == ERROR)

    def cell(self, base: BaseCheck, platform: Platform) -> str:
        """One matrix cell: ``ok``, ``MISSING``, ``?`` (unreadable) or ``-`` (not needed)."""
        needed = platform in base.required
        if not base.reachable:
            return "?" if needed else "-"
        if base.has(platform):
            return "ok" if needed else "(ok)"
        return "MISSING" if needed else "-"

    def render(self) -> str:
        """Show the matrix (base image x platform), the build host, then the problems."""
        targets = ", ".join(str(p) for p in self.platforms)
        host = ", ".join(str(p) for p in self.native) or "unknown"
        lines = [f"preflight: {self.dockerfile} for {targets} (native: {host})"]
        if self.bases:
            header = ["base image", "line", *(str(p) for p in self.columns)]
            rows = [
                [b.ref, ",".join(str(n) for n in b.lines), *(self.cell(b, p) for p in self.columns)]
                for b in self.bases
            ]
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
            lines += [
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                for row in [header, *rows]
            ]
        else:
            lines.append("no base images to check (scratch or stages only)")
        if self.host:
            lines.append("build host: " + "; ".join(_host_text(h) for h in self.host))
        lines += [f"{p.severity}: {p.message}" for p in self.problems]
        errors = len(self.errors)
        lines.append("preflight: ok" if self.ok else f"preflight: FAILED ({errors} problem(s))")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON (``--json``)."""
        return {
            "ok": self.ok,
            "dockerfile": self.dockerfile,
            "platforms": [str(p) for p in self.platforms],
            "native": [str(p) for p in self.native],
            "bases": [
                {
                    "ref": b.ref,
                    "lines": list(b.lines),
                    "digest": b.digest,
                    "reachable": b.reachable,
                    "error": b.error,
                    "available": [str(p) for p in b.available],
                    "platforms": {str(p): self.cell(b, p) for p in self.columns},
                }
                for b in self.bases
            ],
            "host": [
                {"platform": str(h.platform), "mode": h.mode, "detail": h.detail,
                 "needed": h.needs_run}
                for h in self.host
            ],
            "problems": [p.to_json() for p in self.problems],
        }  # fmt: skip


def _host_text(check: HostCheck) -> str:
    text = f"{check.platform} {check.mode}"
    if check.detail:
        text += f" ({check.detail})"
    if not check.needs_run and check.mode != NATIVE:
        text += " [no RUN: not needed]"
    return text


# --- what the Dockerfile needs -------------------------------------------------------


@dataclass(frozen=True)
class _Use:
    ref: ImageRef
    line: int
    platforms: tuple[Platform, ...]


def _stage_platforms(
    stage: dockerfile.Stage,
    targets: tuple[Platform, ...],
    build_platforms: tuple[Platform, ...],
    path: str,
    problems: list[Problem],
) -> tuple[Platform, ...]:
    if stage.platform_mode == dockerfile.BUILD:
        return build_platforms
    if stage.platform_mode == dockerfile.FIXED:
        try:
            return (Platform.parse(stage.platform),)
        except InvalidPlatformError as err:
            problems.append(Problem("dockerfile", f"{path}:{stage.line}: {err}", line=stage.line))
            return ()
    return targets


def _uses(
    parsed: dockerfile.Dockerfile,
    stages: tuple[dockerfile.Stage, ...],
    targets: tuple[Platform, ...],
    build_platforms: tuple[Platform, ...],
    problems: list[Problem],
) -> list[_Use]:
    """Every image the build pulls, with its line and the platforms it must offer."""
    path = parsed.path
    wanted: dict[int, tuple[Platform, ...]] = {
        s.index: _stage_platforms(s, targets, build_platforms, path, problems) for s in stages
    }
    raw: list[tuple[str, int, int, tuple[str, ...]]] = [
        (s.image, s.line, s.index, s.unresolved) for s in stages if s.image is not None
    ]
    raw += [(u.image, u.line, u.stage, u.unresolved) for u in parsed.uses if u.stage in wanted]
    out: list[_Use] = []
    for text, line, stage_index, unresolved in sorted(raw, key=lambda r: r[1]):
        try:
            ref = ImageRef.parse(text)
        except InvalidReferenceError as err:
            hint = ""
            if unresolved:
                names = ", ".join(unresolved)
                hint = f"; ARG {names} has no value: pass --build-arg {unresolved[0]}=..."
            problems.append(Problem("dockerfile", f"{path}:{line}: {err}{hint}", line=line))
            continue
        out.append(_Use(ref, line, wanted[stage_index]))
    return out


# --- reading the registry -------------------------------------------------------------


def _check_base(client: ManifestReader, ref: ImageRef, uses: list[_Use]) -> BaseCheck:
    required: list[Platform] = []
    for use in uses:
        required += [p for p in use.platforms if p not in required]
    lines = tuple(sorted({u.line for u in uses}))
    try:
        digest, available = read_platforms(client, ref)
    except RegistryError as err:
        return BaseCheck(str(ref), lines, tuple(required), error=_registry_error_text(err))
    return BaseCheck(str(ref), lines, tuple(required), available, digest)


def _registry_error_text(err: RegistryError) -> str:
    text = str(err)
    if isinstance(err, RateLimitedError) and "mirror" not in text:
        text += "; copy the image to your own registry with `multiarch mirror SRC DEST`"
    return text


def _upstream_guess(ref: ImageRef) -> str:
    """Where a mirrored image most likely came from (Docker Hub's official image)."""
    name = ref.repository.rsplit("/", 1)[-1]
    return f"{DOCKER_HUB}/library/{name}:{ref.tag or 'latest'}"


def _missing_problem(path: str, base: BaseCheck, ref: ImageRef) -> Problem:
    missing = ", ".join(str(p) for p in base.missing)
    has = ", ".join(str(p) for p in base.available) or "none"
    where = ", ".join(f"{path}:{n}" for n in base.lines)
    message = f"{where}: base image {base.ref} lacks {missing} (it has {has}); "
    if ref.registry == DOCKER_HUB:
        fix = ""
        message += f"pick a tag that has {missing}, or drop it from --platforms"
    else:
        dest = (
            ref.with_tag(ref.tag) if ref.tag else ImageRef(ref.registry, ref.repository, "latest")
        )
        fix = f"multiarch mirror {_upstream_guess(ref)} {dest}"
        message += (
            f"if it is a copy made with docker pull/tag/push (which keeps one platform),"
            f" re-mirror it with all platforms from its source: `{fix}`"
            f" (use the real source if it is not that one)"
        )
        if ref.digest:
            message += ", then pin the new digest"
        message += f", or drop {missing} from --platforms"
    return Problem(
        "missing-platform",
        message,
        line=base.lines[0] if base.lines else 0,
        ref=base.ref,
        platforms=tuple(str(p) for p in base.missing),
        fix=fix,
    )


def _unreachable_problem(path: str, base: BaseCheck, allow: bool) -> Problem:
    where = ", ".join(f"{path}:{n}" for n in base.lines)
    message = f"{where}: cannot read base image {base.ref}: {base.error}"
    if allow:
        message += " (not checked: allow_unreachable is set)"
    else:
        message += "; fix access, or pass --allow-unreachable to check the rest only"
    return Problem(
        "unreachable",
        message,
        severity=WARNING if allow else ERROR,
        line=base.lines[0] if base.lines else 0,
        ref=base.ref,
    )


# --- the build host -------------------------------------------------------------------


def _handler_state(platform: Platform) -> str:
    name = f"qemu-{platform.qemu_name}"
    handler = binfmt.handler_for(platform)
    if handler is None:
        state = "not registered" if binfmt.is_mounted() else "binfmt_misc is not mounted"
    elif not handler.enabled:
        state = "disabled"
    else:
        state = f"registered without the F flag (flags: {handler.flags or 'none'})"
    return f"{name} {state}"


def _classify(platform: Platform, native: tuple[Platform, ...]) -> tuple[str, str]:
    """(mode, detail) on this machine alone: native, or the host's binfmt handler."""
    if not binfmt.needs_emulation(platform, native):
        return NATIVE, ""
    handler = binfmt.handler_for(platform)
    if handler is not None and handler.usable:
        return EMULATED, handler.name
    return IMPOSSIBLE, _handler_state(platform)


def _from_assignment(a: Assignment, *, registers: bool) -> tuple[str, str]:
    """(mode, detail) from the plan's decision; ``registers``: qemu-setup runs first."""
    if a.mode == NATIVE:
        return NATIVE, a.node
    if a.mode == EMULATED and a.register and not registers:
        return IMPOSSIBLE, _handler_state(a.platform)
    if a.mode == EMULATED:
        return EMULATED, a.render().removeprefix("emulated on ")
    return IMPOSSIBLE, a.why


# --- the check ------------------------------------------------------------------------


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
        host = [_classify(p, native) for p in targets]
    else:
        if assignments is None:
            assignments = _assign(settings, runner)
        host = [_from_assignment(a, registers=registers) for a in assignments]
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
    uses = _uses(parsed, stages, targets, tuple(build_platforms), problems)

    grouped: dict[ImageRef, list[_Use]] = {}
    for use in uses:
        grouped.setdefault(use.ref, []).append(use)
    reader = client if client is not None else quick_client(settings)
    refs = list(grouped)
    bases = reader.map(lambda ref: _check_base(reader, ref, grouped[ref]), refs) if refs else []
    for ref, base in zip(refs, bases, strict=True):
        if not base.reachable:
            problems.append(_unreachable_problem(path, base, settings.allow_unreachable))
        elif base.missing:
            problems.append(_missing_problem(path, base, ref))

    problems += _lint_problems(parsed, settings, native[0])
    host_checks, host_problems = _host_checks(parsed, stages, targets, host)
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


def _host_checks(
    parsed: dockerfile.Dockerfile,
    stages: tuple[dockerfile.Stage, ...],
    targets: tuple[Platform, ...],
    classified: list[tuple[str, str]],
) -> tuple[tuple[HostCheck, ...], list[Problem]]:
    target_runs = any(s.runs and s.platform_mode == dockerfile.TARGET for s in stages)
    checks: list[HostCheck] = []
    problems: list[Problem] = []
    for platform, (mode, detail) in zip(targets, classified, strict=True):
        checks.append(HostCheck(platform, mode, detail, target_runs))
        if mode == IMPOSSIBLE and target_runs:
            emulator = f"qemu-{platform.qemu_name}"
            fix = f"multiarch qemu-setup --platforms {platform}"
            problems.append(
                Problem(
                    "emulator",
                    f"{parsed.path}: {platform} is not native here and would be emulated by"
                    f" QEMU, but {detail} in {binfmt.BINFMT_DIR}, so its RUN steps cannot"
                    f" run; fix: `{fix}` (registers {emulator} with flag F), or append a"
                    f" native {platform} node to the builder",
                    platforms=(str(platform),),
                    fix=fix,
                )
            )
    for stage in stages:
        if stage.runs and stage.platform_mode == dockerfile.FIXED:
            problems += _fixed_stage_problem(parsed.path, stage, targets, classified)
    return tuple(checks), problems


def _fixed_stage_problem(
    path: str,
    stage: dockerfile.Stage,
    targets: tuple[Platform, ...],
    classified: list[tuple[str, str]],
) -> list[Problem]:
    try:
        platform = Platform.parse(stage.platform)
    except InvalidPlatformError:
        return []  # reported with the base images
    known = dict(zip(targets, classified, strict=True))
    mode, detail = known.get(platform) or _classify(platform, (Platform.host(),))
    if mode != IMPOSSIBLE:
        return []
    fix = f"multiarch qemu-setup --platforms {platform}"
    return [
        Problem(
            "emulator",
            f"{path}:{stage.line}: {stage.label} runs on {platform}, which needs QEMU, but"
            f" {detail}; fix: `{fix}`",
            line=stage.line,
            platforms=(str(platform),),
            fix=fix,
        )
    ]
