"""The build step of a plan: the buildx (or buildah) argv per platform group, its env.

One ``buildx build`` per platform (per-arch) or one for all (multi-platform), pushed by
digest or to a run-unique staging tag; with buildah, one build per platform into a local
manifest list that is pushed whole. Pure: settings and facts in, argv out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.facts import Facts
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.planning.decide import Assignment, builder_driver, cache_options
from multiarch_tasks.planning.plan.types import BuildStep, Step, staging_tag


def _image_output(settings: Settings, insecure: bool) -> str:
    extra = ",registry.insecure=true" if insecure else ""
    return (
        f"type=image,name={settings.image_ref.name},push-by-digest=true,"
        f"name-canonical=true,push=true{extra}"
    )


LAYOUT_DIR = "layout"


def layout_dir(output_dir: str, platform: Platform | None, *, alone: bool) -> str:
    """Where a ``--layout`` build writes its OCI layout: ``OUTPUT_DIR/layout``.

    A CI shard (one build) writes ``layout``; several per-arch builds in one run each
    write their own (``layout-linux-arm64``): one layout per buildx export, never shared.
    """
    name = LAYOUT_DIR if alone or platform is None else f"{LAYOUT_DIR}-{platform.tag_suffix}"
    return str(Path(output_dir) / name)


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


def check_attestation_settings(settings: Settings) -> None:
    """Refuse a provenance or SBOM request the build cannot honour (one line, exit 1)."""
    asked = [
        *([f"provenance = {settings.provenance}"] if settings.provenance != "auto" else []),
        *(["sbom = true"] if settings.sbom else []),
    ]
    if not asked:
        return
    if settings.backend == "buildah":
        # buildah writes no in-toto attestations: a silent build without them would pass
        # for one that has them until `verify --attestations` fails much later.
        raise InvalidValueError(
            f"{' and '.join(asked)}: the buildah backend writes no provenance or SBOM"
            " attestations; use backend = buildx, or drop them"
        )
    if settings.attestations == "off":
        raise InvalidValueError(
            f"attestations = off and {' and '.join(asked)} contradict each other: give one"
        )


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
    check_attestation_settings(settings)
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
        "provenance": settings.provenance,
        "sbom": settings.sbom,
        "sbom_generator": settings.sbom_generator,
        "push": settings.push,
        "insecure_push": insecure,
        "no_cache": settings.no_cache,
        "pull": settings.pull,
        # A live view and --progress json read BuildKit's events, not its text (issue 18).
        "progress": "rawjson" if settings.progress in {"tty", "json"} else "",
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
        cache_from, cache_to, note = cache_options(settings, single, driver, facts)
        if note and note not in notes:
            notes.append(note)
        suffix = single.tag_suffix if single else "multi-platform"
        meta = str(out_dir / f"metadata-{run_id}-{suffix}.json")
        tags: tuple[str, ...] = ()
        output = layout = ""
        if settings.layout:
            # The fork pull-request path: no registry, no tag (buildx's own OCI exporter).
            layout = layout_dir(settings.output_dir, single, alone=len(groups) == 1)
            # name= only annotates the layout (nothing is tagged or stored in the engine);
            # without it BuildKit's provenance names no subject, which verify refuses.
            output = f"type=oci,tar=false,dest={layout},name={settings.ref()}"
        elif not settings.push:
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
        steps.append(BuildStep(group, tags, desc, tuple(argv), meta, env, layout))
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
                    no_cache=settings.no_cache,
                    pull=settings.pull,
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


def build_step(
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
    pushes = "pushed by digest" if by_digest else "pushed to run-unique staging tags"
    if settings.layout:
        where = ", ".join(b.layout for b in builds)
        pushes = f"written to OCI layout{'s' if len(builds) > 1 else ''} {where} (no push, no tag)"
    staging = builds[0].tags[0] if len(builds) == 1 and builds[0].tags else ""
    summary = f"{strategy}, {at_once} at once, {pushes}"
    return Step("build", summary, tuple(b.argv for b in builds)), staging
