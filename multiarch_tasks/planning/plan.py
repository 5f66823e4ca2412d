"""The plan: a pure function of (settings, facts) -> typed steps with their argv.

One decider per question, each called once: where and how each platform builds
(:func:`assign`), the strategy, the cache mode, push-by-digest or per-arch tags, the merge
tool, what qemu-setup registers and how the builder is created. ``publish`` prints the plan
and then runs exactly its steps; ``--dry`` prints it and stops. Nothing here runs a
process, reads a file or talks to a registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.facts import Facts
from multiarch_tasks.engine.runner import display
from multiarch_tasks.model.errors import PlanError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.decide import (
    EMULATED,
    IMPOSSIBLE,
    LOCAL_NODE,
    NATIVE,
    Assignment,
    _node_name,
    assign,
    builder_driver,
    cache_options,
    decide_strategy,
    merge_tool,
    push_by_digest,
)

# --- steps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildStep:
    """One planned build: which platforms, how they build, where it pushes, the argv."""

    platforms: tuple[Platform, ...]
    tags: tuple[str, ...]  # what the build pushes to ("" tags when by digest)
    how: str
    argv: tuple[str, ...]
    metadata_file: str
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What prefixes this step's output lines."""
        return ",".join(str(p) for p in self.platforms)


@dataclass(frozen=True)
class Step:
    """One step of the plan: its commands (argv) and its other operations (text)."""

    name: str
    summary: str
    commands: tuple[tuple[str, ...], ...] = ()
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything a run will do, decided before it does any of it."""

    image: str
    tags: tuple[str, ...]  # the final references
    run_id: str
    assignments: tuple[Assignment, ...]
    strategy: str
    strategy_why: str
    driver: str
    builder_name: str
    builder_source: str
    create_builder: bool
    buildkitd_config: str  # the generated config's text ("" = none)
    buildkitd_path: str
    qemu_mode: str
    qemu_register: tuple[Assignment, ...]
    by_digest: bool
    per_arch_tags: bool
    tool: str
    builds: tuple[BuildStep, ...]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    staging: str = ""  # the run-unique tag an index is pushed to when not by digest

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """Every command the run will start, in order (probes aside)."""
        return [argv for step in self.steps for argv in step.commands]

    def step(self, name: str) -> Step | None:
        """The step called ``name``, if planned."""
        return next((s for s in self.steps if s.name == name), None)

    def render(self, secrets: Sequence[str] = ()) -> str:
        """Numbered steps, each with its commands; the per-platform assignments first."""
        head = f"plan: {', '.join(self.tags) or 'no image'} for {len(self.assignments)} platform(s)"
        lines = [
            head,
            f"  builder {self.builder_name!r} ({self.builder_source}), driver {self.driver}",
        ]
        width = max(len(str(a.platform)) for a in self.assignments)
        lines += [f"  {a.platform!s:<{width}}  {a.render()}" for a in self.assignments]
        lines += [f"  note: {n}" for n in self.notes]
        for number, step in enumerate(self.steps, 1):
            lines.append(f"  {number}. {step.name}: {step.summary}")
            lines += [f"       $ {display(argv, secrets)}" for argv in step.commands]
            lines += [f"       - {op}" for op in step.ops]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The plan as JSON."""
        return {
            "image": self.image,
            "tags": list(self.tags),
            "strategy": self.strategy,
            "builder": {
                "name": self.builder_name,
                "driver": self.driver,
                "source": self.builder_source,
                "create": self.create_builder,
            },
            "platforms": [a.to_json() for a in self.assignments],
            "push_by_digest": self.by_digest,
            "merge_tool": self.tool,
            "steps": [
                {"name": s.name, "summary": s.summary, "commands": [list(c) for c in s.commands]}
                for s in self.steps
            ],
            "notes": list(self.notes),
        }


