"""The pipeline's shape, shared by the GitHub and GitLab writers: options, shards, shell words.

A shard is one platform's build job: a native runner where the provider has one for its
architecture, QEMU on an amd64 runner otherwise.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.redaction import looks_secret, scrub_text
from multiarch_tasks.model.reference import is_loopback_host

PROVIDERS = ("github", "gitlab")
RUNNER_MODES = ("native", "qemu")
VARIANTS = {"github": ("docker",), "gitlab": ("docker", "kaniko", "buildah")}
LOGINS = ("auto", "token", "secrets", "none")
# How the merge job signs: not at all, keyless (the job's OIDC token), with the key held in
# the COSIGN_KEY secret (cosign reads it as env://COSIGN_KEY, its password from
# COSIGN_PASSWORD), or a KMS URI (awskms://, gcpkms://, ...) given as the value itself.
SIGN_MODES = ("off", "keyless", "key")
COSIGN_VERSION = "v2.4.1"
# sha256 of that release's cosign-linux-amd64 (sigstore's cosign_checksums.txt; the same
# pin as sigstore/cosign-installer's bootstrap): a job that downloads it checks the bytes.
COSIGN_SHA256 = "8b24b946dd5809c6bd93de08033bcf6bc0ed7d336b7785787c080f574b89249b"
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
    sign: str = "off"
    # Runners on this machine (ci-rehearse, self-hosted on this host) reach a loopback
    # registry; hosted ones cannot, so it is refused unless this says so.
    local_registry: bool = False
    # Where the repository's files are, for setup-python's pip cache (it keys on them).
    project: str = "."

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
        if self.sign not in SIGN_MODES and "://" not in self.sign:
            raise InvalidValueError(
                f"ci-template: unknown sign {self.sign!r} (choose off, keyless, key or a KMS"
                " URI such as awskms://...)"
            )
        if self.variant not in VARIANTS[self.provider]:
            raise InvalidValueError(
                f"ci-template: variant {self.variant!r} is not available for {self.provider}"
                f" (choose {' or '.join(VARIANTS[self.provider])})"
            )


def package_version() -> str:
    """The version of multiarch-tasks, which the install step pins (as installed)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("multiarch-tasks")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


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


def registry_for(settings: Settings, options: CiOptions) -> str:
    """The registry the jobs log in to: the option, else the image's."""
    if options.registry:
        return options.registry
    if settings.image:
        return settings.image_ref.registry
    return "ghcr.io" if options.provider == "github" else "$CI_REGISTRY"


def uses_token(registry: str, options: CiOptions) -> bool:
    """Log in with the provider's own token (ghcr.io, the GitLab registry) or named secrets."""
    if options.login != "auto":
        return options.login == "token"
    if options.provider == "github":
        return registry == "ghcr.io"
    return registry in {"$CI_REGISTRY", "registry.gitlab.com"}


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ci_variables(settings: Settings) -> dict[str, str]:
    """Build args a written job must not carry: name -> the CI variable it reads instead.

    A secret-looking name (``API_TOKEN``) or a value with credentials in a URL
    (``postgres://u:pw@db/x``, ``?token=``) is written as ``NAME=$NAME``: the job's shell
    takes the value from a masked CI/CD variable of that name. Writing ``***`` would hide
    the value and break the build; writing the value would publish it with the pipeline.
    """
    out: dict[str, str] = {}
    for name, value in settings.build_args.items():
        if looks_secret(name) or scrub_text(value) != value:
            out[name] = name if _ENV_NAME.fullmatch(name) else re.sub(r"\W", "_", name).upper()
    return out


def job_build_args(settings: Settings) -> dict[str, str]:
    """The build args as a written job passes them: secret ones as ``$VARIABLE``."""
    hidden = ci_variables(settings)
    return {
        name: f"${hidden[name]}" if name in hidden else value
        for name, value in settings.build_args.items()
    }


def sh_word(arg: str) -> str:
    """Quote one argv element for a POSIX shell, keeping ``$VAR`` references live."""
    if "$" not in arg:
        return shlex.quote(arg)
    return '"' + re.sub(r'(["\\`])', r"\\\1", arg) + '"'


def sh_join(argv: Sequence[str]) -> str:
    """An argv list as one shell line (``$VAR`` expanded by the CI's shell)."""
    return " ".join(sh_word(a) for a in argv)


def login_line(
    registry: str, user: str, password: str, program: str = "docker", flags: Sequence[str] = ()
) -> str:
    """``PROGRAM login`` reading the password from stdin: the value never is in argv."""
    extra = "".join(f" {flag}" for flag in flags)
    # Options before the registry: buildah stops reading options at the first argument.
    return (
        f"printf '%s' \"{password}\" | {program} login{extra}"
        f' --username "{user}" --password-stdin {sh_word(registry)}'
    )


def check_hosted(settings: Settings, options: CiOptions) -> None:
    """Refuse what cannot work on a hosted runner: no image, a loopback registry."""
    if not settings.image:
        raise InvalidValueError(
            "ci-template: no image set: the jobs would have nothing to publish; pass --image"
            " REGISTRY/REPO, set image in [tool.multiarch-tasks], or --registry REGISTRY to"
            " take REGISTRY/<owner>/<repo> from the git remote"
        )
    if options.local_registry:
        return
    for name, host in (("image", settings.image_ref.registry), ("registry", options.registry)):
        if host and is_loopback_host(host):
            raise InvalidValueError(
                f"ci-template: {name} {settings.image if name == 'image' else host}: {host} is"
                " a loopback registry a hosted runner cannot reach; set image (or --registry)"
                " to one the runners reach, or pass --local-registry for runners on this"
                " machine (ci-rehearse, self-hosted)"
            )


