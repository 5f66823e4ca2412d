"""Facts: what is really there, gathered once per task call, as typed values.

The engine (version, image store), buildx (version), the builder buildx would use (its
driver, nodes, endpoints, status, each node's declared and supported platforms), the
binfmt_misc handlers, which helper programs exist, and the git labels of the context.
Independent probes run concurrently; all are read-only, so they also run under ``--dry``.
What the probes print is parsed in :mod:`multiarch_tasks.engine.buildx_outputs` (its names
stay importable from here).

Nothing here decides anything: :mod:`multiarch_tasks.planning.plan.make` does, from these values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import binfmt, commands
from multiarch_tasks.engine.buildx_outputs import (
    BUILDKIT_DRIVERS,
    CLASSIC_STORE,
    CONTAINERD_STORE,
    Builder,
    Engine,
    Metadata,
    Node,
    parse_docker_info,
    parse_inspect,
    parse_ls_json,
    parse_ls_text,
    parse_metadata,
    read_metadata,
)
from multiarch_tasks.engine.runner import Result, Runner, which
from multiarch_tasks.model.errors import CommandError, DockerfileError, ToolMissingError
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef, scrub_url, source_url

if TYPE_CHECKING:
    from multiarch_tasks.engine.tools import BuildxInfo

# The parsers' names stay importable from here, where planning and the steps take them.
__all__ = [
    "BUILDKIT_DRIVERS",
    "CLASSIC_STORE",
    "CONTAINERD_STORE",
    "PROBE_TIMEOUT",
    "Builder",
    "Engine",
    "Facts",
    "Metadata",
    "Node",
    "Probing",
    "base_images",
    "base_registries",
    "gather",
    "parse_docker_info",
    "parse_inspect",
    "parse_ls_json",
    "parse_ls_text",
    "parse_metadata",
    "probe",
    "read_handlers",
    "read_metadata",
    "requested_builder",
]


@dataclass(frozen=True)
class Facts:
    """Everything a plan is decided from."""

    host: Platform
    engine: Engine | None = None
    buildx: BuildxInfo | None = None
    builder: Builder | None = None  # None: the builder does not exist (yet)
    builder_name: str = ""
    builder_source: str = ""  # why this builder: setting, BUILDX_BUILDER, current builder
    handlers: Mapping[str, binfmt.Handler] = field(default_factory=dict)
    binfmt_mounted: bool = True
    host_emulators: frozenset[str] = frozenset()  # qemu names with a host static emulator
    programs: frozenset[str] = frozenset()  # update-binfmts, skopeo, buildah, git
    labels: Mapping[str, str] = field(default_factory=dict)
    base_registries: tuple[str, ...] = ()  # where the Dockerfile pulls from (ARGs expanded)
    gha_cache: bool = False  # a GitHub Actions job whose cache service buildx can reach

    def handler(self, platform: Platform) -> binfmt.Handler | None:
        """The binfmt handler that runs ``platform``'s binaries, if registered."""
        return self.handlers.get(f"qemu-{platform.qemu_name}")


def gha_cache_available(env: Mapping[str, str]) -> bool:
    """True in a GitHub Actions job whose runtime (token and cache URL) buildx can read.

    A ``run:`` step does not get ``ACTIONS_RUNTIME_TOKEN``: only an action does, so the
    workflow exposes it (crazy-max/ghaction-github-runtime). The cache service is
    ``ACTIONS_CACHE_URL`` (v1) or ``ACTIONS_RESULTS_URL`` (v2, buildx >= 0.21).
    """
    return (
        env.get("GITHUB_ACTIONS") == "true"
        and bool(env.get("ACTIONS_RUNTIME_TOKEN"))
        and bool(env.get("ACTIONS_CACHE_URL") or env.get("ACTIONS_RESULTS_URL"))
    )