def staging_tag(tag: str, run_id: str, platform: Platform | None = None) -> str:
    """A run-unique tag no other run uses: ``1.2-linux-arm64-staging-3f9a2c1b``."""
    middle = f"-{platform.tag_suffix}" if platform else ""
    return f"{tag}{middle}-staging-{run_id}"


def _image_output(settings: Settings, insecure: bool) -> str:
    extra = ",registry.insecure=true" if insecure else ""
    return (
        f"type=image,name={settings.image_ref.name},push-by-digest=true,"
        f"name-canonical=true,push=true{extra}"
    )


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


def plan_builds(
    settings: Settings,
    facts: Facts,
    assignments: Sequence[Assignment],
    *,
    strategy: str,
    run_id: str,
    by_digest: bool,
) -> tuple[list[BuildStep], list[str]]:
    """The buildx build steps (one per platform, or one for all) and their notes."""
    out_dir = Path(settings.output_dir)
    driver = builder_driver(settings, facts)
    insecure = settings.is_insecure(settings.image_ref.registry) and (
        settings.image_ref.registry in settings.insecure_registries
    )
    if settings.backend == "buildah":
        return _buildah_builds(settings, facts, assignments, run_id), []
    # A docker-driver builder is a docker context's own; another context's needs --context.
    other_context = driver == "docker" and facts.builder_name not in {"", "default"}
    common = {
        "docker_context": facts.builder_name if other_context else "",
        "context": settings.context,
        "builder": facts.builder_name,
        "file": settings.file,
        "build_args": settings.build_args,
        "labels": {**facts.labels, **settings.labels},
        "target": settings.target,
        "secrets": settings.secrets,
        "attestations": settings.attestations,
        "push": settings.push,
        "insecure_push": insecure,
    }
    env = build_env(settings)
    how = {a.platform: a.render() for a in assignments}
    notes: list[str] = []
    groups: list[tuple[Platform, ...]] = (
        [settings.platforms] if strategy == "multi-platform" else [(p,) for p in settings.platforms]
    )
    steps: list[BuildStep] = []
    for group in groups:
        single = group[0] if len(group) == 1 else None
        cache_from, cache_to, note = cache_options(settings, single, driver)
        if note and note not in notes:
            notes.append(note)
        suffix = single.tag_suffix if single else "multi-platform"
        meta = str(out_dir / f"metadata-{run_id}-{suffix}.json")
        tags: tuple[str, ...] = ()
        output = ""
        if not settings.push:
            pass
        elif by_digest:
            output = _image_output(settings, insecure)
        else:
            tags = (
                str(settings.image_ref.with_tag(staging_tag(settings.tags[0], run_id, single))),
            )
        argv = commands.buildx_build(
            platforms=group,
            tags=tags,
            metadata_file=meta,
            cache_from=cache_from,
            cache_to=cache_to,
            output=output,
            index_annotations=settings.annotations if single is None else None,
            **common,  # type: ignore[arg-type]
        )
        desc = "; ".join(how[p] for p in group)
        steps.append(BuildStep(group, tags, desc, tuple(argv), meta, env))
    return steps, notes


def buildah_manifest(settings: Settings, run_id: str) -> str:
    """The run-unique local manifest list buildah builds into."""
    return f"localhost/multiarch-{settings.image_ref.repository.replace('/', '-')}:{run_id}"


def _buildah_builds(
    settings: Settings, facts: Facts, assignments: Sequence[Assignment], run_id: str
) -> list[BuildStep]:
    local = buildah_manifest(settings, run_id)
    # Base images on plain-HTTP registries (loopback, insecure_registries) need this too.
    tls = not any(settings.is_insecure(h) for h in facts.base_registries)
    return [
        BuildStep(
            (a.platform,),
            (local,),
            a.render(),
            tuple(
                commands.buildah_build(
                    context=settings.context,
                    platforms=(a.platform,),
                    manifest=local,
                    file=settings.file,
                    build_args=settings.build_args,
                    labels={**facts.labels, **settings.labels},
                    target=settings.target,
                    secrets=settings.secrets,
                    tls_verify=tls,
                )
            ),
            "",
        )
        for a in assignments
    ]


