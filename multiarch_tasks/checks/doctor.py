"""doctor: is this machine ready to publish multi-arch images, and if not, what to do.

One row per question, each with a fix when it fails: docker and buildx versions (compared
with ``packaging``), the image store, the binfmt_misc QEMU handler (enabled, flag ``F``)
of each platform that needs emulation, the builder and the platforms it covers, the
registry of the configured image (reachable, credentials accepted) and what the next
``publish`` would push (plain manifest or an index, with or without attestations).

Read-only: every command is a probe (``docker version``, ``docker info``, ``docker buildx
inspect``), the registry is only read. ``ok`` is False when any row fails; a ``warn``
row is printed with its fix but does not fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from multiarch_tasks.engine import binfmt, commands, facts, tools
from multiarch_tasks.engine.runner import which
from multiarch_tasks.model.errors import (
    CommandError,
    InvalidReferenceError,
    PlanError,
    RegistryError,
    ToolMissingError,
)
from multiarch_tasks.model.reference import ImageRef
from multiarch_tasks.planning import decide
from multiarch_tasks.registry.entries import table

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.facts import Facts
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.model.platforms import Platform
    from multiarch_tasks.registry.client import RegistryClient

OK = "ok"
WARN = "warn"
FAIL = "fail"
# BuildKit is the default builder from Docker Engine 23.0 on.
MIN_ENGINE = Version("23.0")
# `imagetools create --annotation` (merge with index annotations) needs buildx 0.12.
MIN_BUILDX = tools.BUILDX_IMAGETOOLS_ANNOTATIONS
HTTP_UNAUTHORIZED, HTTP_FORBIDDEN, HTTP_NOT_FOUND = 401, 403, 404


@dataclass(frozen=True)
class Row:
    """One check: its name, ``ok``/``warn``/``fail``, what was found, how to fix it."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """Return the row as JSON."""
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class DoctorResult:
    """Every row; ``ok`` is False when one fails."""

    rows: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        """True when no row failed (warnings allowed)."""
        return all(r.status != FAIL for r in self.rows)

    @property
    def failed(self) -> tuple[Row, ...]:
        """The rows that fail."""
        return tuple(r for r in self.rows if r.status == FAIL)

    def row(self, check: str) -> Row | None:
        """The row called ``check``."""
        return next((r for r in self.rows if r.check == check), None)

    def render(self) -> str:
        """A table of the rows, then the fix of each row that is not ok."""
        lines = table(
            ("CHECK", "STATUS", "DETAIL"),
            [(r.check, r.status.upper(), r.detail) for r in self.rows],
        )
        fixes = [f"  {r.check}: {r.fix}" for r in self.rows if r.status != OK and r.fix]
        if fixes:
            lines += ["fixes:", *fixes]
        failed = len(self.failed)
        lines.append("doctor: ok" if self.ok else f"doctor: FAILED ({failed} check(s))")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return ``{"ok", "rows": [{"check", "status", "detail", "fix"}]}``."""
        return {"ok": self.ok, "rows": [r.to_json() for r in self.rows]}


def doctor(
    settings: Settings,
    runner: Runner,
    *,
    client: RegistryClient | None = None,
    found: Facts | None = None,
) -> DoctorResult:
    """Run every check for ``settings`` (platforms, builder, image) and return the rows.

    The machine is read once through :func:`multiarch_tasks.engine.facts.gather` (or ``found``,
    facts already gathered) and judged with :mod:`multiarch_tasks.planning.decide`'s own deciders,
    so doctor and publish agree. ``client`` reads the registry (a quick RegistryClient
    by default).
    """
    rows: list[Row] = []
    if found is None:
        found = _facts(settings, runner, rows)
    elif _docker_row(runner, rows):
        _buildx_row(found, rows)
    if found.engine is not None:
        _store_row(settings, found, rows)
    if found.buildx is not None:
        _builder_row(found, rows)
    _platform_rows(settings, found, rows)
    _registry_row(settings, rows, client)
    _publish_row(settings, found, rows)
    return DoctorResult(tuple(rows))


# --- docker, buildx, image store -------------------------------------------------------


def _facts(settings: Settings, runner: Runner, rows: list[Row]) -> Facts:
    """Gather the facts, turning what is missing into failing rows."""
    if settings.backend != "buildx":
        rows.append(Row("docker", OK, f"not needed (backend {settings.backend})"))
        return facts.gather(settings, runner, docker=False)
    if not _docker_row(runner, rows):
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
    _buildx_row(found, rows)
    return found


def _docker_row(runner: Runner, rows: list[Row]) -> bool:
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


def _buildx_row(found: Facts, rows: list[Row]) -> None:
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


def _store_row(settings: Settings, found: Facts, rows: list[Row]) -> None:
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


# --- builder and emulators ----------------------------------------------------------------


def _builder_row(found: Facts, rows: list[Row]) -> None:
    current = found.builder
    if current is None:
        name = found.builder_name or "multiarch"
        rows.append(
            Row(
                "builder",
                WARN,
                f"{name!r} does not exist yet (publish creates it; {found.builder_source})",
                f"`multiarch builder-create` creates {name!r} now",
            )
        )
        return
    nodes = "; ".join(
        f"{n.name} ({n.status or '?'}): {', '.join(str(p) for p in n.supported) or 'none listed'}"
        for n in current.nodes
    )
    rows.append(
        Row(
            "builder",
            OK,
            f"{current.name}, driver {current.driver} ({found.builder_source}); {nodes}",
        )
    )


