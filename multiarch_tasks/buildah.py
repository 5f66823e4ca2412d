"""The ``buildah`` backend: daemonless builds into a local manifest list, pushed with --all.

Each platform is built in turn into one local manifest list (a failure names its
platform); only when all built is the list pushed, to every tag. buildah attaches no
attestations, so the pushed index holds exactly the platforms.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks import commands
from multiarch_tasks.digests import write_digest_map
from multiarch_tasks.errors import BuildFailedError, CommandError
from multiarch_tasks.reference import ImageRef
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import Settings

if TYPE_CHECKING:
    from multiarch_tasks.build import BuildResult


def _insecure(settings: Settings, registry: str) -> bool:
    return settings.is_insecure(registry)


def _base_registries_insecure(settings: Settings) -> bool:
    # Base images on loopback/insecure registries are pulled over plain HTTP too.
    text = ""
    try:
        with open(settings.dockerfile) as fh:  # noqa: PTH123
            text = fh.read()
    except OSError:
        return False
    hosts = re.findall(r"^\s*FROM\s+(?:--\S+\s+)*([^\s/]+)/", text, re.MULTILINE | re.IGNORECASE)
    hosts += [v.split("/", 1)[0] for v in settings.build_args.values() if "/" in v]
    return any(_insecure(settings, h) for h in hosts if "." in h or ":" in h)


def build_with_buildah(settings: Settings, runner: Runner) -> BuildResult:
    """Build every platform with buildah, then push the manifest list to every tag."""
    from multiarch_tasks.build import BuildResult, BuildStep, PlatformBuild  # noqa: PLC0415

    image = settings.image_ref
    Path(settings.output_dir).mkdir(parents=True, exist_ok=True)
    local = f"localhost/multiarch-{image.repository.replace('/', '-')}:{settings.tags[0]}"
    runner.run(commands.buildah_rm_manifest(local), check=False)
    tls = not _base_registries_insecure(settings)
    builds: list[PlatformBuild] = []
    failed: dict[str, str] = {}
    for platform in settings.platforms:
        argv = commands.buildah_build(
            context=settings.context,
            platforms=(platform,),
            manifest=local,
            file=settings.file,
            build_args=settings.build_args,
            labels=settings.labels,
            target=settings.target,
            secrets=settings.secrets,
            tls_verify=tls,
        )
        step = BuildStep((platform,), (local,), "buildah", tuple(argv), "")
        try:
            runner.run(
                argv,
                stream_prefix=str(platform),
                label=f"build {platform}",
                timeout=settings.timeout or None,
            )
        except CommandError as err:
            failed[str(platform)] = (
                err.stderr_tail.strip().splitlines()[-1:][0]
                if (err.stderr_tail.strip())
                else str(err)
            )
            builds.append(
                PlatformBuild(step, error=failed[str(platform)], log_tail=err.stderr_tail)
            )
            continue
        builds.append(PlatformBuild(step))
    if failed:
        raise BuildFailedError(failed)
    index_digest = ""
    digest_file = f"{settings.output_dir}/buildah-digest"
    for tag in settings.tags:
        ref = image.with_tag(tag)
        runner.run(
            commands.buildah_push(
                local,
                str(ref),
                all_=True,
                digestfile=digest_file,
                tls_verify=not _insecure(settings, image.registry),
            ),
            label="buildah push",
            retries=settings.retries,
        )
    digests = {}
    digest_map = ""
    if not runner.dry:
        with open(digest_file) as fh:  # noqa: PTH123
            index_digest = fh.read().strip()
        from multiarch_tasks.manifest import platform_digests  # noqa: PLC0415

        digests = platform_digests(
            settings, ImageRef.parse(str(image.with_tag(settings.tags[0]))), index_digest
        )
        digest_map = str(write_digest_map(settings.output_dir, digests, index=index_digest))
        builds = [
            PlatformBuild(b.step, digest=digests.get(b.step.platforms[0], "")) for b in builds
        ]
    return BuildResult(str(image), "buildah", tuple(builds), digests, digest_map, index_digest)