def buildah_push_argv(settings: Settings, run_id: str, digest_file: str) -> tuple[str, ...]:
    """``buildah manifest push --all`` of the run's list to its staging tag."""
    staging = settings.image_ref.with_tag(staging_tag(settings.tags[0], run_id))
    return tuple(
        commands.buildah_push(
            buildah_manifest(settings, run_id),
            str(staging),
            all_=True,
            digestfile=digest_file,
            tls_verify=not settings.is_insecure(settings.image_ref.registry),
        )
    )


def _qemu_commands(
    settings: Settings, facts: Facts, todo: Sequence[Assignment]
) -> tuple[str, list[tuple[str, ...]], list[str]]:
    """(mode, commands, ops) that make every handler in ``todo`` usable."""
    if not todo:
        return "none", [], []
    if not facts.binfmt_mounted:
        raise PlanError(
            "binfmt_misc is not mounted at /proc/sys/fs/binfmt_misc, so no emulated platform"
            f" ({', '.join(str(a.platform) for a in todo)}) can build; as root run"
            " `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`"
        )
    mode = settings.qemu_mode
    host_ok = "update-binfmts" in facts.programs and all(
        a.platform.qemu_name in facts.host_emulators for a in todo
    )
    if mode == "auto":
        mode = "host" if host_ok else "docker"
    argvs: list[tuple[str, ...]] = []
    ops: list[str] = []
    if mode == "host":
        for a in todo:
            handler = facts.handler(a.platform)
            if handler is not None and not handler.enabled and handler.fix_binary:
                ops.append(f"enable {a.handler}: write 1 to /proc/sys/fs/binfmt_misc/{a.handler}")
            else:
                argvs.append(tuple(commands.update_binfmts_enable(a.handler)))
    else:
        arches = sorted({a.platform.architecture for a in todo})
        argvs.append(tuple(commands.docker_binfmt_install(settings.binfmt_image, arches)))
    return mode, argvs, ops


def buildkitd_config(settings: Settings) -> str:
    """A buildkitd.toml for plain-HTTP registries and registry mirrors (or "")."""
    hosts = sorted({*settings.insecure_registries, *settings.registry_mirrors.values()})
    sections = [
        f'[registry."{upstream}"]\n  mirrors = ["{mirror}"]\n'
        for upstream, mirror in sorted(settings.registry_mirrors.items())
    ]
    sections += [
        f'[registry."{host}"]\n  http = true\n  insecure = true\n'
        for host in hosts
        if settings.is_insecure(host)
    ]
    return "\n".join(sections)


def _builder_commands(settings: Settings, facts: Facts) -> tuple[list[tuple[str, ...]], str, str]:
    """(commands, buildkitd config text, its path) to create the builder; [] to reuse it."""
    if facts.builder is not None:
        return [], "", ""
    name = facts.builder_name
    driver = settings.driver or "docker"
    if driver == "docker":
        raise PlanError(
            f"builder {name!r} does not exist; the docker driver is the engine's own builder"
            " ('default'): drop --builder, or set driver: docker-container to create one"
        )
    if driver == "remote" and not settings.nodes:
        raise PlanError(
            f"builder {name!r} (driver remote) needs nodes with endpoints: set nodes:"
            ' [{endpoint: "tcp://HOST:PORT", platforms: [linux/arm64]}]'
        )
    config_text = "" if settings.buildkitd_config else buildkitd_config(settings)
    config_path = settings.buildkitd_config or (
        str(Path(settings.output_dir) / "buildkitd.toml") if config_text else ""
    )
    # A remote builder's first `create` must carry an endpoint: the first node's.
    first = settings.nodes[0] if driver == "remote" else None
    rest = list(settings.nodes[1:] if first else settings.nodes)
    argvs = [
        tuple(
            commands.buildx_create(
                name,
                driver=driver,
                driver_opts=settings.driver_opts,
                buildkitd_config=config_path,
                node=_node_name(settings, first) if first else "",
                platforms=first.platforms if first else (),
                endpoint=first.endpoint if first else "",
                bootstrap=settings.bootstrap and not rest,
                use=settings.use_builder,
            )
        )
    ]
    for index, node in enumerate(rest):
        argvs.append(
            tuple(
                commands.buildx_create(
                    name,
                    driver=driver,
                    append=True,
                    node=_node_name(settings, node),
                    platforms=node.platforms,
                    endpoint=node.endpoint,
                    bootstrap=settings.bootstrap and index == len(rest) - 1,
                )
            )
        )
    return argvs, config_text, config_path


