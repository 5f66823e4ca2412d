"""doctor's rows for the engine: docker, buildx (versions compared with ``packaging``), image store.

The machine is read once through :func:`multiarch_tasks.engine.facts.gather`; what is
missing (no docker, no buildx, a failing ``buildx inspect``) becomes a failing row.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from multiarch_tasks.checks.doctor.report import FAIL, OK, WARN, Row
from multiarch_tasks.engine import commands, facts, tools
from multiarch_tasks.engine.runner import which
from multiarch_tasks.model.errors import CommandError, ToolMissingError
from multiarch_tasks.planning import decide

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.facts import Facts
    from multiarch_tasks.engine.runner import Runner
# BuildKit is the default builder from Docker Engine 23.0 on.
MIN_ENGINE = Version("23.0")
# `imagetools create --annotation` (merge with index annotations) needs buildx 0.12.
MIN_BUILDX = tools.BUILDX_IMAGETOOLS_ANNOTATIONS


def gather(settings: Settings, runner: Runner, rows: list[Row]) -> Facts:
    """Gather the facts, turning what is missing into failing rows."""
    if settings.backend != "buildx":
        rows.append(Row("docker", OK, f"not needed (backend {settings.backend})"))
        return facts.gather(settings, runner, docker=False)
    if not docker_row(runner, rows):
        return facts.gather(settings, runner, docker=False)
    try:
        found = facts.gather(settings, runner, versions=True)
    except ToolMissingError as err:
        rows.append(
            Row(
                "buildx", FAIL, str(err), "install the docker-buildx plugin (Debian: docker-buildx)"
            )
        )
        return facts.gather(settings, runner, docker=False)
    except CommandError as err:
        rows.append(
            Row(
                "builder",
                FAIL,
                f"`docker buildx inspect` failed: {err}",
                "check `docker buildx ls` and BUILDX_BUILDER / the current builder",
            )
        )
        return facts.gather(settings, runner, docker=False)
    buildx_row(found, rows)
    return found


def docker_row(runner: Runner, rows: list[Row]) -> bool:
    """Append the docker row; True when the daemon answers."""
    if which("docker") is None:
        rows.append(
            Row(
                "docker",
                FAIL,
                "no `docker` on PATH",
                "install Docker Engine (or the docker CLI for a remote daemon)",
            )
        )
        return False
    result = runner.run(commands.docker_version(), probe=True, memo=True, check=False, timeout=60)
    data = _json(result.stdout)
    client = str((data.get("Client") or {}).get("Version", "?"))
    server_data = data.get("Server")
    server = server_data.get("Version") if isinstance(server_data, dict) else None
    if not result.ok or not server:
        last = (result.stderr or result.stdout).strip().splitlines()
        rows.append(
            Row(
                "docker",
                FAIL,
                f"client {client}, daemon not reachable" + (f": {last[-1]}" if last else ""),
                "start dockerd (or set DOCKER_HOST / the docker context)",
            )
        )
        return False
    version = tools.parse_version(str(server))
    detail = f"client {client}, engine {server}"
    if version is not None and version < MIN_ENGINE:
        rows.append(
            Row(
                "docker",
                FAIL,
                f"{detail} (older than {MIN_ENGINE})",
                f"upgrade Docker Engine to {MIN_ENGINE} or later",
            )
        )
    else:
        rows.append(Row("docker", OK, detail))
    return True


def buildx_row(found: Facts, rows: list[Row]) -> None:
    """Append the buildx row (its version; a warning when too old for merge)."""
    info = found.buildx
    if info is None:
        return
    shown = str(info.version) if info.version else "unknown version"
    if info.version is not None and info.version < MIN_BUILDX:
        rows.append(
            Row(
                "buildx",
                WARN,
                f"{shown} (older than {MIN_BUILDX}: merge cannot"
                " set index annotations with imagetools)",
                f"upgrade docker-buildx to {MIN_BUILDX} or later",
            )
        )
    else:
        default = ", attaches provenance by default" if info.attests_by_default else ""
        rows.append(Row("buildx", OK, f"{shown}{default}"))


def store_row(settings: Settings, found: Facts, rows: list[Row]) -> None:
    """Append the image store row: containerd, or classic and what that rules out."""
    engine = found.engine
    if engine is None:
        return
    if engine.containerd_store:
        rows.append(Row("image store", OK, "containerd (multi-platform images and attestations)"))
        return
    fix = (
        'turn on the containerd image store (daemon.json {"features":'
        ' {"containerd-snapshotter": true}}), or build with a docker-container builder'
        " (`multiarch builder-create --driver docker-container`)"
    )
    if decide.builder_driver(settings, found) != "docker":
        rows.append(Row("image store", OK, "classic (the builder is not the docker driver)"))
    elif settings.strategy == "multi-platform":
        rows.append(
            Row(
                "image store",
                FAIL,
                "classic: the docker driver cannot build several"
                " platforms at once (strategy multi-platform)",
                fix,
            )
        )
    else:
        rows.append(
            Row(
                "image store",
                WARN,
                "classic: one platform per build, no attestations with the docker driver",
                fix,
            )
        )


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
