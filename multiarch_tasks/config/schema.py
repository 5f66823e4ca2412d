"""What can be set: the frozen :class:`Settings`, its builder :class:`Node` s, the choices.

One field per config key, with its built-in default; the enumerated keys' allowed values
(:data:`CHOICES`). How a raw value becomes a field's value is :mod:`.keys`'; where the
values come from and how they are merged is :mod:`.settings`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef, fit_tag

# Pinned: binfmt's `latest` has shipped segfaulting QEMU builds more than once.
DEFAULT_BINFMT_IMAGE = "tonistiigi/binfmt:qemu-v8.1.5"

CHOICES: dict[str, tuple[str, ...]] = {
    "strategy": ("auto", "per-arch", "multi-platform"),
    "backend": ("buildx", "buildah"),
    "manifest_tool": ("auto", "imagetools", "docker", "native"),
    "attestations": ("auto", "on", "off"),
    "attestation_artifacts": ("auto", "on", "off"),
    # buildx --provenance mode=min|max; auto: what `attestations` gives
    "provenance": ("auto", "min", "max"),
    "qemu_mode": ("auto", "docker", "host", "off"),
    # "" = not set: use the builder buildx would use, with whatever driver it has.
    "driver": ("", "docker", "docker-container", "remote"),
    "per_arch_tags": ("auto", "always"),
    "media_type": ("oci", "docker"),
    # auto: gha in a GitHub job with its cache service, else registry where the builder
    # can export a cache, else none (the plan says which and why).
    "cache": ("none", "auto", "gha", "registry", "inline"),
    # auto: the ELF programs of the layers this build added (publish); all: every layer.
    "verify_deep": ("auto", "all", "off"),
    # auto: tty (the live view) when stderr is a terminal and CI is unset, else plain;
    # json: one event per line on stderr.
    "progress": ("auto", "tty", "plain", "json"),
}


@dataclass(frozen=True)
class Node:
    """A builder node appended to the builder (e.g. a native arm64 box over ssh)."""

    endpoint: str
    platforms: tuple[Platform, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Settings:
    """Every option of every step; built by :func:`resolve`, never mutated."""

    image: str = ""
    tags: tuple[str, ...] = ("latest",)
    platforms: tuple[Platform, ...] = (Platform("linux", "amd64"), Platform("linux", "arm64"))
    context: str = "."
    file: str = ""
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    secrets: tuple[str, ...] = ()
    strategy: str = "auto"
    # auto: per-arch tags only where the builder cannot push by digest; always: every time.
    per_arch_tags: str = "auto"
    backend: str = "buildx"
    jobs: int = 0
    output_dir: str = ".multiarch"
    push: bool = True
    # build/merge write OCI layouts under output_dir instead of pushing (fork pull requests)
    layout: bool = False
    # attestations
    attestations: str = "auto"
    attestation_artifacts: str = "auto"
    provenance: str = "auto"  # min|max: buildx --provenance mode=...
    sbom: bool = False  # buildx --sbom; verify --attestations then requires one per platform
    sbom_generator: str = ""  # the SBOM scanner image ("" = BuildKit's, on Docker Hub)
    # cache
    cache: str = "none"
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    no_cache: bool = False  # buildx --no-cache: build every step again
    pull: bool = False  # buildx --pull: fetch the base images again, not the cached ones
    # builder
    builder: str = ""
    driver: str = ""
    driver_opts: tuple[str, ...] = ()
    buildkitd_config: str = ""
    nodes: tuple[Node, ...] = ()
    use_builder: bool = False
    bootstrap: bool = True
    # QEMU
    qemu_mode: str = "auto"
    binfmt_image: str = DEFAULT_BINFMT_IMAGE
    # registries
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: Mapping[str, str] = field(default_factory=dict)
    retries: int = 3
    timeout: float = 0.0
    # Bytes a manifest, index or config read into memory may hold (docker's 4 MiB).
    max_manifest_size: int = 4 << 20
    # manifest
    manifest_tool: str = "auto"
    media_type: str = "oci"
    # checks
    preflight: bool = True
    allow_unreachable: bool = False
    allow_buildplatform_final: bool = False
    verify: bool = True
    # auto|all|off; true and false (the old switch) are read as all and off.
    verify_deep: str = "auto"
    verify_run: tuple[str, ...] = ()
    # each platform's attestations describe it: subjects, provenance platform and source
    verify_attestations: bool = False
    # signing (cosign): publish signs the verified index before any tag moves
    sign: bool = False
    sign_key: str = ""  # a key file or a KMS URI; "" = keyless (the CI job's OIDC token)
    sign_platforms: bool = False  # also each platform manifest (publish and verify)
    sign_tlog: bool = True  # upload to / check the transparency log (Rekor)
    # verify: the signature to require (a public key, or a keyless identity and issuer)
    signed_by: str = ""
    certificate_identity: str = ""
    certificate_oidc_issuer: str = ""
    # ci-template: the line the CI jobs pip-install multiarch-tasks with ("" = how it is
    # installed here: a VCS URL pinned to its commit, or an index version pinned)
    install: str = ""
    # output: how progress is shown (multiarch_tasks.engine.progress)
    progress: str = "auto"
    # tags from git: metadata-action-style rules (multiarch_tasks.planning.gittags), applied by the
    # tasks before any step when set and no --tag is given
    tag_rules: tuple[Any, ...] = ()
    # Where each key's value came from ("command line", "invoke.yaml:3"), so checks made
    # later (check_output_dir) can say so; not a config key, not compared.
    sources: Mapping[str, str] = field(
        default_factory=dict, compare=False, repr=False, metadata={"config": False}
    )

    @property
    def image_ref(self) -> ImageRef:
        """The image repository as a reference (tag-less); error when unset."""
        if not self.image:
            raise InvalidValueError(
                "no image set: pass --image REGISTRY/REPO or set multiarch.image"
            )
        ref = ImageRef.parse(self.image, default_tag="")
        if ref.tag or ref.digest:
            raise InvalidValueError(
                f"image {self.image!r} must not carry a tag or digest; use --tag for tags"
            )
        return ref

    def ref(self, tag: str | None = None) -> ImageRef:
        """``image:tag`` (the first tag by default)."""
        return self.image_ref.with_tag(tag or self.tags[0])

    def per_arch_ref(self, platform: Platform, tag: str | None = None) -> ImageRef:
        """``IMAGE:TAG-<os>-<arch>[-<variant>]``, the article's per-arch tag.

        At most 128 characters: a TAG too long for the suffix is shortened and hashed.
        """
        return self.image_ref.with_tag(fit_tag(tag or self.tags[0], f"-{platform.tag_suffix}"))

    @property
    def deep_scope(self) -> str:
        """``verify_deep`` as auto, all or off (a bool given from Python: all or off)."""
        value: object = self.verify_deep
        if isinstance(value, bool):
            return "all" if value else "off"
        return str(value)

    @property
    def dockerfile(self) -> str:
        """The Dockerfile path: ``file`` or ``CONTEXT/Dockerfile``."""
        return self.file or str(Path(self.context) / "Dockerfile")

    def is_insecure(self, registry: str) -> bool:
        """Plain HTTP for loopback registries and those listed in ``insecure_registries``."""
        return ImageRef(registry, "x").is_loopback or registry in self.insecure_registries
