"""builder-create: an idempotent buildx builder that covers the target platforms.

A builder of that name is reused when it exists and covers the platforms (natively or via
an enabled QEMU handler); otherwise it is created (``docker-container``/``remote``) with a
generated buildkitd config for plain-HTTP registries and mirrors, and configured native
nodes are appended. The ``docker`` driver is the engine's own builder and cannot be
created, only reused. The user's current builder is never switched unless asked (``use``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from multiarch_tasks import binfmt, commands
from multiarch_tasks.errors import MultiarchError
from multiarch_tasks.platforms import Platform
from multiarch_tasks.runner import Runner
from multiarch_tasks.settings import Settings


@dataclass(frozen=True)
class BuilderNode:
    """One node of a builder and the platforms it reports."""

    name: str
    endpoint: str
    status: str
    platforms: tuple[Platform, ...]


@dataclass(frozen=True)
class BuilderInfo:
    """What ``docker buildx inspect`` says about a builder."""

    name: str
    driver: str
    nodes: tuple[BuilderNode, ...]

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """Every platform any node reports."""
        out: list[Platform] = []
        for node in self.nodes:
            out += [p for p in node.platforms if p not in out]
        return tuple(out)

    def node_for(self, platform: Platform) -> BuilderNode | None:
        """The first node that reports ``platform``."""
        return next((n for n in self.nodes if platform in n.platforms), None)


def _parse_platform_list(text: str) -> tuple[Platform, ...]:
    out: list[Platform] = []
    for raw in text.split(","):
        item = raw.strip().rstrip("*")
        if not item:
            continue
        try:
            plat = Platform.parse(item)
        except ValueError:
            continue  # buildkit lists platforms we do not model (linux/ppc64, mips64)
        if plat not in out:
            out.append(plat)
    return tuple(out)


def parse_inspect(text: str) -> BuilderInfo:
    """Parse ``docker buildx inspect`` output (the text form, stable across 0.10-0.2x)."""
    name = driver = ""
    nodes: list[BuilderNode] = []
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        key, sep, value = raw.partition(":")
        if not sep:
            continue
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
    return BuilderInfo(name, driver, tuple(nodes))


def _node(data: dict[str, str]) -> BuilderNode:
    return BuilderNode(
        data.get("Name", ""),
        data.get("Endpoint", ""),
        data.get("Status", ""),
        _parse_platform_list(data.get("Platforms", "")),
    )


def builder_name(settings: Settings) -> str:
    """The builder to use: ``builder`` or, for the docker driver, the engine's ``default``."""
    if settings.builder:
        return settings.builder
    return "default" if settings.driver in {"", "docker"} else "multiarch"


def inspect_builder(name: str, runner: Runner) -> BuilderInfo | None:
    """Inspect builder ``name`` (a read-only probe, also under --dry); None if absent."""
    result = runner.run(commands.buildx_inspect(name), probe=True, check=False, timeout=120)
    if not result.ok:
        return None
    return parse_inspect(result.stdout)


def _is_remote(node: BuilderNode) -> bool:
    return node.endpoint.startswith(("ssh://", "tcp://", "kube-pod://"))


def coverage(info: BuilderInfo, platforms: tuple[Platform, ...]) -> dict[Platform, str]:
    """For each platform: ``native on NODE``, ``emulated (qemu-X)`` or ``impossible``.

    A remote node (ssh://, tcp://) builds what it reports. Local nodes run the host's
    platform natively and others through binfmt_misc; buildkit lists only the emulators it
    saw when it started (and an inactive node lists nothing), so the handler decides.
    """
    host = Platform.host()
    local = [n for n in info.nodes if not _is_remote(n)]
    out: dict[Platform, str] = {}
    for platform in platforms:
        remote = next((n for n in info.nodes if _is_remote(n) and platform in n.platforms), None)
        handler = binfmt.handler_for(platform)
        if remote is not None:
            out[platform] = f"native on {remote.name}"
        elif local and not binfmt.needs_emulation(platform, (host,)):
            out[platform] = f"native on {local[0].name}"
        elif local and handler is not None and handler.usable:
            out[platform] = f"emulated ({handler.name})"
        else:
            out[platform] = "impossible"
    return out


