"""Facts: what is really there, gathered once per task call, as typed values.

The engine (version, image store), buildx (version), the builder buildx would use (its
driver, nodes, endpoints, status, each node's declared and supported platforms), the
binfmt_misc handlers, which helper programs exist, and the git labels of the context.
Independent probes run concurrently; all are read-only, so they also run under ``--dry``.
Every parser here is tested on the real outputs in ``shared/fixtures/buildx/``.

Nothing here decides anything: :mod:`multiarch_tasks.planning.plan.make` does, from these values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import binfmt, commands
from multiarch_tasks.engine.runner import Result, Runner, which
from multiarch_tasks.model.errors import (
    CommandError,
    DockerfileError,
    InvalidValueError,
    ToolMissingError,
)
from multiarch_tasks.model.platforms import Platform
from multiarch_tasks.model.reference import ImageRef, scrub_url

if TYPE_CHECKING:
    from multiarch_tasks.engine.tools import BuildxInfo

CONTAINERD_STORE = "containerd"
CLASSIC_STORE = "classic"
# Drivers whose builds run in BuildKit proper: registry cache export, push-by-digest,
# multi-platform images whatever the engine's image store.
BUILDKIT_DRIVERS = frozenset({"docker-container", "remote", "kubernetes"})
_REMOTE_SCHEMES = ("tcp://", "ssh://", "kube-pod://", "docker-container://")


# --- engine ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """The Docker Engine the CLI talks to (``DOCKER_HOST`` / the current context)."""

    version: str
    image_store: str  # "containerd" or "classic"
    host: str = ""

    @property
    def containerd_store(self) -> bool:
        """True with the containerd image store (multi-platform images, attestations)."""
        return self.image_store == CONTAINERD_STORE

    def describe(self) -> str:
        """``engine 26.1.5 (containerd image store) at unix:///...``."""
        where = f" at {self.host}" if self.host else ""
        return f"engine {self.version} ({self.image_store} image store){where}"


def parse_docker_info(text: str, host: str = "") -> Engine:
    """Parse ``docker info --format '{{json .}}'``.

    The containerd image store shows as ``DriverStatus: [["driver-type",
    "io.containerd.snapshotter.v1"]]``; the classic store names a graph driver (overlay2).
    """
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidValueError(f"docker info printed no JSON: {text[:80]!r}") from err
    status = data.get("DriverStatus") or []
    containerd = any(
        isinstance(row, list) and len(row) == 2 and "containerd.snapshotter" in str(row[1])  # noqa: PLR2004
        for row in status
    )
    return Engine(
        str(data.get("ServerVersion") or ""),
        CONTAINERD_STORE if containerd else CLASSIC_STORE,
        host,
    )


