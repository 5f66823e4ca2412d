"""The set-up steps of a plan: what qemu-setup registers and how the builder is created.

The binfmt handlers to enable (on the host, or through the binfmt image), the
``buildx create`` commands (one per node) and the generated buildkitd.toml for
plain-HTTP registries and mirrors. Pure: settings and facts in, argv and text out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.facts import Facts
from multiarch_tasks.model.errors import PlanError
from multiarch_tasks.planning.decide import Assignment, _node_name


def qemu_commands(
    settings: Settings, facts: Facts, todo: Sequence[Assignment]
) -> tuple[str, list[tuple[str, ...]], list[str]]:
    """(mode, commands, ops) that make every handler in ``todo`` usable."""
    if not todo:
        return "none", [], []
    if not facts.binfmt_mounted:
        raise PlanError(
            "binfmt_misc is not mounted at /proc/sys/fs/binfmt_misc, so no emulated platform"
            f" ({', '.join(str(a.platform) for a in todo)}) can build; as root run"
            " `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`"
        )
    mode = settings.qemu_mode
    host_ok = "update-binfmts" in facts.programs and all(
        a.platform.qemu_name in facts.host_emulators for a in todo
    )
    if mode == "auto":
        mode = "host" if host_ok else "docker"
    argvs: list[tuple[str, ...]] = []
    ops: list[str] = []
    if mode == "host":
        for a in todo:
            handler = facts.handler(a.platform)
            if handler is not None and not handler.enabled and handler.fix_binary:
                ops.append(f"enable {a.handler}: write 1 to /proc/sys/fs/binfmt_misc/{a.handler}")
            else:
                argvs.append(tuple(commands.update_binfmts_enable(a.handler)))
    else:
        arches = sorted({a.platform.architecture for a in todo})
        argvs.append(tuple(commands.docker_binfmt_install(settings.binfmt_image, arches)))
    return mode, argvs, ops


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


def builder_commands(settings: Settings, facts: Facts) -> tuple[list[tuple[str, ...]], str, str]:
    """(commands, buildkitd config text, its path) to create the builder; [] to reuse it."""
    if facts.builder is not None:
        return [], "", ""
    name = facts.builder_name
    driver = settings.driver or "docker"
    if driver == "docker":
        raise PlanError(
            f"builder {name!r} does not exist; the docker driver is the engine's own builder"
            " ('default'): drop --builder, or set driver: docker-container to create one"
        )
    if driver == "remote" and not settings.nodes:
        raise PlanError(
            f"builder {name!r} (driver remote) needs nodes with endpoints: set nodes:"
            ' [{endpoint: "tcp://HOST:PORT", platforms: [linux/arm64]}]'
        )
    config_text = "" if settings.buildkitd_config else buildkitd_config(settings)
    config_path = settings.buildkitd_config or (
        str(Path(settings.output_dir) / "buildkitd.toml") if config_text else ""
    )
    # A remote builder's first `create` must carry an endpoint: the first node's.
    first = settings.nodes[0] if driver == "remote" else None
    rest = list(settings.nodes[1:] if first else settings.nodes)
    argvs = [
        tuple(
            commands.buildx_create(
                name,
                driver=driver,
                driver_opts=settings.driver_opts,
                buildkitd_config=config_path,
                node=_node_name(settings, first) if first else "",
                platforms=first.platforms if first else (),
                endpoint=first.endpoint if first else "",
                bootstrap=settings.bootstrap and not rest,
                use=settings.use_builder,
            )
        )
    ]
    for index, node in enumerate(rest):
        argvs.append(
            tuple(
                commands.buildx_create(
                    name,
                    driver=driver,
                    append=True,
                    node=_node_name(settings, node),
                    platforms=node.platforms,
                    endpoint=node.endpoint,
                    bootstrap=settings.bootstrap and index == len(rest) - 1,
                )
            )
        )
    return argvs, config_text, config_path
