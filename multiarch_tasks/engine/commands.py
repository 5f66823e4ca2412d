"""Pure argv builders for the programs we drive, named ``<cli>_<subcommand>``.

Each returns a ``list[str]``: one value per element, docker's own syntax for multi-valued
options (``--platform a,b``; repeated ``--tag``). Nothing here runs anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform


def _repeat(option: str, values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out += [option, value]
    return out


def _pairs(option: str, mapping: Mapping[str, str]) -> list[str]:
    return _repeat(option, (f"{k}={v}" for k, v in mapping.items()))


def _builder(builder: str) -> list[str]:
    # Always name the builder: never depend on (or change) the user's current one.
    return ["--builder", builder] if builder else []


def docker_version() -> list[str]:
    """``docker version`` as JSON (client and server)."""
    return ["docker", "version", "--format", "{{json .}}"]


def docker_info() -> list[str]:
    """``docker info`` as JSON: is the daemon up, which image store."""
    return ["docker", "info", "--format", "{{json .}}"]


def buildx_version() -> list[str]:
    """``docker buildx version``."""
    return ["docker", "buildx", "version"]


def buildx_inspect(builder: str, *, bootstrap: bool = False) -> list[str]:
    """``docker buildx inspect [NAME]``: driver, nodes and their platforms.

    Without a name buildx answers for the builder it would use itself: ``BUILDX_BUILDER``,
    else the current builder of the docker config.
    """
    argv = ["docker", "buildx", "inspect", *(["--bootstrap"] if bootstrap else [])]
    return [*argv, builder] if builder else argv


def buildx_create(
    name: str,
    *,
    driver: str,
    driver_opts: Sequence[str] = (),
    buildkitd_config: str = "",
    platforms: Sequence[Platform] = (),
    node: str = "",
    endpoint: str = "",
    append: bool = False,
    bootstrap: bool = False,
    use: bool = False,
) -> list[str]:
    """``docker buildx create`` for a new builder, or ``--append`` for one more node."""
    argv = ["docker", "buildx", "create", "--name", name]
    if append:
        argv.append("--append")
    else:
        argv += ["--driver", driver]
        argv += _repeat("--driver-opt", driver_opts)
        if buildkitd_config:
            argv += ["--buildkitd-config", buildkitd_config]
    if node:
        argv += ["--node", node]
    if platforms:
        argv += ["--platform", ",".join(str(p) for p in platforms)]
    if bootstrap:
        argv.append("--bootstrap")
    if use:
        argv.append("--use")
    if endpoint:
        argv.append(endpoint)
    return argv


def attestation_flags(
    attestations: str, provenance: str = "auto", sbom: bool = False, sbom_generator: str = ""
) -> list[str]:
    """``--provenance``/``--sbom`` for ``attestations: auto|on|off`` (auto: buildx decides).

    ``provenance`` (``min``/``max``) and ``sbom`` ask for those attestations explicitly;
    ``sbom_generator`` names the scanner image (BuildKit's default,
    ``docker/buildkit-syft-scanner``, is on Docker Hub).
    """
    if attestations == "off":
        return ["--provenance=false", "--sbom=false"]
    argv = []
    if provenance in {"min", "max"}:
        argv.append(f"--provenance=mode={provenance}")
    elif attestations == "on":
        argv.append("--provenance=mode=min")
    if sbom:
        argv.append(f"--sbom=generator={sbom_generator}" if sbom_generator else "--sbom=true")
    return argv


def buildx_build(
    *,
    context: str,
    platforms: Sequence[Platform],
    tags: Sequence[str],
    builder: str = "",
    file: str = "",
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    target: str = "",
    cache_from: Sequence[str] = (),
    cache_to: Sequence[str] = (),
    secrets: Sequence[str] = (),
    attestations: str = "auto",
    provenance: str = "auto",
    sbom: bool = False,
    sbom_generator: str = "",
    metadata_file: str = "",
    push: bool = True,
    insecure_push: bool = False,
    output: str = "",
    docker_context: str = "",
    index_annotations: Mapping[str, str] | None = None,
    no_cache: bool = False,
    pull: bool = False,
    progress: str = "",
) -> list[str]:
    """``docker buildx build`` for one platform (per-arch) or several (multi-platform).

    ``progress`` is buildx's ``--progress`` (``rawjson`` for a live view); none: its default.

    ``output`` replaces ``--push`` (e.g. ``type=image,name=R,push-by-digest=true,...``).
    ``docker_context``: buildx builds on another docker context's own builder only with
    ``docker --context NAME`` (``--builder NAME`` alone: "use `docker --context=NAME
    buildx` to switch to context").
    """
    argv = ["docker", *(["--context", docker_context] if docker_context else [])]
    argv += ["buildx", "build", *_builder(builder)]
    argv += ["--platform", ",".join(str(p) for p in platforms)]
    if progress:
        argv += ["--progress", progress]
    if file:
        argv += ["--file", file]
    argv += _repeat("--tag", tags)
    argv += _pairs("--build-arg", build_args or {})
    argv += _pairs("--label", labels or {})
    # A multi-platform build writes the index itself: its annotations go on with it.
    argv += _repeat(
        "--annotation", (f"index:{k}={v}" for k, v in (index_annotations or {}).items())
    )
    if target:
        argv += ["--target", target]
    argv += _repeat("--cache-from", cache_from)
    argv += _repeat("--cache-to", cache_to)
    argv += ["--no-cache"] * no_cache + ["--pull"] * pull
    # Secret specs name ids and sources (id=npm,src=FILE / env=VAR), never the values.
    argv += _repeat("--secret", secrets)
    argv += attestation_flags(attestations, provenance, sbom, sbom_generator)
    if metadata_file:
        argv += ["--metadata-file", metadata_file]
    if output:
        argv += ["--output", output]
    elif push and insecure_push:
        argv += ["--output", "type=image,push=true,registry.insecure=true"]
    elif push:
        argv.append("--push")
    argv.append(context)
    return argv


def imagetools_create(
    tags: Sequence[str],
    sources: Sequence[str],
    *,
    builder: str = "",
    annotations: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> list[str]:
    """``docker buildx imagetools create -t T... SRC...`` (``--dry-run`` prints the index)."""
    argv = ["docker", "buildx", "imagetools", "create", *_builder(builder)]
    argv += _repeat("--tag", tags)
    argv += _repeat("--annotation", (f"index:{k}={v}" for k, v in (annotations or {}).items()))
    if dry_run:
        argv.append("--dry-run")
    return argv + list(sources)


def imagetools_inspect_raw(ref: str, *, builder: str = "") -> list[str]:
    """``docker buildx imagetools inspect --raw REF``: the manifest/index bytes."""
    return ["docker", "buildx", "imagetools", "inspect", *_builder(builder), "--raw", ref]


def docker_manifest_create(
    target: str, sources: Sequence[str], *, insecure: bool = False, amend: bool = True
) -> list[str]:
    """``docker manifest create [--insecure] --amend TARGET SRC...`` (the article's)."""
    argv = ["docker", "manifest", "create"]
    if insecure:
        argv.append("--insecure")
    if amend:
        argv.append("--amend")
    return [*argv, target, *sources]


def docker_manifest_annotate(target: str, source: str, platform: Platform) -> list[str]:
    """``docker manifest annotate`` setting os/arch/variant of one entry."""
    argv = ["docker", "manifest", "annotate", "--os", platform.os, "--arch", platform.architecture]
    if platform.variant:
        argv += ["--variant", platform.variant]
    return [*argv, target, source]


def docker_manifest_push(target: str, *, insecure: bool = False, purge: bool = True) -> list[str]:
    """``docker manifest push [--insecure] --purge TARGET``."""
    argv = ["docker", "manifest", "push"]
    if insecure:
        argv.append("--insecure")
    if purge:
        argv.append("--purge")
    return [*argv, target]


def docker_manifest_rm(target: str) -> list[str]:
    """``docker manifest rm TARGET``: drop a stale local manifest list."""
    return ["docker", "manifest", "rm", target]


def docker_rm_force(name: str) -> list[str]:
    """``docker rm -f NAME``: remove a container that will not stop by itself."""
    return ["docker", "rm", "-f", name]


def docker_binfmt_install(image: str, arches: Sequence[str]) -> list[str]:
    """``docker run --privileged --rm BINFMT_IMAGE --install a,b`` (tonistiigi/binfmt)."""
    return ["docker", "run", "--privileged", "--rm", image, "--install", ",".join(arches)]


def update_binfmts_enable(handler: str) -> list[str]:
    """``update-binfmts --enable qemu-NAME`` (Debian's binfmt-support, host mode)."""
    return ["update-binfmts", "--enable", handler]


def docker_run(
    ref: str, platform: Platform, args: Sequence[str] = (), *, name: str = ""
) -> list[str]:
    """``docker run --rm --platform P REF ARGS...``."""
    # No --init: tini's execvp hands a foreign binary to /bin/sh on ENOEXEC, which hides the
    # very `exec format error` verify --run looks for. A name lets a hung run be removed.
    named = ["--name", name] if name else []
    return ["docker", "run", "--rm", *named, "--platform", str(platform), ref, *args]


def buildah_build(
    *,
    context: str,
    platforms: Sequence[Platform],
    manifest: str,
    file: str = "",
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    target: str = "",
    secrets: Sequence[str] = (),
    tls_verify: bool = True,
    no_cache: bool = False,
    pull: bool = False,
    cache_repo: str = "",
) -> list[str]:
    """``buildah build --platform P --manifest LIST``: build into a local manifest list.

    ``no_cache`` and ``pull`` are buildx's ``--no-cache`` and ``--pull``: buildah's
    ``--no-cache`` and ``--pull=always`` (its default pulls only a newer or missing base).
    ``cache_repo``: a repository that keeps each step's layer (``--layers``, pulled with
    ``--cache-from``, pushed with ``--cache-to``): a fresh runner's build finds them there.
    """
    argv = ["buildah", "build", "--platform", ",".join(str(p) for p in platforms)]
    if not tls_verify:
        argv.append("--tls-verify=false")
    argv += ["--no-cache"] * no_cache + ["--pull=always"] * pull
    if cache_repo:
        argv += ["--layers", "--cache-from", cache_repo, "--cache-to", cache_repo]
    argv += ["--manifest", manifest]
    if file:
        argv += ["--file", file]
    argv += _pairs("--build-arg", build_args or {})
    argv += _pairs("--label", labels or {})
    if target:
        argv += ["--target", target]
    argv += _repeat("--secret", secrets)
    return [*argv, context]


def buildah_push(
    source: str, dest: str, *, tls_verify: bool = True, digestfile: str = "", all_: bool = False
) -> list[str]:
    """``buildah push`` (an image) or ``buildah manifest push --all`` (a manifest list)."""
    argv = ["buildah", "manifest", "push", "--all"] if all_ else ["buildah", "push"]
    argv.append(f"--tls-verify={'true' if tls_verify else 'false'}")
    if digestfile:
        argv += ["--digestfile", digestfile]
    return [*argv, source, f"docker://{dest}"]


def buildah_rm_manifest(name: str) -> list[str]:
    """``buildah manifest rm NAME``."""
    return ["buildah", "manifest", "rm", name]


def skopeo_copy(
    src: str,
    dest: str,
    *,
    multi_arch: str = "all",
    src_insecure: bool = False,
    dest_insecure: bool = False,
    retries: int = 0,
    preserve_digests: bool = True,
) -> list[str]:
    """``skopeo copy`` of every platform of ``src`` to ``dest`` (registry to registry).

    ``--preserve-digests`` makes skopeo fail rather than rewrite a manifest (a changed
    compression would change the index digest); plain-HTTP registries need
    ``--src-tls-verify=false`` / ``--dest-tls-verify=false``.
    """
    if multi_arch not in {"all", "index-only", "system"}:
        raise InvalidValueError(
            f"skopeo --multi-arch takes all, index-only or system, not {multi_arch!r}"
        )
    argv = ["skopeo", "copy", f"--multi-arch={multi_arch}"]
    if preserve_digests:
        argv.append("--preserve-digests")
    if retries:
        argv += ["--retry-times", str(retries)]
    if src_insecure:
        argv.append("--src-tls-verify=false")
    if dest_insecure:
        argv.append("--dest-tls-verify=false")
    return [*argv, f"docker://{src}", f"docker://{dest}"]


KANIKO_EXECUTOR = "/kaniko/executor"


def kaniko_executor(
    *,
    context: str,
    dockerfile: str,
    platform: Platform,
    destinations: Sequence[str],
    digest_file: str = "",
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    target: str = "",
    insecure_registries: Sequence[str] = (),
    cache_repo: str = "",
) -> list[str]:
    """``/kaniko/executor`` for one platform: kaniko builds one platform per run.

    ``--custom-platform`` sets the target; kaniko runs ``RUN`` steps with the runner's own
    CPU, so the job must run on a runner of that architecture. ``--digest-file`` gets the
    pushed manifest's digest, which ``merge`` (native tool) turns into the index.
    ``cache_repo``: ``--cache=true --cache-repo REPO``, each step's layer kept there.
    """
    if not destinations:
        raise InvalidValueError("kaniko needs at least one --destination")
    argv = [KANIKO_EXECUTOR, "--context", context, "--dockerfile", dockerfile]
    argv += ["--custom-platform", str(platform)]
    argv += _repeat("--destination", destinations)
    if digest_file:
        argv += ["--digest-file", digest_file]
    argv += _pairs("--build-arg", build_args or {})
    argv += _pairs("--label", labels or {})
    if target:
        argv += ["--target", target]
    argv += _repeat("--insecure-registry", insecure_registries)
    if cache_repo:
        argv += ["--cache=true", "--cache-repo", cache_repo]
    return argv


def cosign_version() -> list[str]:
    """``cosign version`` (its text names ``GitVersion:``)."""
    return ["cosign", "version"]


def _cosign_registry(insecure: bool) -> list[str]:
    # A plain-HTTP registry (loopback, insecure_registries): cosign refuses HTTP without it.
    return ["--allow-http-registry", "--allow-insecure-registry"] if insecure else []


def cosign_sign(ref: str, *, key: str = "", tlog: bool = True, insecure: bool = False) -> list[str]:
    """``cosign sign --yes [--key KEY] REF@DIGEST``: one signature for one digest.

    ``key`` is a key file or a KMS URI (``awskms://``, ``gcpkms://``, ``hashivault://``,
    ``azurekms://``, ``k8s://``); without one cosign signs keyless, with the OIDC token of
    the CI job (its ambient provider, or ``SIGSTORE_ID_TOKEN``: read from the environment,
    never put on the command line). ``tlog=False`` skips the transparency log upload.
    The key's password is read by cosign from ``COSIGN_PASSWORD``.
    """
    argv = ["cosign", "sign", "--yes"]
    if key:
        argv += ["--key", key]
    if not tlog:
        argv.append("--tlog-upload=false")
    return [*argv, *_cosign_registry(insecure), ref]


def cosign_verify(
    ref: str,
    *,
    key: str = "",
    identity: str = "",
    issuer: str = "",
    tlog: bool = True,
    insecure: bool = False,
) -> list[str]:
    """``cosign verify --key KEY REF@DIGEST`` (or ``--certificate-identity``/``-oidc-issuer``)."""
    argv = ["cosign", "verify"]
    if key:
        argv += ["--key", key]
    if identity:
        argv += ["--certificate-identity", identity]
    if issuer:
        argv += ["--certificate-oidc-issuer", issuer]
    if not tlog:
        argv.append("--insecure-ignore-tlog=true")
    return [*argv, *_cosign_registry(insecure), ref]