# --- builders -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One builder node: where it is, and the platforms it declares and supports.

    ``declared`` are the platforms given with ``--platform`` at creation (buildx marks them
    with ``*``); ``supported`` is everything BuildKit reports (declared first).
    """

    name: str
    endpoint: str
    status: str = ""
    declared: tuple[Platform, ...] = ()
    supported: tuple[Platform, ...] = ()

    @property
    def is_remote(self) -> bool:
        """True when the node runs on another machine (its platforms are its own)."""
        return self.endpoint.startswith(_REMOTE_SCHEMES)


@dataclass(frozen=True)
class Builder:
    """A buildx builder as ``docker buildx inspect`` describes it."""

    name: str
    driver: str
    nodes: tuple[Node, ...] = ()

    @property
    def buildkit(self) -> bool:
        """True for BuildKit-proper drivers (docker-container, remote, kubernetes)."""
        return self.driver in BUILDKIT_DRIVERS

    def node_for(self, platform: Platform) -> tuple[Node, str] | None:
        """Where buildx sends ``platform``, and why (buildx's node resolver rule).

        A node that declares the platform first; else the first node that supports it;
        else the first node (buildx's fallback, which then needs an emulator there).
        """
        for node in self.nodes:
            if platform in node.declared:
                return node, "declared"
        for node in self.nodes:
            if platform in node.supported:
                return node, "supported"
        return (self.nodes[0], "fallback") if self.nodes else None


def _platform_list(text: str) -> tuple[tuple[Platform, ...], tuple[Platform, ...]]:
    """(declared, supported) from ``linux/amd64*, linux/arm64, ...``."""
    declared: list[Platform] = []
    supported: list[Platform] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            platform = Platform.parse(item.rstrip("*"))
        except ValueError:
            continue  # BuildKit lists platforms we do not model (linux/ppc64, mips64)
        if item.endswith("*") and platform not in declared:
            declared.append(platform)
        if platform not in supported:
            supported.append(platform)
    return tuple(declared), tuple(supported)


def _node(data: Mapping[str, str]) -> Node:
    declared, supported = _platform_list(data.get("Platforms", ""))
    return Node(
        data.get("Name", ""),
        data.get("Endpoint", ""),
        data.get("Status", ""),
        declared,
        supported,
    )


def parse_inspect(text: str) -> Builder:
    """Parse ``docker buildx inspect`` (the text form, stable across buildx 0.10-0.2x)."""
    name = driver = ""
    nodes: list[Node] = []
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        key, sep, value = raw.partition(":")
        if not sep or raw.startswith(" "):
            continue  # labels and GC policy lines are indented
        key, value = key.strip(), value.strip()
        if key == "Name" and current is None and not name:
            name = value
        elif key == "Driver" and current is None:
            driver = value
        elif key == "Name":
            if current is not None:
                nodes.append(_node(current))
            current = {"Name": value}
        elif current is not None and key in {"Endpoint", "Status", "Platforms"}:
            current[key] = value
    if current is not None:
        nodes.append(_node(current))
    return Builder(name, driver, tuple(nodes))


def parse_ls_json(text: str) -> tuple[Builder, ...]:
    """Parse ``docker buildx ls --format json`` (one builder a line).

    The JSON form does not mark declared platforms (buildx lists them first, unmarked):
    callers that need declarations use ``buildx inspect``. buildx 0.13 prints a builder
    once more per node and once more again (seen in the fixture): the first is kept.
    """
    out: list[Builder] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        if any(b.name == data.get("Name") for b in out):
            continue
        nodes = tuple(
            Node(
                str(n.get("Name", "")),
                str(n.get("Endpoint", "")),
                str(n.get("Status", "")),
                (),
                _platform_list(", ".join(n.get("Platforms") or []))[1],
            )
            for n in data.get("Nodes") or []
        )
        out.append(Builder(str(data.get("Name", "")), str(data.get("Driver", "")), nodes))
    return tuple(out)


def parse_ls_text(text: str) -> tuple[tuple[Builder, ...], str]:
    """Parse ``docker buildx ls``: the builders and the current one (marked ``*``)."""
    builders: list[Builder] = []
    current = ""
    name = driver = ""
    nodes: list[Node] = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            if name:
                builders.append(Builder(name, driver, tuple(nodes)))
            parts = line.split()
            name, driver, nodes = parts[0], (parts[1] if len(parts) > 1 else ""), []
            if name.endswith("*"):
                name = name.rstrip("*")
                current = name
            continue
        cells = line.replace("\\_", "").split()
        if len(cells) >= 3:  # noqa: PLR2004 - name, endpoint, status, [version, platforms]
            rest = line.split(cells[2], 1)[1] if len(cells) > 3 else ""  # noqa: PLR2004
            platforms = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
            declared, supported = _platform_list(platforms)
            nodes.append(Node(cells[0], cells[1], cells[2], declared, supported))
    if name:
        builders.append(Builder(name, driver, tuple(nodes)))
    return tuple(builders), current


# --- build metadata -------------------------------------------------------------------


@dataclass(frozen=True)
class Metadata:
    """What ``buildx build --metadata-file`` says was pushed."""

    digest: str  # containerimage.digest: what the registry got
    descriptor_digest: str  # containerimage.descriptor.digest: what this build exported
    name: str = ""

    @property
    def consistent(self) -> bool:
        """True when the push carried this build's own export (see issue 9: a race)."""
        return not self.descriptor_digest or self.descriptor_digest == self.digest


def parse_metadata(text: str, source: str = "metadata") -> Metadata:
    """Parse a buildx metadata file; fail naming it when it holds no pushed digest."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidValueError(f"{source} is not JSON: {err}") from err
    digest = data.get("containerimage.digest", "")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise InvalidValueError(f"{source} has no containerimage.digest")
    descriptor = data.get("containerimage.descriptor") or {}
    return Metadata(digest, str(descriptor.get("digest") or ""), str(data.get("image.name", "")))


def read_metadata(path: str | Path) -> Metadata:
    """Read and parse the metadata file buildx wrote."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise InvalidValueError(f"buildx wrote no readable metadata file {path}: {err}") from err
    return parse_metadata(text, str(path))


# --- all of it ------------------------------------------------------------------------


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

    def handler(self, platform: Platform) -> binfmt.Handler | None:
        """The binfmt handler that runs ``platform``'s binaries, if registered."""
        return self.handlers.get(f"qemu-{platform.qemu_name}")


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
    if remote.ok and remote.stdout.strip():
        labels["org.opencontainers.image.source"] = remote.stdout.strip()
    source = "org.opencontainers.image.source"
    if source in labels:
        # CI checkouts embed tokens in the origin URL: never into a label.
        labels[source] = scrub_url(labels[source])
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
    while they answer. Started from worker threads instead, they waited up to ~30 ms for
    the interpreter while the planner was imported.
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
