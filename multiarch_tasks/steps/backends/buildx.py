"""The buildx backend: run the plan's ``docker buildx build`` steps.

Per-arch builds run concurrently, each output line prefixed with its platform. A push that
failed on a transient registry error (5xx, 429, a reset connection) is retried by running
the same, now cached, build again; build errors and 401/403 are not retried. The decision
reads the whole log of the failed attempt, not its last lines (see :func:`transient_cause`).
Each
push's digest comes from buildx's ``--metadata-file``, which is checked: the pushed digest
must be this build's own export (``containerimage.descriptor.digest``).
"""

from __future__ import annotations

import itertools
import re
import time

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.facts import read_metadata
from multiarch_tasks.engine.progress import Event
from multiarch_tasks.engine.runner import Result, Runner, redact
from multiarch_tasks.model.digests import make_output_dir
from multiarch_tasks.model.errors import (
    BuildFailedError,
    CommandError,
    MultiarchError,
    RegistryError,
)
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.plan.make import BuildStep, Plan
from multiarch_tasks.steps.backends.base import BuildOutcome, PlatformBuild

LOG_TAIL = 15
# dockerd's error when, after its push of a multi-platform image, it reads the index back
# and the registry saw only one of its Accept headers (a proxy that keeps one): the push
# itself went through (issue 17).
_READ_BACK = re.compile(r"accept header does not support OCI indexes", re.IGNORECASE)
# What buildx prints when a registry failed for a moment, not because the build is wrong.
_TRANSIENT = re.compile(
    r"unexpected status[^\n]*: (?:5\d\d|429)\b|\b(?:500 Internal Server Error|502 Bad Gateway"
    r"|503 Service Unavailable|504 Gateway Timeout|429 Too Many Requests)\b|toomanyrequests"
    r"|connection reset by peer|broken pipe|i/o timeout|unexpected EOF|TLS handshake timeout",
    re.IGNORECASE,
)


# The failed step was a push (BuildKit's, or dockerd's own after a multi-platform build).
_PUSH_FAILED = re.compile(
    r"Error response from daemon|failed to push|failed commit on ref|unexpected status from"
    r"|manifest unknown|blob unknown|pushing",
    re.IGNORECASE,
)
# The registry refused who we are: another attempt gets the same answer...
# ... or the build itself failed (a RUN step's exit code), whatever came before.
_REFUSED = re.compile(
    r"\b(?:401|403)\b|unauthorized|forbidden|denied|did not complete successfully",
    re.IGNORECASE,
)


def _final_error(lines: list[str]) -> str:
    for line in reversed(lines):
        if line.strip().startswith("ERROR"):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def transient_cause(result: Result) -> str:
    """The registry fault a failed build's push met, or "" when the failure is not one.

    The whole log counts (and the lines the runner kept from beyond its tail), not the
    last lines: after a multi-platform build on the docker driver, dockerd's own push can
    fail after a registry 5xx that BuildKit reported much earlier, and end on another
    error (issue 17: ``manifest unknown: OCI index found, but accept header does not
    support OCI indexes``). So: the final error names a fault itself, or it is a push
    error (not a build error, not 401/403) and a fault appears anywhere before it.
    """
    lines = [*result.kept, *(result.stderr or result.stdout).splitlines()]
    final = _final_error(lines)
    if _TRANSIENT.search(final):
        return final
    if _REFUSED.search(final) or not _PUSH_FAILED.search(final):
        return ""
    faults = [line.strip() for line in lines if _TRANSIENT.search(line)]
    return f"{faults[-1]} (then {final})" if faults else ""


def transient(result: Result) -> bool:
    """True when a failed build's push met a passing registry fault (:func:`transient_cause`)."""
    return bool(transient_cause(result))


def registry_fault(line: str) -> bool:
    """True for a log line naming a passing registry fault: the runner keeps these."""
    return bool(_TRANSIENT.search(line))


