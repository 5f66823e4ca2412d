"""The GitLab CI pipeline: docker (dind, parallel matrix), kaniko or buildah, then merge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from multiarch_tasks.ci.shards import (
    AMD64,
    BUILDAH_IMAGE,
    COSIGN_SHA256,
    COSIGN_VERSION,
    DOCKER_IMAGE,
    GITLAB_RUNNERS,
    KANIKO_IMAGE,
    MERGE_IMAGE,
    MERGE_JSON,
    OUT,
    VERIFY,
    CiOptions,
    Shard,
    cache_flag,
    given_flags,
    install_spec,
    job_build_args,
    layer_cache_repo,
    login_line,
    registry_for,
    sh_join,
    sh_word,
    shards,
    sign_flags,
    uses_token,
)
from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.model.errors import InvalidValueError


def _gitlab_login(
    registry: str, options: CiOptions, program: str = "docker", flags: Sequence[str] = ()
) -> list[str]:
    """The login line: the provider's token or named variables, via --password-stdin."""
    if options.login == "none":
        return []
    if uses_token(registry, options):
        token = ("$CI_REGISTRY_USER", "$CI_REGISTRY_PASSWORD")
        return [login_line("$CI_REGISTRY", *token, program, flags)]
    user, password = f"${options.username_secret}", f"${options.password_secret}"
    return [login_line(registry, user, password, program, flags)]


def _gitlab_install(settings: Settings, options: CiOptions, packages: str) -> list[str]:
    return [
        packages,
        "python3 -m venv /opt/multiarch",
        f"/opt/multiarch/bin/pip install {sh_word(install_spec(settings, options))}",
        'export PATH="/opt/multiarch/bin:$PATH"',
    ]


# Merge-request pipelines, and branch pipelines only where no merge request is open (one
# pipeline per push, not two); tags; the branches the pipeline publishes; a manual run.
def _workflow(options: CiOptions) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
        {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
        {"if": "$CI_COMMIT_TAG"},
        *({"if": f'$CI_COMMIT_BRANCH == "{branch}"'} for branch in options.branches),
        {"if": '$CI_PIPELINE_SOURCE == "web"'},
    ]
    return {"rules": rules}


# A merge request from a fork whose pipeline runs in the fork's project (GitLab's default
# for a fork): the project's registry takes no push from the fork's job token and the
# project's masked variables are not there. The docker variant's jobs then build OCI
# layouts and merge them into one, writing to no registry, as GitHub's fork path does.
FORK_TEST = (
    '[ -n "$CI_MERGE_REQUEST_IID" ] && [ "$CI_PROJECT_ID" != "$CI_MERGE_REQUEST_PROJECT_ID" ]'
)
FORK_LINE = f"FORK=; if {FORK_TEST}; then FORK=true; fi"


def _unless_fork(lines: Sequence[str]) -> list[str]:
    """``lines`` (logins) skipped in a fork's pipeline: ``[ -n "$FORK" ] || LINE``."""
    return [f'[ -n "$FORK" ] || {line}' for line in lines]


def _gitlab_merge(
    settings: Settings, options: CiOptions, registry: str, plan: list[Shard]
) -> dict[str, Any]:
    dirs = ",".join(f"{OUT}/{s.name}" for s in plan)
    tool = "" if options.variant == "docker" else " --manifest-tool native"
    merge = f"multiarch merge --from {dirs}{given_flags(settings, 'image', 'platforms')}{tool}"
    tags = given_flags(settings, "tags")
    # A fork's layouts join into one layout (docker variant); a merge request's index goes
    # to a run-unique staging tag, unsigned: nothing is promoted to a tag users pull.
    fork = (
        'if [ -n "$FORK" ]; then\n'
        f"  {merge}{tags} --output-dir {OUT}/merge --layout --json > {MERGE_JSON}\nel"
        if options.variant == "docker"
        else ""
    )
    script = [
        (
            f'{fork}if [ -n "$CI_MERGE_REQUEST_IID" ]; then\n'
            f'  {merge} --tag "pr-$CI_MERGE_REQUEST_IID-$CI_COMMIT_SHA" --output-dir {OUT}/merge'
            f" --json > {MERGE_JSON}\n"
            "else\n"
            f"  {merge}{tags} --output-dir {OUT}/merge{sign_flags(options)} --json > {MERGE_JSON}\n"
            "fi"
        ),
        VERIFY.format(python="python3", file=MERGE_JSON) + given_flags(settings, "platforms"),
    ]
    signing = _gitlab_signing(options)
    if options.variant == "docker":
        cosign = ["apk add --no-cache cosign"] if options.sign != "off" else []
        login = _unless_fork(_gitlab_login(registry, options))
        return {
            "extends": ".multiarch",
            "stage": "merge",
            "tags": [GITLAB_RUNNERS[AMD64]],
            **signing,
            "script": [FORK_LINE, *login, *cosign, *script],
        }
    # No docker here: the registry client reads the credentials from DOCKER_CONFIG.
    cosign = [_COSIGN_DOWNLOAD] if options.sign != "off" else []
    return {
        "stage": "merge",
        "image": MERGE_IMAGE,
        "tags": [GITLAB_RUNNERS[AMD64]],
        **signing,
        "variables": {"DOCKER_CONFIG": "$CI_PROJECT_DIR/.docker"},
        "before_script": _gitlab_install(settings, options, "")[1:],
        "script": [*_auth_file(registry, options, '"$DOCKER_CONFIG"'), *cosign, *script],
    }


