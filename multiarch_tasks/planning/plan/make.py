"""The plan: a pure function of (settings, facts) -> typed steps with their argv.

One decider per question, each called once: where and how each platform builds
(:func:`assign`), the strategy, the cache mode, push-by-digest or per-arch tags, the merge
tool, what qemu-setup registers and how the builder is created. ``publish`` prints the plan
and then runs exactly its steps; ``--dry`` prints it and stops. Nothing here runs a
process, reads a file or talks to a registry.

:func:`make_plan` (here) picks the steps a task runs and assembles the merge, verify and
promote steps; the plan's types live in :mod:`.plan_types`, the build step's argv in
:mod:`.plan_build`, the qemu and builder set-up in :mod:`.plan_setup`. Their public
names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.facts import Facts
from multiarch_tasks.model.errors import PlanError
from multiarch_tasks.planning.decide import (
    EMULATED,
    IMPOSSIBLE,
    LOCAL_NODE,
    NATIVE,
    Assignment,
    assign,
    builder_driver,
    cache_options,
    decide_strategy,
    layout_refusal,
    merge_tool,
    push_by_digest,
)
from multiarch_tasks.planning.plan.build import (
    build_env,
    build_step,
    buildah_manifest,
    buildah_push_argv,
    plan_builds,
)
from multiarch_tasks.planning.plan.setup import builder_commands, buildkitd_config, qemu_commands
from multiarch_tasks.planning.plan.types import BuildStep, Plan, Step, staging_tag


def _per_arch_ops(settings: Settings) -> tuple[str, ...]:
    return tuple(f"PUT {settings.per_arch_ref(p)} -> its {p} push" for p in settings.platforms)


def _verify_and_promote(
    settings: Settings, assignments: Sequence[Assignment], *, per_arch_tags: bool
) -> list[Step]:
    steps: list[Step] = []
    image = settings.image_ref.name
    if settings.verify:
        deep = {"auto": ", ELF headers of the layers the build added", "all": ", ELF headers"}
        checks = "platforms, configs" + deep.get(settings.deep_scope, "")
        if settings.verify_attestations:
            checks += ", attestations (subjects, provenance platform and source"
            checks += ", SBOM)" if settings.sbom else ")"
        run = [
            tuple(commands.docker_run(f"{image}@<index>", a.platform, settings.verify_run))
            for a in assignments
        ] if settings.verify_run else []  # fmt: skip
        steps.append(Step("verify", f"{checks} of the unpromoted index", tuple(run)))
    if settings.sign:
        from multiarch_tasks.planning.plan.sign import sign_step  # noqa: PLC0415

        steps.append(sign_step(settings))
    promote = [f"PUT {settings.ref(t)} -> the verified index" for t in settings.tags]
    if per_arch_tags:
        promote += _per_arch_ops(settings)
    steps.append(Step("promote", "move the final tags, in this order", ops=tuple(promote)))
    return steps


def make_plan(settings: Settings, facts: Facts, *, run_id: str, task: str = "publish") -> Plan:
    """Decide everything for ``task`` (publish, build, qemu-setup, builder-create)."""
    assignments = tuple(assign(p, settings, facts) for p in settings.platforms)
    impossible = [a for a in assignments if not a.buildable]
    if impossible:
        first = impossible[0]
        raise PlanError(f"cannot build {first.platform}: {first.why}")
    if refusal := layout_refusal(settings, facts, task):
        raise PlanError(refusal)
    strategy, strategy_why = decide_strategy(settings, facts)
    buildx = settings.backend == "buildx"
    by_digest = buildx and push_by_digest(settings, facts)
    per_arch_tags = (
        buildx
        and strategy == "per-arch"
        and not settings.layout  # an OCI layout on disk has no registry tags
        and (not by_digest or settings.per_arch_tags == "always")
    )
    tool = merge_tool(settings) if strategy == "per-arch" else "none"
    notes: list[str] = []
    steps: list[Step] = []
    if task == "publish" and settings.preflight:
        steps.append(Step("preflight", f"base images and build host for {settings.dockerfile}"))
    todo = tuple(a for a in assignments if a.register)
    qemu_mode, qemu_argv, qemu_ops = qemu_commands(settings, facts, todo)
    if task in {"publish", "qemu-setup"}:
        summary = (
            f"register {', '.join(a.handler for a in todo)} ({qemu_mode})"
            if todo
            else "nothing to register"
        )
        steps.append(Step("qemu-setup", summary, tuple(qemu_argv), tuple(qemu_ops)))
    builder_argv: list[tuple[str, ...]] = []
    config_text = config_path = ""
    driver = builder_driver(settings, facts)
    if buildx and task in {"publish", "builder-create"}:
        builder_argv, config_text, config_path = builder_commands(settings, facts)
        verb = "create" if builder_argv else "reuse"
        ops = (f"write {config_path}",) if config_text else ()
        steps.append(
            Step(
                "builder",
                f"{verb} {facts.builder_name!r} (driver {driver})",
                tuple(builder_argv),
                ops,
            )
        )
    builds: list[BuildStep] = []
    staging = ""
    if task in {"publish", "build"}:
        builds, build_notes = plan_builds(
            settings, facts, assignments, strategy=strategy, run_id=run_id, by_digest=by_digest
        )
        notes += build_notes
        building, staging = build_step(
            settings, builds, strategy=f"{strategy} ({strategy_why})", run_id=run_id,
            by_digest=by_digest,
        )  # fmt: skip
        steps.append(building)
    if task == "publish":
        if strategy == "per-arch":
            steps.append(_merge_step(settings, tool, run_id))
        steps += _verify_and_promote(settings, assignments, per_arch_tags=per_arch_tags)
    elif task == "build" and per_arch_tags:
        steps.append(
            Step(
                "tag",
                "per-arch tags (the builder cannot push by digest)",
                ops=_per_arch_ops(settings),
            )
        )
    # qemu-setup and builder-create need no image; the other tasks name one.
    image = settings.image_ref.name if settings.image or task in {"publish", "build"} else ""
    return Plan(
        image=image,
        tags=tuple(str(settings.ref(t)) for t in settings.tags) if image else (),
        run_id=run_id,
        assignments=assignments,
        strategy=strategy,
        strategy_why=strategy_why,
        driver=driver,
        builder_name=facts.builder_name or LOCAL_NODE,
        builder_source=facts.builder_source,
        create_builder=bool(builder_argv),
        buildkitd_config=config_text,
        buildkitd_path=config_path,
        qemu_mode=qemu_mode,
        qemu_register=todo,
        by_digest=by_digest,
        per_arch_tags=per_arch_tags,
        tool=tool,
        builds=tuple(builds),
        steps=tuple(steps),
        notes=tuple(notes),
        staging=staging,
    )


def _merge_step(settings: Settings, tool: str, run_id: str) -> Step:
    image = settings.image_ref.name
    sources = [f"{image}@<{p}>" for p in settings.platforms]
    insecure = settings.is_insecure(settings.image_ref.registry)
    if tool == "imagetools":
        argv = commands.imagetools_create(
            [str(settings.ref())], sources, annotations=settings.annotations, dry_run=True
        )
        return Step(
            "merge",
            "imagetools composes the index (--dry-run); pushed by digest, no tag",
            (tuple(argv),),
            ("PUT the index by digest",),
        )
    if tool == "docker":
        staging = str(settings.image_ref.with_tag(staging_tag(settings.tags[0], run_id)))
        sources = [s.replace("@<", "@<platform manifest of ") for s in sources]
        return Step(
            "merge",
            f"docker manifest, pushed to the staging tag {staging}",
            (
                tuple(commands.docker_manifest_create(staging, sources, insecure=insecure)),
                tuple(commands.docker_manifest_push(staging, insecure=insecure)),
            ),
        )
    keep = "kept" if settings.attestations != "off" and settings.media_type == "oci" else "dropped"
    return Step(
        "merge",
        f"native {settings.media_type} index over the platform manifests, attestations {keep}",
        ops=("PUT the index by digest (no tag)",),
    )


__all__ = [
    "EMULATED",
    "IMPOSSIBLE",
    "LOCAL_NODE",
    "NATIVE",
    "Assignment",
    "BuildStep",
    "Plan",
    "Step",
    "assign",
    "build_env",
    "buildah_manifest",
    "buildah_push_argv",
    "buildkitd_config",
    "cache_options",
    "decide_strategy",
    "make_plan",
    "merge_tool",
    "plan_builds",
    "staging_tag",
]