_FAILED_STEP = re.compile(r"^\s*> \[(?P<platform>[a-z0-9]+/[a-z0-9]+(?:/v\d+)?)[ \]]", re.MULTILINE)
# A vertex's first line names its platform (`#8 [linux/arm64 2/3] RUN ...`); its failure
# names only the vertex (`#8 ERROR: process ... did not complete successfully`).
_VERTEX_HEAD = re.compile(r"^#(?P<n>\d+) \[(?P<platform>[a-z0-9]+/[a-z0-9]+(?:/v\d+)?)[ \]]")
_VERTEX_ERROR = re.compile(r"^#(?P<n>\d+) ERROR\b")


def step_line(line: str) -> bool:
    """True for the lines that say which platform failed: the runner keeps them all."""
    return bool(_VERTEX_HEAD.match(line) or _VERTEX_ERROR.match(line) or _FAILED_STEP.match(line))


def failed_platforms(step: BuildStep, log_tail: str) -> list[str]:
    """Which of a step's platforms failed.

    BuildKit prints ``> [linux/s390x 2/2] RUN ...`` for the failing step of a
    multi-platform build, and ``#N ERROR`` for the vertex ``#N [linux/s390x 2/2]`` named;
    the summary falls out of a short tail when the failed command printed much, so the
    vertex lines (kept from the whole log) count too. A one-platform step is that platform.
    """
    if len(step.platforms) == 1:
        return [step.label]
    named = [str(p) for p in step.platforms]
    found = {m.group("platform") for m in _FAILED_STEP.finditer(log_tail)}
    vertex: dict[str, str] = {}
    for line in log_tail.splitlines():
        if head := _VERTEX_HEAD.match(line):
            vertex[head.group("n")] = head.group("platform")
        elif (error := _VERTEX_ERROR.match(line)) and error.group("n") in vertex:
            found.add(vertex[error.group("n")])
    return [p for p in named if p in found] or [step.label]


def _last_error_line(tail: str) -> str:
    for line in reversed(tail.splitlines()):
        text = line.strip()
        if text.startswith("ERROR:") or "error" in text.lower():
            return text
    return tail.strip().splitlines()[-1] if tail.strip() else ""


def _raise_failures(builds: tuple[PlatformBuild, ...], runner: Runner) -> None:
    failed = {
        name: b.error
        for b in builds
        if not b.ok
        for name in (b.failed or failed_platforms(b.step, b.log_tail))
    }
    if not failed:
        return
    for b in builds:
        if not b.ok:
            names = ", ".join(b.failed) or b.step.label
            where = f" (full log: {b.log})" if b.log else ""
            block = [f"--- {names} FAILED; last lines of its log{where}:"]
            block += [f"    {line}" for line in b.log_tail.splitlines()]
            # A live view shows these under the failed platform's row instead.
            text = runner.redact("\n".join(block))
            runner.emit(Event(runner.step or "build", "failure", ",".join(b.failed), text))
    raise BuildFailedError(failed, tuple(b.log for b in builds if not b.ok and b.log))


def _failed(step: BuildStep, result: Result, runner: Runner, log: str) -> PlatformBuild:
    """A failed build step: its last lines, the platforms its log names, its log file."""
    whole = (result.stderr or result.stdout).splitlines()
    tail = runner.redact("\n".join(whole[-LOG_TAIL:]))
    err = CommandError(
        redact(result.argv, runner.secrets),
        None if result.returncode < 0 else result.returncode,
        tail,
        label=f"build {step.label}",
    )
    named = failed_platforms(step, "\n".join([*result.kept, *whole]))
    return PlatformBuild(
        step,
        error=_last_error_line(tail) or str(err),
        log_tail=tail,
        failed=tuple(p for p in named if p in {str(x) for x in step.platforms}),
        log=log,
    )