def buildkitd_config(settings: Settings) -> str:
    """A buildkitd.toml for plain-HTTP registries and registry mirrors (or "")."""
    hosts = sorted({*settings.insecure_registries, *settings.registry_mirrors.values()})
    sections = [
        f'[registry."{upstream}"]\n  mirrors = ["{mirror}"]\n'
        for upstream, mirror in sorted(settings.registry_mirrors.items())
    ]
    sections += [
        f'[registry."{host}"]\n  http = true\n  insecure = true\n'
        for host in hosts
        if settings.is_insecure(host)
    ]
    return "\n".join(sections)


@dataclass(frozen=True)
class BuilderResult:
    """The builder publish will use, and whether it was created now."""

    name: str
    driver: str
    created: bool
    coverage: dict[Platform, str]

    @property
    def ok(self) -> bool:
        """True when every platform can be built."""
        return "impossible" not in self.coverage.values()

    def render(self) -> str:
        """A line for the builder and one per platform."""
        verb = "created" if self.created else "reusing"
        lines = [f"builder-create: {verb} builder {self.name!r} (driver {self.driver})"]
        lines += [f"  {p}: {how}" for p, how in self.coverage.items()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """The result as JSON."""
        return {
            "ok": self.ok,
            "name": self.name,
            "driver": self.driver,
            "created": self.created,
            "platforms": {str(p): how for p, how in self.coverage.items()},
        }


def builder_create(settings: Settings, runner: Runner) -> BuilderResult:
    """Reuse or create the builder; fail naming platforms it cannot build."""
    name = builder_name(settings)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise MultiarchError(f"invalid builder name {name!r}")
    info = inspect_builder(name, runner)
    created = False
    if info is None:
        if settings.driver in {"", "docker"}:
            raise MultiarchError(
                f"builder {name!r} does not exist; the docker driver is the engine's own builder"
                " ('default'): drop --builder, or set driver: docker-container to create one"
            )
        _create(name, settings, runner)
        created = True
        if runner.dry:
            cov = dict.fromkeys(settings.platforms, "(dry run: not inspected)")
            return BuilderResult(name, settings.driver, created, cov)
        info = inspect_builder(name, runner)
        if info is None:
            raise MultiarchError(f"builder {name!r} was created but cannot be inspected")
    cov = coverage(info, settings.platforms)
    result = BuilderResult(name, info.driver, created, cov)
    impossible = [str(p) for p, how in cov.items() if how == "impossible"]
    if impossible:
        raise MultiarchError(
            f"builder {name!r} cannot build {', '.join(impossible)}: no node runs it natively and"
            " no QEMU emulator is registered; run `multiarch qemu-setup` or append a native node"
        )
    return result


def _create(name: str, settings: Settings, runner: Runner) -> None:
    config_path = settings.buildkitd_config
    generated = buildkitd_config(settings)
    if not config_path and generated:
        out = Path(settings.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        config_path = str(out / "buildkitd.toml")
        Path(config_path).write_text(generated)
    local_platforms = tuple(
        p for p in settings.platforms if not any(p in n.platforms for n in settings.nodes)
    )
    runner.run(
        commands.buildx_create(
            name,
            driver=settings.driver,
            driver_opts=settings.driver_opts,
            buildkitd_config=config_path,
            platforms=local_platforms if settings.nodes else (),
            bootstrap=settings.bootstrap and not settings.nodes,
            use=settings.use_builder,
        ),
        label="builder-create",
    )
    for index, node in enumerate(settings.nodes):
        runner.run(
            commands.buildx_create(
                name,
                driver=settings.driver,
                append=True,
                node=node.name or f"{name}-node{index + 1}",
                platforms=node.platforms,
                endpoint=node.endpoint,
                bootstrap=settings.bootstrap and index == len(settings.nodes) - 1,
            ),
            label=f"builder-create node {node.endpoint}",
        )
