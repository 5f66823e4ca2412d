"""What docker and buildx print, parsed into typed values.

The engine (``docker info``: version, image store), builders and their nodes (``buildx
inspect`` and both forms of ``buildx ls``: driver, endpoints, status, each node's declared
and supported platforms), and what ``buildx build --metadata-file`` says was pushed. Pure
parsers, each tested on the real outputs in ``shared/fixtures/buildx/``; the probes that
produce these outputs run in :mod:`multiarch_tasks.engine.facts`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from multiarch_tasks.model.errors import InvalidValueError
from multiarch_tasks.model.platforms import Platform

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