def _run_step(
    step: BuildStep, settings: Settings, runner: Runner, how: dict[str, str]
) -> PlatformBuild:
    """Run one build step, its platforms' start and end said as events."""
    platforms = [str(p) for p in step.platforms]
    # One file for a one-platform build; a multi-platform build's whole log, plus one
    # per platform of the lines naming it (the runner writes those).
    log = f"build {step.label}" if len(platforms) == 1 else "buildx-build"
    began = time.monotonic()

    def note(platform: str, state: str, detail: str = "") -> None:
        if not runner.dry:
            elapsed = None if state == "start" else time.monotonic() - began
            runner.emit(Event(runner.step or "build", state, platform, detail, elapsed))

    for p in platforms:
        note(p, "start", how.get(p, ""))
    result = runner.run(
        step.argv,
        env=step.env,
        stream_prefix=step.label,
        timeout=settings.timeout or None,
        label=f"build {step.label}",
        retries=settings.retries,
        retry_if=transient_cause,
        keep=lambda line: registry_fault(line) or step_line(line),
        check=False,
        log=log,
        buildkit_json=_rawjson(step.argv),
    )
    if not result.ok:
        failed = _failed(step, result, runner, runner.log_path(log))
        landed = pushed_despite(step, failed.error, settings, runner)
        if landed:
            for p in platforms:
                note(p, "done")
            return PlatformBuild(step, digest=landed)
        for p in platforms:
            # In a multi-platform build the others stopped with it; unnamed: all failed.
            state = "failed" if p in failed.failed or not failed.failed else "stopped"
            own = runner.log_path(f"build {p}") if len(platforms) > 1 else failed.log
            note(p, state, own if state == "failed" else "")
        return failed
    for p in platforms:
        note(p, "done")
    return _built(step, settings, runner)


def _built(step: BuildStep, settings: Settings, runner: Runner) -> PlatformBuild:
    """A build step that succeeded: what it pushed, checked against what it exported."""
    if runner.dry or not (settings.push or step.layout):
        return PlatformBuild(step)
    meta = read_metadata(step.metadata_file)
    if not meta.consistent:
        raise MultiarchError(
            f"build {step.label}: buildx pushed {meta.digest} but this build exported"
            f" {meta.descriptor_digest}: another build retagged {', '.join(step.tags)}"
            " between export and push; run again"
        )
    return PlatformBuild(step, digest=meta.digest)


def _rawjson(argv: tuple[str, ...]) -> bool:
    """True when the build prints BuildKit's JSON events (``--progress rawjson``)."""
    return ("--progress", "rawjson") in itertools.pairwise(argv)


def pushed_despite(step: BuildStep, error: str, settings: Settings, runner: Runner) -> str:
    """The index digest a failed multi-platform push left under its tag, or "".

    Only for dockerd's read-back error (:data:`_READ_BACK`), and only when the registry's
    tag holds the image the engine built (its id is the index digest on the containerd
    store): then the push landed, and verify, not this error, decides what happens next.
    """
    if not (_READ_BACK.search(error) and settings.push and len(step.tags) == 1):
        return ""
    from multiarch_tasks.model.reference import ImageRef  # noqa: PLC0415
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415 - HTTP, lazily

    tag = step.tags[0]
    local = runner.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], probe=True, check=False
    )
    built = local.stdout.strip()
    if not (local.ok and built.startswith("sha256:")):
        return ""
    try:
        found = RegistryClient.from_settings(settings, runner.say).head_manifest(
            ImageRef.parse(tag)
        )
    except RegistryError:
        return ""  # the build's own error says more than this one would
    if found is None or found.digest != built:
        return ""
    runner.say(
        f"build {step.label}: docker's read-back of {tag} failed ({error.removeprefix('ERROR: ')});"
        f" the registry holds the index this build made ({built}), going on to verify it"
    )
    return built


def run(plan: Plan, settings: Settings, runner: Runner) -> BuildOutcome:
    """Run every build step; raise :class:`BuildFailedError` naming failed platforms."""
    make_output_dir(settings.output_dir)
    how = {str(a.platform): a.render() for a in plan.assignments}

    def run_step(step: BuildStep) -> PlatformBuild:
        return _run_step(step, settings, runner, how)

    outcomes = runner.map_parallel(run_step, list(plan.builds), settings.jobs or None)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    builds = tuple(o for o in outcomes if isinstance(o, PlatformBuild))
    _raise_failures(builds, runner)
    if plan.strategy == "multi-platform":
        return BuildOutcome(builds, {}, builds[0].digest)
    digests: dict[Platform, str] = {b.step.platforms[0]: b.digest for b in builds}
    return BuildOutcome(builds, digests)
