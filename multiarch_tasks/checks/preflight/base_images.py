"""Base images x target platforms: what the Dockerfile pulls, and what the registry offers.

Every image the build pulls (each ``FROM``, ``COPY --from=IMAGE``, ``RUN --mount=from=IMAGE``
of the stages the target needs) must offer each platform its stage runs on: the targets,
the build host's platform for ``--platform=$BUILDPLATFORM`` stages, or a literal
``--platform``. :func:`uses` lists them from the parsed Dockerfile; :func:`check_base`
reads one image's platforms through the registry; the ``*_problem`` functions say what is
wrong and how to fix it (re-mirror a single-platform copy, fix access).
"""

from __future__ import annotations

from dataclasses import dataclass

from multiarch_tasks.checks.preflight.report import ERROR, WARNING, BaseCheck, Problem
from multiarch_tasks.model.dockerfile import parser as dockerfile
from multiarch_tasks.model.errors import (
    InvalidPlatformError,
    InvalidReferenceError,
    RateLimitedError,
    RegistryError,
)
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import DOCKER_HUB, ImageRef
from multiarch_tasks.registry.bases import ManifestReader, read_platforms

# --- what the Dockerfile needs -------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One place the build pulls ``ref``, and the platforms it must offer there."""

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


def uses(
    parsed: dockerfile.Dockerfile,
    stages: tuple[dockerfile.Stage, ...],
    targets: tuple[Platform, ...],
    build_platforms: tuple[Platform, ...],
    problems: list[Problem],
) -> list[Use]:
    """Every image the build pulls, with its line and the platforms it must offer."""
    path = parsed.path
    wanted: dict[int, tuple[Platform, ...]] = {
        s.index: _stage_platforms(s, targets, build_platforms, path, problems) for s in stages
    }
    raw: list[tuple[str, int, int, tuple[str, ...]]] = [
        (s.image, s.line, s.index, s.unresolved) for s in stages if s.image is not None
    ]
    raw += [(u.image, u.line, u.stage, u.unresolved) for u in parsed.uses if u.stage in wanted]
    out: list[Use] = []
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
        out.append(Use(ref, line, wanted[stage_index]))
    return out


# --- reading the registry -------------------------------------------------------------


def check_base(client: ManifestReader, ref: ImageRef, uses: list[Use]) -> BaseCheck:
    """Read ``ref``'s platforms and set them beside what its ``uses`` require."""
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


def missing_problem(path: str, base: BaseCheck, ref: ImageRef) -> Problem:
    """The error for a base image that lacks platforms, with the mirror command that fixes it."""
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


def unreachable_problem(path: str, base: BaseCheck, allow: bool) -> Problem:
    """An unreadable base image: an error, or a warning with ``allow_unreachable``."""
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
