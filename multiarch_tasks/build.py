"""build: one push per platform (per-arch, the article's flow) or one multi-platform push.

Per-arch builds run concurrently, each output line prefixed with its platform; the digest
of each push is read from buildx's ``--metadata-file``; the digest map is written only
when every platform built. Nothing here moves the final tag in the per-arch strategy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from multiarch_tasks import commands, tools
from multiarch_tasks.builder import builder_name, coverage, inspect_builder
from multiarch_tasks.digests import shard_meta, write_digest_map, write_shard_meta
from multiarch_tasks.errors import BuildFailedError, CommandError, InvalidValueError
from multiarch_tasks.platforms import Platform
from multiarch_tasks.runner import Runner, which
from multiarch_tasks.settings import Settings

LOG_TAIL = 15


@dataclass(frozen=True)
class BuildStep:
    """One planned build: which platforms, how they build, which tags, the argv."""

    platforms: tuple[Platform, ...]
    tags: tuple[str, ...]
    how: str
    argv: tuple[str, ...]
    metadata_file: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What prefixes this step's output lines."""
        return ",".join(str(p) for p in self.platforms)


@dataclass(frozen=True)
class PlatformBuild:
    """The outcome of one build step."""

    step: BuildStep
    digest: str = ""
    error: str = ""
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        """True when the build pushed."""
        return not self.error