def _per_arch_ops(settings: Settings) -> tuple[str, ...]:
    return tuple(f"PUT {settings.per_arch_ref(p)} -> its {p} push" for p in settings.platforms)


def _build_step(
    settings: Settings, builds: list[BuildStep], *, strategy: str, run_id: str, by_digest: bool
) -> tuple[Step, str]:
    """The build step with every command it runs, and the staging tag it pushes to."""
    if settings.backend == "buildah":
        staging = str(settings.image_ref.with_tag(staging_tag(settings.tags[0], run_id)))
        digest_file = str(Path(settings.output_dir) / f"buildah-digest-{run_id}")
        argvs = [
            *(b.argv for b in builds),
            buildah_push_argv(settings, run_id, digest_file),
            tuple(commands.buildah_rm_manifest(buildah_manifest(settings, run_id))),
        ]
        summary = f"buildah, one platform after another, the list pushed to {staging}"
        return Step("build", summary, tuple(argvs)), staging
    at_once = min(settings.jobs or len(builds), len(builds))
    pushes = "by digest" if by_digest else "to run-unique staging tags"
    staging = builds[0].tags[0] if len(builds) == 1 and builds[0].tags else ""
    summary = f"{strategy}, {at_once} at once, pushed {pushes}"
    return Step("build", summary, tuple(b.argv for b in builds)), staging


def _verify_and_promote(
    settings: Settings, assignments: Sequence[Assignment], *, per_arch_tags: bool
) -> list[Step]:
    steps: list[Step] = []
    image = settings.image_ref.name
    if settings.verify:
        checks = "platforms, configs" + (", ELF headers" if settings.verify_deep else "")
        run = [
            tuple(commands.docker_run(f"{image}@<index>", a.platform, settings.verify_run))
            for a in assignments
        ] if settings.verify_run else []  # fmt: skip
        steps.append(Step("verify", f"{checks} of the unpromoted index", tuple(run)))
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
    strategy, strategy_why = decide_strategy(settings, facts)
    buildx = settings.backend == "buildx"
    by_digest = buildx and push_by_digest(settings, facts)
    per_arch_tags = (
        buildx and strategy == "per-arch" and (not by_digest or settings.per_arch_tags == "always")
    )
    tool = merge_tool(settings) if strategy == "per-arch" else "none"
    notes: list[str] = []
    steps: list[Step] = []
    if task == "publish" and settings.preflight:
        steps.append(Step("preflight", f"base images and build host for {settings.dockerfile}"))
    todo = tuple(a for a in assignments if a.register)
    qemu_mode, qemu_argv, qemu_ops = _qemu_commands(settings, facts, todo)
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
        builder_argv, config_text, config_path = _builder_commands(settings, facts)
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
        build_step, staging = _build_step(
            settings, builds, strategy=f"{strategy} ({strategy_why})", run_id=run_id,
            by_digest=by_digest,
        )  # fmt: skip
        steps.append(build_step)
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
    "buildkitd_config",
    "cache_options",
    "decide_strategy",
    "make_plan",
    "merge_tool",
    "staging_tag",
]
