"""build: run the plan's build step with the chosen backend, then write digests.json.

Nothing here moves a final tag. Per-arch pushes go by digest where the builder can
(docker-container, remote), else to run-unique staging tags that no concurrent run uses;
the per-arch tags (``IMAGE:TAG-os-arch``) are written from those pushes afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.config.secrets import secret_values, secret_warnings
from multiarch_tasks.config.settings import Settings, check_build_inputs
from multiarch_tasks.engine import facts as facts_mod
from multiarch_tasks.engine.runner import Runner, interruptible
from multiarch_tasks.model.digests import shard_meta, write_digest_map, write_shard_meta
from multiarch_tasks.model.errors import MultiarchError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.plan.make import Plan, make_plan
from multiarch_tasks.steps.backends import BuildOutcome, PlatformBuild, backend

if TYPE_CHECKING:
    from multiarch_tasks.registry.reader import ImageReader


def new_run_id() -> str:
    """A short id no other run has: names staging tags, metadata files, buildah lists."""
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class BuildResult:
    """Every build's outcome, the digests and the digest map path."""

    image: str
    strategy: str
    builds: tuple[PlatformBuild, ...]
    digests: Mapping[Platform, str]
    digest_map: str
    index_digest: str = ""

    @property
    def ok(self) -> bool:
        """True when every build pushed."""
        return all(b.ok for b in self.builds)

    def render(self) -> str:
        """A line per build: platforms, where it pushed, digest."""
        lines = [f"build ({self.strategy}): {self.image}"]
        for b in self.builds:
            status = b.digest or ("(dry run)" if b.ok else f"FAILED: {b.error}")
            where = ", ".join(b.step.tags) or (
                f"to OCI layout {b.step.layout}" if b.step.layout else "by digest"
            )
            lines.append(f"  {b.step.label}: {where} {status}")
        if self.index_digest:
            lines.append(f"  index: {self.index_digest}")
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


def run_build(
    plan: Plan, settings: Settings, runner: Runner, client: ImageReader | None = None
) -> BuildResult:
    """Run the plan's build step; resolve the digests of every platform (with ``client``)."""
    outcome: BuildOutcome = backend(settings.backend)(plan, settings, runner)
    digests = dict(outcome.digests)
    if outcome.index_digest and not runner.dry:
        from multiarch_tasks.steps.manifest.lists import platform_digests  # noqa: PLC0415 - registry client

        ref, reader = settings.image_ref, client
        if plan.builds and plan.builds[0].layout:
            # One build wrote every platform into one OCI layout: read its index there.
            from multiarch_tasks.model.layoutref import LayoutRef  # noqa: PLC0415
            from multiarch_tasks.registry.reader import reader_for  # noqa: PLC0415

            ref = LayoutRef.parse_layout(f"oci-layout://{plan.builds[0].layout}")
            reader = reader_for(settings, ref)
        digests = platform_digests(settings, ref, outcome.index_digest, reader)
    builds = tuple(
        PlatformBuild(b.step, digest=b.digest or digests.get(b.step.platforms[0], ""))
        if len(b.step.platforms) == 1
        else b
        for b in outcome.builds
    )
    return BuildResult(
        str(settings.image_ref), plan.strategy, builds, digests, "", outcome.index_digest
    )


def tag_per_arch(plan: Plan, settings: Settings, digests: Mapping[Platform, str]) -> None:
    """Write ``IMAGE:TAG-os-arch`` for every tag, from this run's own pushes."""
    if not plan.per_arch_tags:
        return
    from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415

    client = RegistryClient.from_settings(settings)
    image = settings.image_ref

    def copy(platform: Platform) -> None:
        doc = client.get_manifest(image.with_digest(digests[platform]))
        for tag in settings.tags:
            client.put_manifest(settings.per_arch_ref(platform, tag), doc.raw, doc.media_type)

    client.map(copy, list(digests))


def build(settings: Settings, runner: Runner) -> BuildResult:
    """Build and push every platform (no final tag moves); write digests.json."""
    check_build_inputs(settings)
    runner = secret_runner(settings, runner)
    if not runner.dry:
        runner = runner.logging_to(Path(settings.output_dir) / "logs")
    facts = facts_mod.gather(settings, runner)
    if settings.backend == "buildx" and facts.builder is None:
        raise MultiarchError(
            f"builder {facts.builder_name!r} does not exist: run `multiarch builder-create` first"
        )
    plan = make_plan(settings, facts, run_id=new_run_id(), task="build")
    from multiarch_tasks.steps.outline import say_plan  # noqa: PLC0415

    say_plan(plan, runner)
    if runner.dry:
        return BuildResult(str(settings.image_ref), plan.strategy, (), {}, "")
    # The plan's one step, started and ended as publish's is: a live view checks it off.
    with interruptible(), runner.stage("build") as step:
        result = run_build(plan, settings, step)
        digests = dict(result.digests)
        tag_per_arch(plan, settings, digests)
    path = ""
    if settings.push or settings.layout:
        # build --layout: each platform's layout, relative to the digest map's directory.
        layouts = {p: Path(b.layout).name for b in plan.builds if b.layout for p in b.platforms}
        path = str(
            write_digest_map(
                settings.output_dir, digests, index=result.index_digest, layouts=layouts
            )
        )
        # What merge checks across shards: same commit, same labels and annotations.
        # Redacted as any output is (the same values give the same text in every shard).
        labels = runner.redact_data({**facts.labels, **settings.labels})
        annotations = runner.redact_data(dict(settings.annotations))
        write_shard_meta(settings.output_dir, shard_meta(settings.platforms, labels, annotations))
    return BuildResult(
        result.image, result.strategy, result.builds, digests, path, result.index_digest
    )


def secret_runner(
    settings: Settings, runner: Runner, environ: Mapping[str, str] | None = None
) -> Runner:
    """Print the secret-build-arg warnings; return ``runner`` hiding every secret value.

    Call it once per task before any step (publish, build), and run every step with the
    runner it returns.
    """
    for warning in secret_warnings(settings):
        runner.say(warning)
    return runner.with_secrets(*secret_values(settings, environ))