# Settings a ci-template flag gives are written into the jobs' commands: the project's
# own settings, read when the job runs, do not hold them.
_GIVEN = {"image": "--image", "tags": "--tag", "platforms": "--platforms", "file": "--file",
          "context": "--context"}  # fmt: skip


def given_flags(settings: Settings, *keys: str) -> str:
    """`` --image R/APP --tag 1.0``: the ``keys`` given on ci-template's command line."""
    values = {
        "image": settings.image,
        "tags": ",".join(settings.tags),
        "platforms": ",".join(map(str, settings.platforms)),
        "file": settings.file,
        "context": settings.context,
    }
    return "".join(
        f" {_GIVEN[key]} {sh_word(values[key])}"
        for key in keys
        if settings.sources.get(key, "").startswith("command line")
    )


def install_spec(settings: Settings, options: CiOptions) -> str:
    """What the install step pip-installs: the ``install`` setting, else what is installed here.

    Read from the installed distribution's ``direct_url.json`` (PEP 610): a VCS install
    gives its URL pinned to the commit, an archive URL its URL with its hash, an index
    install (no direct_url.json) its version. A local directory, file or editable install
    has no URL a runner could install from: refused, naming the setting.
    """
    if options.install or settings.install:
        return options.install or settings.install
    from importlib.metadata import distributions  # noqa: PLC0415

    # The installed one: a source checkout's multiarch_tasks.egg-info (on sys.path when
    # run from the checkout) is no install; an installer (pip, uv) writes INSTALLER.
    dist = next(
        (d for d in distributions(name="multiarch-tasks") if d.read_text("INSTALLER")), None
    )
    if dist is None:
        raise _no_install("multiarch-tasks is not installed here (a source checkout)")
    text = dist.read_text("direct_url.json")
    if not text:  # from an index: that very version
        return f"multiarch-tasks=={dist.version}"
    return spec_from_direct_url(json.loads(text))


def spec_from_direct_url(data: dict[str, object]) -> str:
    """The pip requirement a PEP 610 ``direct_url.json`` describes, or the refusal."""
    url = str(data.get("url", ""))
    vcs = data.get("vcs_info")
    archive = data.get("archive_info")
    local = url.startswith("file:")
    if isinstance(vcs, dict) and vcs.get("commit_id"):
        # A clone on this machine (file://) is not reachable from a runner either, but it
        # is what a test installs from; a remote URL is what a project pins.
        sub = data.get("subdirectory")
        fragment = f"#subdirectory={sub}" if sub else ""
        return f"multiarch-tasks @ {vcs.get('vcs', 'git')}+{url}@{vcs['commit_id']}{fragment}"
    if isinstance(archive, dict) and not local:
        hashes = archive.get("hashes") or {}
        fragment = next(iter(f"#{k}={v}" for k, v in dict(hashes).items()), "")
        return f"multiarch-tasks @ {url}{fragment}"
    dir_info = data.get("dir_info")
    editable = isinstance(dir_info, dict) and dir_info.get("editable")
    where = "an editable install" if editable else "a local path"
    raise _no_install(f"multiarch-tasks is {where} here ({url})")


def _no_install(why: str) -> InvalidValueError:
    return InvalidValueError(
        f"ci-template: {why}, which a runner cannot install; set install to the pip"
        ' requirement the jobs install, e.g. install = "multiarch-tasks @'
        ' git+https://github.com/OWNER/multiarch-tasks@COMMIT"'
    )


def pip_cache_files(options: CiOptions) -> list[str]:
    """The files setup-python's pip cache keys on, if the repository has any.

    ``cache: pip`` fails the job when none of them exists (a Go project has neither).
    """
    from pathlib import Path  # noqa: PLC0415

    root = Path(options.project)
    if (root / "pyproject.toml").is_file():
        return ["pyproject.toml"]
    return sorted(p.name for p in root.glob("requirements*.txt") if p.is_file())


def cache_mode(settings: Settings, default: str = "auto") -> str:
    """The cache the jobs use: the project's ``cache`` setting when it has one, else ``default``."""
    return settings.cache if "cache" in settings.sources else default


def layer_cache_repo(settings: Settings, variant: str) -> str:
    """Where kaniko or buildah keep each step's layer: ``IMAGE/buildcache`` ("" for none).

    They have no ``gha`` or ``inline`` cache: the project's ``cache`` setting may be
    ``registry`` or ``auto`` (the default: a registry cache) or ``none``.
    """
    mode = cache_mode(settings, "registry")
    if mode == "none":
        return ""
    if mode not in {"auto", "registry"}:
        raise InvalidValueError(
            f"ci-template: {variant} keeps its cache in a registry: the cache setting"
            f" {mode!r} is buildx's; use registry, auto or none"
        )
    return f"{settings.image_ref.name}/buildcache"


def cache_flag(settings: Settings, default: str = "auto") -> str:
    """`` --cache auto`` unless the project sets ``cache`` (the job then reads the setting)."""
    return "" if "cache" in settings.sources else f" --cache {default}"


def sign_mode(settings: Settings) -> str:
    """The ``sign`` option the settings ask for: ``sign`` and ``sign_key`` as publish reads them.

    A key file on this machine is not in the CI job: the job reads it from a secret.
    """
    if not settings.sign:
        return "off"
    if not settings.sign_key:
        return "keyless"
    return settings.sign_key if "://" in settings.sign_key else "key"


def sign_flags(options: CiOptions) -> str:
    """What ``multiarch merge`` gets for ``options.sign`` ("" when off)."""
    if options.sign == "off":
        return ""
    if options.sign == "keyless":
        return " --sign"
    key = "env://COSIGN_KEY" if options.sign == "key" else options.sign
    return f" --sign --sign-key {sh_word(key)}"