def cosign_download(url: str, sha256: str, dest: str = "/usr/local/bin/cosign") -> str:
    """The script line that installs cosign from ``url``, checked against ``sha256``.

    Written only if its bytes hash to ``sha256``; else the job fails with one line naming
    both digests.
    """
    check = (
        "import hashlib, sys, urllib.request as u;"
        f" data = u.urlopen('{url}').read();"
        " got = hashlib.sha256(data).hexdigest();"
        f" sys.exit('cosign download: sha256 ' + got + ', expected {sha256}')"
        f" if got != '{sha256}' else open('{dest}', 'wb').write(data)"
    )
    return f'python3 -c "{check}" && chmod +x {dest}'


# The slim Python image has no cosign package: sigstore's release binary, pinned by digest.
_COSIGN_DOWNLOAD = cosign_download(
    f"https://github.com/sigstore/cosign/releases/download/{COSIGN_VERSION}/cosign-linux-amd64",
    COSIGN_SHA256,
)


def _gitlab_signing(options: CiOptions) -> dict[str, Any]:
    """Keyless: the job's OIDC token as SIGSTORE_ID_TOKEN (audience sigstore), read by cosign.

    With ``sign: key`` cosign reads COSIGN_KEY and COSIGN_PASSWORD, masked CI/CD variables
    of the project: nothing to declare here.
    """
    if options.sign != "keyless":
        return {}
    return {"id_tokens": {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}}


def _auth_file(registry: str, options: CiOptions, directory: str) -> list[str]:
    """A docker config.json for kaniko and the registry client, from masked variables."""
    if options.login == "none":
        return [f"mkdir -p {directory}"]
    if uses_token(registry, options):
        host, user, password = "$CI_REGISTRY", "$CI_REGISTRY_USER", "$CI_REGISTRY_PASSWORD"
    else:
        host, user, password = (
            registry,
            f"${options.username_secret}",
            f"${options.password_secret}",
        )
    return [
        f"mkdir -p {directory}",
        (
            'printf \'{"auths":{"%s":{"auth":"%s"}}}\' '
            f'"{host}" "$(printf \'%s:%s\' "{user}" "{password}" | base64 | tr -d \'\\n\')"'
            f" > {directory}/config.json"
        ),
    ]


def _shard_files(shard: Shard) -> list[str]:
    """digests.json and shard.json for a shard built without multiarch (kaniko, buildah)."""
    out = f"{OUT}/{shard.name}"
    return [
        f'printf \'{{"%s": "%s"}}\\n\' {shard.platform} "$(cat {out}/digest)" > {out}/digests.json',
        (
            f'printf \'{{"commit": "%s", "platforms": ["%s"]}}\\n\' "$CI_COMMIT_SHA"'
            f" {shard.platform} > {out}/shard.json"
        ),
    ]


def _per_arch_destination(settings: Settings, shard: Shard) -> str:
    # Unique per pipeline: concurrent pipelines never share a per-arch tag.
    return f"{settings.image_ref.name}:ci-$CI_PIPELINE_ID-{shard.name}"


def _kaniko_job(
    settings: Settings, options: CiOptions, registry: str, shard: Shard
) -> dict[str, Any]:
    out = f"{OUT}/{shard.name}"
    context = (
        "$CI_PROJECT_DIR"
        if settings.context in {"", "."}
        else f"$CI_PROJECT_DIR/{settings.context}"
    )
    argv = commands.kaniko_executor(
        context=context,
        dockerfile=f"$CI_PROJECT_DIR/{settings.dockerfile}",
        platform=shard.platform,
        destinations=[_per_arch_destination(settings, shard)],
        digest_file=f"{out}/digest",
        build_args=job_build_args(settings),
        labels={**settings.labels, "org.opencontainers.image.revision": "$CI_COMMIT_SHA"},
        target=settings.target,
        insecure_registries=settings.insecure_registries,
        cache_repo=layer_cache_repo(settings, "kaniko"),
    )
    return {
        "stage": "build",
        "interruptible": True,
        "image": {"name": KANIKO_IMAGE, "entrypoint": [""]},
        "tags": [shard.runner],
        "script": [
            *_auth_file(registry, options, "/kaniko/.docker"),
            f"mkdir -p {out}",
            sh_join(argv),
            *_shard_files(shard),
        ],
        "artifacts": {"paths": [f"{out}/"], "expire_in": "1 day"},
    }