@dataclass(frozen=True)
class BuildResult:
    """Every step's outcome, and the digest map path."""

    image: str
    strategy: str
    builds: tuple[PlatformBuild, ...]
    digests: dict[Platform, str]
    digest_map: str
    index_digest: str = ""

    @property
    def ok(self) -> bool:
        """True when every step pushed."""
        return all(b.ok for b in self.builds)

    def render(self) -> str:
        """A line per step: platform, tag, digest."""
        lines = [f"build ({self.strategy}): {self.image}"]
        for b in self.builds:
            status = b.digest or ("(dry run)" if b.ok else f"FAILED: {b.error}")
            lines.append(f"  {b.step.label}: {', '.join(b.step.tags)} {status}")
        if self.digest_map:
            lines.append(f"  digest map: {self.digest_map}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The result as JSON."""
        return {
            "ok": self.ok,
            "image": self.image,
            "strategy": self.strategy,
            "digests": {str(p): d for p, d in self.digests.items()},
            "index": self.index_digest,
            "digest_map": self.digest_map,
            "builds": [
                {
                    "platforms": b.step.label,
                    "tags": list(b.step.tags),
                    "digest": b.digest,
                    "ok": b.ok,
                    "error": b.error,
                }
                for b in self.builds
            ],
        }


def git_labels(runner: Runner, context: str) -> dict[str, str]:
    """OCI labels from git when the context is in a checkout (source, revision, created)."""
    labels: dict[str, str] = {}
    if which("git") is None:
        return labels
    probes = {
        "org.opencontainers.image.revision": ["git", "-C", context, "rev-parse", "HEAD"],
        # The commit time, not "now": rebuilding the same commit gives the same config.
        "org.opencontainers.image.created": ["git", "-C", context, "log", "-1", "--format=%cI"],
        "org.opencontainers.image.source": [
            "git",
            "-C",
            context,
            "config",
            "--get",
            "remote.origin.url",
        ],
    }
    for label, argv in probes.items():
        result = runner.run(argv, probe=True, memo=True, check=False, timeout=30)
        value = result.stdout.strip()
        if result.ok and value:
            labels[label] = value
    source = "org.opencontainers.image.source"
    if source in labels:
        labels[source] = public_url(labels[source])
    return labels


def public_url(url: str) -> str:
    """A remote URL without credentials (``https://user:TOKEN@host/x`` -> ``https://host/x``).

    CI checkouts often embed a token in the origin URL; it must not end up in an image
    label, nor in the printed build command.
    """
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def build_env(settings: Settings) -> dict[str, str]:
    """Environment switches for buildx's attestation defaults."""
    env: dict[str, str] = {}
    if settings.attestations == "off":
        env["BUILDX_NO_DEFAULT_ATTESTATIONS"] = "1"
    if settings.attestation_artifacts == "off":
        # 2026 BuildKit stores attestations as OCI artifacts with `subject`; some
        # registries reject those. This is buildx's documented opt-out.
        env["BUILDX_NO_DEFAULT_OCI_ARTIFACT"] = "1"
    elif settings.attestation_artifacts == "on":
        env["BUILDX_NO_DEFAULT_OCI_ARTIFACT"] = "0"
    return env


def cache_options(settings: Settings, platform: Platform | None) -> tuple[list[str], list[str]]:
    """``--cache-from``/``--cache-to`` values; ``cache: registry`` gets one ref per platform.

    A single shared cache ref keeps only the platform written last, so each platform
    gets ``IMAGE:buildcache-<suffix>``.
    """
    cache_from = list(settings.cache_from)
    cache_to = list(settings.cache_to)
    if settings.cache == "registry":
        suffix = platform.tag_suffix if platform else "multi"
        ref = str(settings.image_ref.with_tag(f"buildcache-{suffix}"))
        cache_from.append(f"type=registry,ref={ref}")
        if settings.driver in {"", "docker"}:
            # The docker driver cannot export registry caches: embed inline cache instead.
            cache_to.append("type=inline")
        else:
            cache_to.append(f"type=registry,ref={ref},mode=max")
    elif settings.cache == "inline":
        cache_to.append("type=inline")
    return cache_from, cache_to


def plan_build(
    settings: Settings, how: dict[Platform, str], labels: dict[str, str]
) -> list[BuildStep]:
    """Plan the build steps (pure): one per platform, or one for all."""
    out_dir = Path(settings.output_dir)
    builder = builder_name(settings)
    env = build_env(settings)
    merged_labels = {**labels, **settings.labels}
    insecure_push = settings.image_ref.registry in settings.insecure_registries
    common = {
        "context": settings.context,
        "builder": builder,
        "file": settings.file,
        "build_args": settings.build_args,
        "labels": merged_labels,
        "target": settings.target,
        "secrets": settings.secrets,
        "attestations": settings.attestations,
        "push": settings.push,
        "insecure_push": insecure_push,
    }
    steps: list[BuildStep] = []
    if settings.strategy == "multi-platform":
        tags = tuple(str(settings.ref(t)) for t in settings.tags)
        cache_from, cache_to = cache_options(settings, None)
        meta = str(out_dir / "metadata-multi-platform.json")
        argv = commands.buildx_build(
            platforms=settings.platforms,
            tags=tags,
            metadata_file=meta,
            cache_from=cache_from,
            cache_to=cache_to,
            **common,  # type: ignore[arg-type]
        )
        desc = "; ".join(f"{p} {how[p]}" for p in settings.platforms)
        return [BuildStep(settings.platforms, tags, desc, tuple(argv), meta, env)]
    for platform in settings.platforms:
        tags = (str(settings.per_arch_ref(platform)),)
        cache_from, cache_to = cache_options(settings, platform)
        meta = str(out_dir / f"metadata-{platform.tag_suffix}.json")
        argv = commands.buildx_build(
            platforms=(platform,),
            tags=tags,
            metadata_file=meta,
            cache_from=cache_from,
            cache_to=cache_to,
            **common,  # type: ignore[arg-type]
        )
        steps.append(BuildStep((platform,), tags, how[platform], tuple(argv), meta, env))
    return steps


def render_plan(settings: Settings, steps: list[BuildStep]) -> str:
    """The plan as printed before building."""
    head = (
        f"plan: {len(settings.platforms)} platform(s), strategy {settings.strategy},"
        f" builder {builder_name(settings)!r}"
    )
    width = max(len(s.label) for s in steps)
    lines = [head]
    lines += [f"  {s.label:<{width}}  {s.how:<28} -> {', '.join(s.tags)}" for s in steps]
    return "\n".join(lines)


def check_inputs(settings: Settings) -> None:
    """Fail early, naming the path, when the context or Dockerfile is missing."""
    context = Path(settings.context)
    if not context.is_dir():
        raise InvalidValueError(f"build context {settings.context!r} is not a directory")
    dockerfile = Path(settings.dockerfile)
    if not dockerfile.is_file():
        raise InvalidValueError(f"Dockerfile {settings.dockerfile!r} not found")


def build(  # noqa: C901 - the steps read in order; splitting hides the flow
    settings: Settings,
    runner: Runner,
    *,
    how: dict[Platform, str] | None = None,
    show_plan: bool = True,
) -> BuildResult:
    """Build and push every platform; write the digest map when all pushed."""
    check_inputs(settings)
    image = str(settings.image_ref)
    if settings.backend == "buildah":
        from multiarch_tasks.buildah import build_with_buildah  # noqa: PLC0415

        return build_with_buildah(settings, runner)
    tools.require_docker(runner)
    tools.buildx_info(runner)
    if how is None:
        info = inspect_builder(builder_name(settings), runner)
        how = (
            coverage(info, settings.platforms)
            if info
            else dict.fromkeys(settings.platforms, "(builder not found)")
        )
    labels = git_labels(runner, settings.context)
    steps = plan_build(settings, how, labels)
    if show_plan:
        runner.say(render_plan(settings, steps))
    Path(settings.output_dir).mkdir(parents=True, exist_ok=True)

    def run_step(step: BuildStep) -> PlatformBuild:
        try:
            runner.run(
                step.argv,
                env=step.env,
                stream_prefix=step.label,
                timeout=settings.timeout or None,
                label=f"build {step.label}",
            )
        except CommandError as err:
            tail = "\n".join(err.stderr_tail.splitlines()[-LOG_TAIL:])
            return PlatformBuild(step, error=_last_error_line(tail) or str(err), log_tail=tail)
        if runner.dry:
            return PlatformBuild(step)
        return PlatformBuild(step, digest=_metadata_digest(step.metadata_file))

    jobs = settings.jobs or len(steps)
    outcomes = runner.map_parallel(run_step, steps, jobs)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome  # run_step turns CommandError into a result; anything else is a bug
    builds = tuple(o for o in outcomes if isinstance(o, PlatformBuild))
    failed = {
        name: b.error for b in builds if not b.ok for name in failed_platforms(b.step, b.log_tail)
    }
    if failed:
        for b in builds:
            if not b.ok:
                runner.say(f"--- {b.step.label} FAILED; last lines of its log:")
                runner.say("\n".join(f"    {line}" for line in b.log_tail.splitlines()))
        raise BuildFailedError(failed)
    digests: dict[Platform, str] = {}
    index_digest = ""
    if settings.strategy == "multi-platform":
        index_digest = builds[0].digest
    else:
        digests = {b.step.platforms[0]: b.digest for b in builds}
    digest_map = ""
    if not runner.dry and settings.push:
        if settings.strategy == "multi-platform":
            from multiarch_tasks.manifest import platform_digests  # noqa: PLC0415

            digests = platform_digests(settings, settings.ref(), index_digest)
        digest_map = str(write_digest_map(settings.output_dir, digests, index=index_digest))
        meta = shard_meta(settings.platforms, {**labels, **settings.labels}, settings.annotations)
        write_shard_meta(settings.output_dir, meta)
    return BuildResult(image, settings.strategy, builds, digests, digest_map, index_digest)


_FAILED_STEP = re.compile(r"^\s*> \[(?P<platform>[a-z0-9]+/[a-z0-9]+(?:/v\d+)?)[ \]]", re.MULTILINE)


def failed_platforms(step: BuildStep, log_tail: str) -> list[str]:
    """Which of a step's platforms failed.

    buildkit prints ``> [linux/s390x 2/2] RUN ...`` for the failing step of a
    multi-platform build; a one-platform step is that platform.
    """
    if len(step.platforms) == 1:
        return [step.label]
    named = [str(p) for p in step.platforms]
    found = [m.group("platform") for m in _FAILED_STEP.finditer(log_tail)]
    return [p for p in named if p in found] or [step.label]


def _last_error_line(tail: str) -> str:
    for line in reversed(tail.splitlines()):
        text = line.strip()
        if text.startswith("ERROR:") or "error" in text.lower():
            return text
    return tail.strip().splitlines()[-1] if tail.strip() else ""


def _metadata_digest(path: str) -> str:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InvalidValueError(f"buildx wrote no readable metadata file {path}: {err}") from err
    digest = data.get("containerimage.digest", "")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise InvalidValueError(f"buildx metadata {path} has no containerimage.digest")
    return digest