def read_handlers(root: Path = binfmt.BINFMT_DIR) -> dict[str, binfmt.Handler]:
    """Every ``qemu-*`` entry in binfmt_misc."""
    out: dict[str, binfmt.Handler] = {}
    try:
        names = sorted(p.name for p in root.iterdir() if p.name.startswith("qemu-"))
    except OSError:
        return out
    for name in names:
        handler = binfmt.read_handler(name, root)
        if handler is not None:
            out[name] = handler
    return out


def _host_emulators(platforms: tuple[Platform, ...]) -> frozenset[str]:
    return frozenset(
        p.qemu_name
        for p in platforms
        if which(f"qemu-{p.qemu_name}-static")
        or Path(f"/usr/libexec/qemu-binfmt/{p.qemu_name}-binfmt-P").exists()
    )


def requested_builder(settings: Settings) -> tuple[str, str]:
    """(name or "", why): ``builder``, else a builder to create for ``driver``, else buildx's.

    An empty name means "what ``docker buildx inspect`` without a name answers", which is
    buildx's own rule: ``BUILDX_BUILDER``, else the current builder.
    """
    if settings.builder:
        return settings.builder, "the builder setting"
    if settings.driver and settings.driver != "docker":
        return "multiarch", f"driver {settings.driver} (created as 'multiarch')"
    if os.environ.get("BUILDX_BUILDER"):
        return "", "BUILDX_BUILDER"
    return "", "the current builder"


PROBE_TIMEOUT = 120.0


# Two git probes: the commit and its time in one (the commit time, not "now": rebuilding
# the same commit gives the same config), the remote in the other.
_GIT_PROBES = (("log", "-1", "--format=%H%n%cI"), ("config", "--get", "remote.origin.url"))


def _labels(results: list[Result]) -> dict[str, str]:
    commit, remote = results
    labels: dict[str, str] = {}
    if commit.ok and len(commit.stdout.split()) == 2:  # noqa: PLR2004 - hash, time
        revision, created = commit.stdout.split()
        labels["org.opencontainers.image.revision"] = revision
        labels["org.opencontainers.image.created"] = created
    # A web URL (GHCR links the package to its repository by it), never the ssh form,
    # and never the tokens CI checkouts embed in the origin URL.
    source = source_url(remote.stdout) if remote.ok else ""
    if source:
        labels["org.opencontainers.image.source"] = scrub_url(source)
    return labels


def _docker_facts(
    results: list[Result], name: str, *, versions: bool
) -> tuple[Engine, BuildxInfo | None, Builder | None]:
    """The engine, buildx and builder from the first probes' answers (see :func:`gather`)."""
    inspected, info = results[:2]  # the order Probing starts them in
    buildx = None
    if versions:  # doctor asks; packaging (~10 ms) is not loaded for a run
        from multiarch_tasks.engine.tools import BuildxInfo, parse_version  # noqa: PLC0415

        buildx = BuildxInfo(parse_version(results[2].stdout.split(" ", 1)[-1]))
    if not info.ok:
        raise ToolMissingError(
            f"the Docker daemon is not running or not reachable: {info.stderr.strip()[-200:]}"
        )
    engine = parse_docker_info(info.stdout, os.environ.get("DOCKER_HOST", ""))
    # docker CLI 28: "unknown command: docker buildx"; older: "'buildx' is not a docker command"
    if re.search(
        r"unknown command: docker buildx|'buildx' is not a docker command", inspected.stderr
    ):
        raise ToolMissingError(
            "docker buildx is not installed (`docker buildx` is not a docker command)"
        )
    if inspected.ok:
        return engine, buildx, parse_inspect(inspected.stdout)
    if not name:
        raise CommandError(commands.buildx_inspect(name), inspected.returncode, inspected.stderr)
    return engine, buildx, None  # the named builder does not exist (yet)