def _buildah_job(
    settings: Settings, options: CiOptions, registry: str, shard: Shard
) -> dict[str, Any]:
    out = f"{OUT}/{shard.name}"
    # A local list of this pipeline only: a persistent runner's storage outlives the job.
    local = f"localhost/multiarch-$CI_PIPELINE_ID-{shard.name}"
    tls = settings.image_ref.registry not in settings.insecure_registries
    build = commands.buildah_build(
        context=settings.context or ".",
        platforms=(shard.platform,),
        manifest=local,
        file=settings.file,
        build_args=job_build_args(settings),
        labels={**settings.labels, "org.opencontainers.image.revision": "$CI_COMMIT_SHA"},
        target=settings.target,
        tls_verify=tls,
        cache_repo=layer_cache_repo(settings, "buildah"),
    )
    push = commands.buildah_push(
        local,
        _per_arch_destination(settings, shard),
        all_=True,
        digestfile=f"{out}/digest",
        tls_verify=tls,
    )
    return {
        "stage": "build",
        "interruptible": True,
        "image": BUILDAH_IMAGE,
        "tags": [shard.runner],
        # vfs + chroot: buildah inside an unprivileged job container.
        "variables": {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"},
        "script": [
            *_gitlab_login(registry, options, "buildah", () if tls else ("--tls-verify=false",)),
            f"mkdir -p {out}",
            f"{sh_join(commands.buildah_rm_manifest(local))} || true",
            sh_join(build),
            sh_join(push),
            *_shard_files(shard),
        ],
        "artifacts": {"paths": [f"{out}/"], "expire_in": "1 day"},
    }


def gitlab_pipeline(settings: Settings, options: CiOptions) -> dict[str, Any]:
    """The GitLab CI pipeline as data."""
    registry = registry_for(settings, options)
    plan = shards(settings, options)
    doc: dict[str, Any] = {
        "workflow": _workflow(options),
        "stages": ["build", "merge"],
        # Full history and tags: tag rules read `git describe` and the version tags.
        "variables": {"GIT_DEPTH": "0", "PIP_CACHE_DIR": "$CI_PROJECT_DIR/.cache/pip"},
    }
    if options.variant != "docker":
        emulated = [str(s.platform) for s in plan if s.emulate]
        if emulated:
            raise InvalidValueError(
                f"ci-template: {options.variant} runs RUN steps on the runner's own CPU and"
                f" GitLab has no native runner for {', '.join(emulated)}: use the docker"
                " variant (QEMU) or map a runner with runner_labels"
            )
        job = _kaniko_job if options.variant == "kaniko" else _buildah_job
        for shard in plan:
            doc[f"build-{shard.name}"] = job(settings, options, registry, shard)
        doc["merge"] = _gitlab_merge(settings, options, registry, plan)
        return doc
    install = _gitlab_install(settings, options, "apk add --no-cache python3 py3-pip git")
    doc[".multiarch"] = {
        "image": DOCKER_IMAGE,
        "services": [f"{DOCKER_IMAGE}-dind"],
        "variables": {"DOCKER_TLS_CERTDIR": "/certs"},
        "cache": {"key": "pip", "paths": [".cache/pip"]},
        "before_script": install,
    }
    build = (
        f"multiarch build{given_flags(settings, 'image', 'tags', 'file', 'context')}"
        f' --platforms "$PLATFORM" --output-dir "{OUT}/$SHARD"'
    )
    # One --cache at most on the command line (invoke takes a flag once).
    cache = f"{cache_flag(settings, 'registry')} $pull".strip()
    doc["build"] = {
        "extends": ".multiarch",
        "stage": "build",
        # A newer pipeline of the same ref cancels this one's builds (GitLab's
        # "auto-cancel redundant pipelines"); the merge job, which moves tags, is not.
        "interruptible": True,
        "parallel": {
            "matrix": [
                {
                    "PLATFORM": str(s.platform),
                    "SHARD": s.name,
                    "RUNNER": s.runner,
                    "EMULATE": "true" if s.emulate else "false",
                }
                for s in plan
            ]
        },
        "tags": ["$RUNNER"],
        # The dind engine's docker driver (classic store) exports no cache: a
        # docker-container builder, created after QEMU, which it needs for its platform.
        "before_script": [
            *install,
            'if [ "$EMULATE" = true ]; then multiarch qemu-setup --platforms "$PLATFORM"; fi',
            (
                "multiarch builder-create --builder multiarch --driver docker-container --use"
                ' --platforms "$PLATFORM"'
            ),
        ],
        "script": [
            FORK_LINE,
            *_unless_fork(_gitlab_login(registry, options)),
            # A release re-pulls its base images instead of trusting the cache; a fork's
            # build writes an OCI layout (no push, so no registry cache either).
            'pull=; if [ -n "$CI_COMMIT_TAG" ]; then pull=--pull; fi',
            f'if [ -n "$FORK" ]; then out="--layout --cache none"; else out="{cache}"; fi',
            f"{build} $out",
        ],
        "artifacts": {"paths": [f"{OUT}/"], "expire_in": "1 day"},
    }
    doc["merge"] = _gitlab_merge(settings, options, registry, plan)
    return doc