def _platform_rows(settings: Settings, found: Facts, rows: list[Row]) -> None:
    """A row per platform that is not native: its emulator, or why nothing builds it."""
    for platform in settings.platforms:
        where = decide.assign(platform, settings, found)
        if where.mode == decide.NATIVE:
            continue
        if where.mode == decide.IMPOSSIBLE:
            rows.append(
                Row(
                    f"platform {platform}",
                    FAIL,
                    f"cannot build: {where.why}",
                    f"`multiarch qemu-setup --platforms {platform}`, or a native node"
                    " for it (nodes setting)",
                )
            )
        elif where.handler:
            rows.append(_handler_row(platform, where.handler, found))
        else:
            rows.append(Row(f"platform {platform}", OK, where.render()))


def _handler_row(platform: Platform, name: str, found: Facts) -> Row:
    check = f"binfmt {name}"
    handler = found.handler(platform)
    fix = f"`multiarch qemu-setup --platforms {platform}` (registers {name} with flag F)"
    if handler is None:
        if not found.binfmt_mounted:
            return Row(
                check,
                FAIL,
                f"{platform}: binfmt_misc is not mounted",
                f"as root: `mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc`, then {fix}",
            )
        return Row(check, FAIL, f"{platform}: not registered", fix)
    if not handler.enabled:
        path = binfmt.BINFMT_DIR / handler.name
        return Row(
            check,
            FAIL,
            f"{platform}: registered but disabled",
            f"as root: `echo 1 > {path}`, or {fix}",
        )
    if not handler.fix_binary:
        return Row(
            check,
            FAIL,
            f"{platform}: enabled without flag F (flags:"
            f" {handler.flags or 'none'}): containers cannot find {handler.interpreter}",
            fix,
        )
    return Row(check, OK, f"{platform}: enabled, flags {handler.flags}, {handler.interpreter}")


# --- registry and what publish would push ---------------------------------------------------


def _registry_row(settings: Settings, rows: list[Row], client: RegistryClient | None) -> None:
    if not settings.image:
        rows.append(
            Row(
                "registry",
                WARN,
                "no image configured: not checked",
                "set image (--image REGISTRY/NAME) to check its registry",
            )
        )
        return
    try:
        ref = ImageRef.parse(settings.image, default_tag="")
    except InvalidReferenceError as err:
        rows.append(Row("registry", FAIL, str(err), "fix the image setting"))
        return
    if client is None:
        from multiarch_tasks.registry.client import RegistryClient  # noqa: PLC0415 - the registry client is heavy

        # A quick look, as preflight's: one retry, a short timeout.
        client = RegistryClient(
            insecure=settings.insecure_registries, retries=1, timeout=10.0, backoff=0.25
        )
    who = "anonymously"
    try:
        creds = client.credentials(ref.registry)
        if creds is not None and creds.username:
            who = f"as {creds.username}"
        tags = client.list_tags(ref)
    except RegistryError as err:
        rows.append(_registry_problem(ref, who, err))
        return
    rows.append(
        Row("registry", OK, f"{ref.registry} reachable {who}; {ref.repository}: {len(tags)} tag(s)")
    )


def _registry_problem(ref: ImageRef, who: str, err: RegistryError) -> Row:
    if err.status == HTTP_NOT_FOUND:
        return Row(
            "registry",
            OK,
            f"{ref.registry} reachable {who}; {ref.repository} does not"
            " exist yet (the first push creates it)",
        )
    if err.status in {HTTP_UNAUTHORIZED, HTTP_FORBIDDEN}:
        return Row(
            "registry",
            FAIL,
            f"{ref.registry} refused {who}: {err}",
            f"`docker login {ref.registry}` with an account that may push {ref.repository}",
        )
    return Row(
        "registry",
        FAIL,
        f"{ref.registry} unreachable: {err}",
        f"check the address and network; a plain-HTTP registry goes in"
        f" insecure_registries (--insecure-registry {ref.registry})",
    )


def _publish_row(settings: Settings, found: Facts, rows: list[Row]) -> None:
    try:
        strategy, why = decide.decide_strategy(settings, found)
    except PlanError as err:
        rows.append(Row("next publish", FAIL, str(err), "set strategy = per-arch (or auto)"))
        return
    driver = decide.builder_driver(settings, found)
    engine = found.engine
    attest_capable = driver != "docker" or engine is None or engine.containerd_store
    if settings.attestations == "off" or not attest_capable:
        attests = False
    else:
        attests = settings.attestations == "on" or (
            found.buildx is not None and found.buildx.attests_by_default
        )
    tool = decide.merge_tool(settings) if strategy == "per-arch" else strategy
    # The docker manifest tool and Docker media types cannot carry attestation manifests.
    kept = attests and tool != "docker" and settings.media_type == "oci"
    count = len(settings.platforms)
    if count == 1 and not kept:
        what = "a plain image manifest (one platform, no attestations)"
    else:
        with_or_without = (
            " with provenance attestations (unknown/unknown entries)"
            if kept
            else " without attestations"
        )
        what = f"an index of {count} image(s){with_or_without}"
    detail = f"{what}; strategy {strategy} ({why}), index by {tool}"
    if settings.attestations == "on" and not attest_capable:
        rows.append(
            Row(
                "next publish",
                FAIL,
                detail + "; attestations = on but the docker"
                " driver on the classic store cannot attach them",
                "set attestations = auto or off, or use a docker-container builder",
            )
        )
    else:
        rows.append(Row("next publish", OK, detail))


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