class Probing:
    """Probes under way: started by :func:`probe`, read by :meth:`facts`.

    The probes (buildx inspect first, the slowest; docker info; git) start at once, side by
    side, on the calling thread, which goes on (imports the planner, reads the registry)
    while they answer: a process needs no thread of ours to run.
    """

    def __init__(
        self, settings: Settings, runner: Runner, *, docker: bool | None, versions: bool
    ) -> None:
        self.settings = settings
        self.need_docker = settings.backend == "buildx" if docker is None else docker
        if self.need_docker and which("docker") is None:
            raise ToolMissingError("docker is not installed (no `docker` on PATH)")
        self.versions = versions
        self.name, self.why = requested_builder(settings)
        argvs: list[list[str]] = []
        if self.need_docker:
            argvs += [commands.buildx_inspect(self.name), commands.docker_info()]
            if versions:
                argvs.append(commands.buildx_version())
        self.has_git = which("git") is not None
        if self.has_git:
            argvs += [["git", "-C", settings.context, *a] for a in _GIT_PROBES]
        self._probes = [runner.start_probe(argv, timeout=PROBE_TIMEOUT) for argv in argvs]

    def facts(self) -> Facts:
        """Wait for the probes; the facts they and the host's files tell."""
        results = [p.wait() for p in self._probes]
        settings, name = self.settings, self.name
        engine = buildx = builder = None
        if self.need_docker:
            engine, buildx, builder = _docker_facts(results, name, versions=self.versions)
            name = builder.name if builder is not None else name
            results = results[2 + self.versions :]
        return Facts(
            host=Platform.host(),
            engine=engine,
            buildx=buildx,
            builder=builder,
            builder_name=name,
            builder_source=self.why,
            handlers=read_handlers(),
            binfmt_mounted=binfmt.is_mounted(),
            host_emulators=_host_emulators(settings.platforms),
            programs=frozenset(
                p for p in ("update-binfmts", "skopeo", "buildah", "git") if which(p)
            ),
            labels=_labels(results) if self.has_git else {},
            base_registries=base_registries(settings),
            gha_cache=gha_cache_available(os.environ),
        )


def probe(
    settings: Settings, runner: Runner, *, docker: bool | None = None, versions: bool = False
) -> Probing:
    """Start the read-only probes (concurrently, in the background); see :func:`gather`."""
    return Probing(settings, runner, docker=docker, versions=versions)


def gather(
    settings: Settings, runner: Runner, *, docker: bool | None = None, versions: bool = False
) -> Facts:
    """Run the read-only probes (concurrently) and return the facts.

    ``docker`` (default: the buildx backend needs it) asks for the engine and the builder;
    without it only binfmt_misc, programs and git are read. ``versions`` also asks buildx
    for its version (doctor); nothing a run decides depends on it, so a run does not ask.
    """
    return probe(settings, runner, docker=docker, versions=versions).facts()


def base_images(settings: Settings) -> tuple[ImageRef, ...]:
    """Every image the build pulls: each reachable stage's base and ``COPY --from`` image.

    Read with the project's Dockerfile parser, so ``ARG BASE=...`` / ``FROM ${BASE}`` is
    expanded as BuildKit does; () when the Dockerfile cannot be read (preflight says why).
    """
    # Imported here: the parser is not needed before the probes are started.
    from multiarch_tasks.model.dockerfile import parser as dockerfile  # noqa: PLC0415

    try:
        parsed = dockerfile.parse_file(settings.dockerfile, settings.build_args)
        stages = parsed.reachable(settings.target)
    except DockerfileError:
        return ()
    refs: list[ImageRef] = []
    for image in [s.image for s in stages if s.image] + [u.image for u in parsed.uses]:
        try:
            ref = ImageRef.parse(image)
        except ValueError:
            continue
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


def base_registries(settings: Settings) -> tuple[str, ...]:
    """The registries the build pulls from (:func:`base_images`' hosts, in order)."""
    return tuple(dict.fromkeys(ref.registry for ref in base_images(settings)))
