"""ci-template: a pipeline that builds each platform on its own runner, then merges.

Each build shard runs on a native runner where the provider has one for its architecture
(GitHub ``ubuntu-24.04-arm``, GitLab ``saas-linux-small-arm64``) and under QEMU on an amd64
runner otherwise (or every shard under QEMU: ``runners="qemu"``). A shard checks out, sets
up Python with a pip cache, installs this package, logs in to the registry through
``--password-stdin`` (the provider's token or named secrets, never a value in the file),
registers QEMU only when it emulates, runs ``multiarch build`` for its platform and uploads
its digest map. The merge job downloads the maps, runs ``multiarch merge`` and verifies the
index it pushed. Image, tags and build args come from the project's own
``[tool.multiarch-tasks]`` / invoke.yaml: the YAML calls the tasks and does not repeat them.

GitLab variants: ``docker`` (docker:dind), ``kaniko`` and ``buildah`` (one job per platform,
native runners only; the merge job merges their digests natively). ``multiarch ci-rehearse``
(:mod:`multiarch_tasks.rehearse`) runs a generated pipeline on this machine.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from multiarch_tasks import commands
from multiarch_tasks.errors import InvalidValueError
from multiarch_tasks.platforms import Platform
from multiarch_tasks.settings import Settings

PROVIDERS = ("github", "gitlab")
RUNNER_MODES = ("native", "qemu")
VARIANTS = {"github": ("docker",), "gitlab": ("docker", "kaniko", "buildah")}
LOGINS = ("auto", "token", "secrets", "none")
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
# Hosted runners per architecture. GitHub's arm64 runners (Cobalt 100) cannot run 32-bit arm.
GITHUB_RUNNERS = {AMD64: "ubuntu-24.04", ARM64: "ubuntu-24.04-arm"}
GITLAB_RUNNERS = {AMD64: "saas-linux-small-amd64", ARM64: "saas-linux-small-arm64"}
DOCKER_IMAGE = "docker:27"
KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2-debug"
BUILDAH_IMAGE = "quay.io/buildah/stable:v1.38"
MERGE_IMAGE = "python:3.12-slim"
OUT = "out"
MERGE_JSON = "merge.json"
# The merge job verifies the first tag it pushed, read from its own --json result.
VERIFY = (
    'multiarch verify "$({python} -c \'import json; print(json.load(open("{file}"))["tags"][0])\')"'
)


@dataclass(frozen=True)
class Shard:
    """One build job: its platform, the runner that runs it, and whether it emulates."""

    platform: Platform
    runner: str
    emulate: bool

    @property
    def name(self) -> str:
        """``linux-arm64``: the artifact and directory name."""
        return self.platform.tag_suffix


@dataclass(frozen=True)
class CiOptions:
    """How the pipeline is laid out; every field is a ``ci-template`` option."""

    provider: str = "github"
    runners: str = "native"
    runner_labels: Mapping[str, str] = field(default_factory=dict)
    variant: str = "docker"
    registry: str = ""
    login: str = "auto"
    username_secret: str = "REGISTRY_USERNAME"  # noqa: S105 - a name, not a value
    password_secret: str = "REGISTRY_PASSWORD"  # noqa: S105 - a name, not a value
    python: str = "3.12"
    install: str = ""
    branches: tuple[str, ...] = ("main",)

    def check(self) -> None:
        """Refuse an unknown provider, runner mode, variant or login, naming the choices."""
        for name, value, choices in (
            ("provider", self.provider, PROVIDERS),
            ("runners", self.runners, RUNNER_MODES),
            ("login", self.login, LOGINS),
        ):
            if value not in choices:
                raise InvalidValueError(
                    f"ci-template: unknown {name} {value!r} (choose {' or '.join(choices)})"
                )
        if self.variant not in VARIANTS[self.provider]:
            raise InvalidValueError(
                f"ci-template: variant {self.variant!r} is not available for {self.provider}"
                f" (choose {' or '.join(VARIANTS[self.provider])})"
            )


def _version() -> str:
    from multiarch_tasks import __version__  # noqa: PLC0415 - the package imports this module

    return __version__


def shards(settings: Settings, options: CiOptions) -> list[Shard]:
    """Where each platform builds: its own label, a native runner, or QEMU on amd64."""
    hosted = GITHUB_RUNNERS if options.provider == "github" else GITLAB_RUNNERS
    labels = {Platform.parse(k): v for k, v in options.runner_labels.items()}
    out = []
    for platform in settings.platforms:
        if platform in labels:
            out.append(Shard(platform, labels[platform], emulate=False))
        elif options.runners == "native" and platform in hosted:
            out.append(Shard(platform, hosted[platform], emulate=False))
        else:
            out.append(Shard(platform, hosted[AMD64], emulate=platform != AMD64))
    return out


def _registry(settings: Settings, options: CiOptions) -> str:
    if options.registry:
        return options.registry
    if settings.image:
        return settings.image_ref.registry
    return "ghcr.io" if options.provider == "github" else "$CI_REGISTRY"


def _uses_token(registry: str, options: CiOptions) -> bool:
    if options.login != "auto":
        return options.login == "token"
    if options.provider == "github":
        return registry == "ghcr.io"
    return registry in {"$CI_REGISTRY", "registry.gitlab.com"}


def sh_word(arg: str) -> str:
    """Quote one argv element for a POSIX shell, keeping ``$VAR`` references live."""
    if "$" not in arg:
        return shlex.quote(arg)
    return '"' + re.sub(r'(["\\`])', r"\\\1", arg) + '"'


def sh_join(argv: Sequence[str]) -> str:
    """An argv list as one shell line (``$VAR`` expanded by the CI's shell)."""
    return " ".join(sh_word(a) for a in argv)


def _login_line(registry: str, user: str, password: str, program: str = "docker") -> str:
    return (
        f"printf '%s' \"{password}\" | {program} login {sh_word(registry)}"
        f' --username "{user}" --password-stdin'
    )


# --- GitHub Actions --------------------------------------------------------------------


def _github_setup(options: CiOptions, registry: str, token: bool) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        # Full history and tags: tag rules read `git describe` and the version tags.
        {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},
        {
            "uses": "actions/setup-python@v5",
            "with": {
                "python-version": options.python,
                "cache": "pip",
                "cache-dependency-path": "pyproject.toml",
            },
        },
        {"id": "install", "run": f"pip install {sh_word(_install(options))}"},
    ]
    if options.login != "none":
        user = "${{ github.actor }}" if token else f"${{{{ secrets.{options.username_secret} }}}}"
        password = (
            "${{ secrets.GITHUB_TOKEN }}"
            if token
            else f"${{{{ secrets.{options.password_secret} }}}}"
        )
        steps.append(
            {
                "name": "registry login",
                "env": {"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password},
                "run": _login_line(registry, "$REGISTRY_USERNAME", "$REGISTRY_PASSWORD"),
            }
        )
    return steps


def _install(options: CiOptions) -> str:
    return options.install or f"multiarch-tasks=={_version()}"


def github_workflow(settings: Settings, options: CiOptions) -> dict[str, Any]:
    """The GitHub Actions workflow as data."""
    registry = _registry(settings, options)
    token = _uses_token(registry, options)
    plan = shards(settings, options)
    matrix = [
        {"platform": str(s.platform), "runner": s.runner, "emulate": s.emulate, "shard": s.name}
        for s in plan
    ]
    shard_env = {"PLATFORM": "${{ matrix.platform }}", "SHARD": "${{ matrix.shard }}"}
    build_steps = [
        *_github_setup(options, registry, token),
        {
            "name": "QEMU for an emulated platform",
            "if": "matrix.emulate",
            "env": shard_env,
            "run": 'multiarch qemu-setup --platforms "$PLATFORM"',
        },
        {
            "name": "build",
            "env": shard_env,
            "run": f'multiarch build --platforms "$PLATFORM" --output-dir "{OUT}/$SHARD"',
        },
        {
            "uses": "actions/upload-artifact@v4",
            "with": {
                "name": "digests-${{ matrix.shard }}",
                "path": f"{OUT}/${{{{ matrix.shard }}}}",
                "if-no-files-found": "error",
                "retention-days": 1,
            },
        },
    ]
    dirs = ",".join(f"digests/digests-{s.name}" for s in plan)
    merge_steps = [
        *_github_setup(options, registry, token),
        {
            "uses": "actions/download-artifact@v4",
            "with": {"pattern": "digests-*", "path": "digests"},
        },
        {
            "name": "merge",
            "run": f"multiarch merge --from {dirs} --output-dir {OUT}/merge --json > {MERGE_JSON}",
        },
        {"name": "verify", "run": VERIFY.format(python="python", file=MERGE_JSON)},
    ]
    permissions = {"contents": "read"}
    if token and options.login != "none":
        permissions["packages"] = "write"
    return {
        "name": "multiarch",
        "on": {
            "push": {"branches": list(options.branches), "tags": ["*"]},
            "workflow_dispatch": None,
        },
        "permissions": permissions,
        "jobs": {
            "build": {
                "name": "build ${{ matrix.platform }}",
                "strategy": {"fail-fast": False, "matrix": {"include": matrix}},
                "runs-on": "${{ matrix.runner }}",
                "steps": build_steps,
            },
            "merge": {
                "needs": "build",
                "runs-on": GITHUB_RUNNERS[AMD64],
                "steps": merge_steps,
            },
        },
    }


# --- GitLab CI -------------------------------------------------------------------------


def _gitlab_login(registry: str, options: CiOptions, program: str = "docker") -> list[str]:
    if options.login == "none":
        return []
    if _uses_token(registry, options):
        return [_login_line("$CI_REGISTRY", "$CI_REGISTRY_USER", "$CI_REGISTRY_PASSWORD", program)]
    user, password = f"${options.username_secret}", f"${options.password_secret}"
    return [_login_line(registry, user, password, program)]


def _gitlab_install(options: CiOptions, packages: str) -> list[str]:
    return [
        packages,
        "python3 -m venv /opt/multiarch",
        f"/opt/multiarch/bin/pip install {sh_word(_install(options))}",
        'export PATH="/opt/multiarch/bin:$PATH"',
    ]


def _gitlab_merge(options: CiOptions, registry: str, plan: list[Shard]) -> dict[str, Any]:
    dirs = ",".join(f"{OUT}/{s.name}" for s in plan)
    tool = "" if options.variant == "docker" else " --manifest-tool native"
    script = [
        f"multiarch merge --from {dirs}{tool} --output-dir {OUT}/merge --json > {MERGE_JSON}",
        VERIFY.format(python="python3", file=MERGE_JSON),
    ]
    if options.variant == "docker":
        return {
            "extends": ".multiarch",
            "stage": "merge",
            "tags": [GITLAB_RUNNERS[AMD64]],
            "script": [*_gitlab_login(registry, options), *script],
        }
    # No docker here: the registry client reads the credentials from DOCKER_CONFIG.
    return {
        "stage": "merge",
        "image": MERGE_IMAGE,
        "tags": [GITLAB_RUNNERS[AMD64]],
        "variables": {"DOCKER_CONFIG": "$CI_PROJECT_DIR/.docker"},
        "before_script": [
            "python3 -m venv /opt/multiarch",
            f"/opt/multiarch/bin/pip install {sh_word(_install(options))}",
            'export PATH="/opt/multiarch/bin:$PATH"',
        ],
        "script": [*_auth_file(registry, options, '"$DOCKER_CONFIG"'), *script],
    }


def _auth_file(registry: str, options: CiOptions, directory: str) -> list[str]:
    """A docker config.json for kaniko and the registry client, from masked variables."""
    if options.login == "none":
        return [f"mkdir -p {directory}"]
    if _uses_token(registry, options):
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
        build_args=settings.build_args,
        labels={**settings.labels, "org.opencontainers.image.revision": "$CI_COMMIT_SHA"},
        target=settings.target,
        insecure_registries=settings.insecure_registries,
    )
    return {
        "stage": "build",
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
    local = f"localhost/multiarch-{shard.name}"
    tls = settings.image_ref.registry not in settings.insecure_registries
    build = commands.buildah_build(
        context=settings.context or ".",
        platforms=(shard.platform,),
        manifest=local,
        file=settings.file,
        build_args=settings.build_args,
        labels={**settings.labels, "org.opencontainers.image.revision": "$CI_COMMIT_SHA"},
        target=settings.target,
        tls_verify=tls,
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
        "image": BUILDAH_IMAGE,
        "tags": [shard.runner],
        # vfs + chroot: buildah inside an unprivileged job container.
        "variables": {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"},
        "script": [
            *_gitlab_login(registry, options, program="buildah"),
            f"mkdir -p {out}",
            sh_join(build),
            sh_join(push),
            *_shard_files(shard),
        ],
        "artifacts": {"paths": [f"{out}/"], "expire_in": "1 day"},
    }


def gitlab_pipeline(settings: Settings, options: CiOptions) -> dict[str, Any]:
    """The GitLab CI pipeline as data."""
    registry = _registry(settings, options)
    plan = shards(settings, options)
    doc: dict[str, Any] = {
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
        doc["merge"] = _gitlab_merge(options, registry, plan)
        return doc
    doc[".multiarch"] = {
        "image": DOCKER_IMAGE,
        "services": [f"{DOCKER_IMAGE}-dind"],
        "variables": {"DOCKER_TLS_CERTDIR": "/certs"},
        "cache": {"key": "pip", "paths": [".cache/pip"]},
        "before_script": _gitlab_install(options, "apk add --no-cache python3 py3-pip git"),
    }
    doc["build"] = {
        "extends": ".multiarch",
        "stage": "build",
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
        "script": [
            *_gitlab_login(registry, options),
            'if [ "$EMULATE" = true ]; then multiarch qemu-setup --platforms "$PLATFORM"; fi',
            f'multiarch build --platforms "$PLATFORM" --output-dir "{OUT}/$SHARD"',
        ],
        "artifacts": {"paths": [f"{OUT}/"], "expire_in": "1 day"},
    }
    doc["merge"] = _gitlab_merge(options, registry, plan)
    return doc


# --- rendering -------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors (CI readers choke on them); multi-line scripts as ``|``."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(doc: Mapping[str, Any]) -> str:
    """YAML text of a pipeline document, keys in the order they were built."""
    return yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, width=1000)


def _header(settings: Settings, options: CiOptions) -> str:
    plan = shards(settings, options)
    where = "; ".join(f"{s.platform} on {s.runner}{' (QEMU)' if s.emulate else ''}" for s in plan)
    return (
        f"# Generated by `multiarch ci-template --provider {options.provider}"
        f" --runners {options.runners} --variant {options.variant}`"
        f" (multiarch-tasks {_version()}).\n"
        f"# Shards: {where}.\n"
        "# Image, tags and build args come from [tool.multiarch-tasks] in pyproject.toml;"
        " rehearse with `multiarch ci-rehearse FILE`.\n"
    )


def ci_template(settings: Settings, provider: str = "github", **options: Any) -> str:
    """Render the pipeline for ``provider`` (github or gitlab) from the settings.

    ``options`` are :class:`CiOptions` fields (``runners``, ``variant``, ``registry``,
    ``login``, ``runner_labels``, ...).
    """
    unknown = sorted(set(options) - set(CiOptions.__dataclass_fields__))
    if unknown:
        raise InvalidValueError(f"ci-template: unknown option(s) {', '.join(unknown)}")
    opts = CiOptions(provider=provider, **options)
    opts.check()
    doc = (
        github_workflow(settings, opts) if provider == "github" else gitlab_pipeline(settings, opts)
    )
    return _header(settings, opts) + render(doc)


def write_template(path: str | Path, text: str) -> Path:
    """Write a rendered pipeline, creating its directory (``.github/workflows``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target
