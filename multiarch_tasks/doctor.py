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

from multiarch_tasks import binfmt, builder, commands, tools
from multiarch_tasks.errors import CommandError, InvalidReferenceError, RegistryError
from multiarch_tasks.errors import ToolMissingError as _ToolMissing
from multiarch_tasks.manifest import choose_tool
from multiarch_tasks.platforms import Platform
from multiarch_tasks.reference import ImageRef
from multiarch_tasks.runner import which
from multiarch_tasks.verify import table

if TYPE_CHECKING:
    from multiarch_tasks.registry import RegistryClient
    from multiarch_tasks.runner import Runner
    from multiarch_tasks.settings import Settings

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
    settings: Settings, runner: Runner, *, client: RegistryClient | None = None
) -> DoctorResult:
    """Run every check for ``settings`` (platforms, builder, image) and return the rows."""
    rows: list[Row] = []
    engine_up = _docker_rows(runner, rows)
    buildx = _buildx_row(runner, rows) if engine_up else None
    store = _store_row(runner, settings, rows) if engine_up else ""
    info = _builder_row(settings, runner, rows) if buildx is not None else None
    _binfmt_rows(settings, info, rows)
    _registry_row(settings, rows, client)
    _publish_row(settings, runner, buildx, store, info, rows)
    return DoctorResult(tuple(rows))


# --- docker, buildx, image store -------------------------------------------------------


def _docker_rows(runner: Runner, rows: list[Row]) -> bool:
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
    server = (
        (data.get("Server") or {}).get("Version") if isinstance(data.get("Server"), dict) else None
    )
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


def _buildx_row(runner: Runner, rows: list[Row]) -> tools.BuildxInfo | None:
    try:
        info = tools.buildx_info(runner)
    except _ToolMissing as err:
        rows.append(
            Row(
                "buildx", FAIL, str(err), "install the docker-buildx plugin (Debian: docker-buildx)"
            )
        )
        return None
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
    return info


def _store_row(runner: Runner, settings: Settings, rows: list[Row]) -> str:
    result = runner.run(commands.docker_info(), probe=True, memo=True, check=False, timeout=60)
    data = _json(result.stdout)
    status = json.dumps(data.get("DriverStatus") or [])
    if "io.containerd.snapshotter" in status:
        rows.append(Row("image store", OK, "containerd (multi-platform images and attestations)"))
        return "containerd"
    driver = str(data.get("Driver") or "unknown")
    fix = (
        'turn on the containerd image store (daemon.json {"features":'
        ' {"containerd-snapshotter": true}}), or build with a docker-container builder'
        " (`multiarch builder-create --driver docker-container`)"
    )
    classic_docker = settings.driver in {"", "docker"}
    if classic_docker and settings.strategy == "multi-platform":
        rows.append(
            Row(
                "image store",
                FAIL,
                f"classic ({driver}): the docker driver cannot"
                " build several platforms at once (strategy multi-platform)",
                fix,
            )
        )
    else:
        rows.append(
            Row(
                "image store",
                WARN,
                f"classic ({driver}): one platform per build,"
                " no attestations with the docker driver",
                fix,
            )
        )
    return "classic"


# --- builder and emulators ----------------------------------------------------------------


def _builder_row(settings: Settings, runner: Runner, rows: list[Row]) -> builder.BuilderInfo | None:
    name = builder.builder_name(settings)
    try:
        info = builder.inspect_builder(name, runner)
    except (CommandError, _ToolMissing) as err:
        rows.append(Row("builder", FAIL, f"{name}: {err}", "check `docker buildx ls`"))
        return None
    if info is None:
        if name == "default":
            rows.append(
                Row(
                    "builder",
                    FAIL,
                    "the engine's `default` builder does not answer",
                    "check `docker buildx inspect default` and the docker context",
                )
            )
        else:
            rows.append(
                Row(
                    "builder",
                    WARN,
                    f"{name!r} does not exist yet (publish creates it)",
                    f"`multiarch builder-create` creates {name!r} now",
                )
            )
        return None
    nodes = "; ".join(
        f"{n.name} ({n.status or '?'}): {', '.join(str(p) for p in n.platforms) or 'none listed'}"
        for n in info.nodes
    )
    covered = builder.coverage(info, settings.platforms)
    # Those QEMU would run have their own binfmt row, which says what is wrong.
    host = Platform.host()
    impossible = [
        str(p)
        for p, how in covered.items()
        if how == "impossible" and not binfmt.needs_emulation(p, (host,))
    ]
    detail = f"{info.name}, driver {info.driver}; {nodes}"
    if impossible:
        fix = (
            f"`multiarch qemu-setup --platforms {','.join(impossible)}`, or append a native"
            " node for them (nodes setting)"
        )
        rows.append(Row("builder", FAIL, f"{detail}; cannot build {', '.join(impossible)}", fix))
    else:
        rows.append(Row("builder", OK, detail))
    return info


def _binfmt_rows(settings: Settings, info: builder.BuilderInfo | None, rows: list[Row]) -> None:
    host = Platform.host()
    covered = builder.coverage(info, settings.platforms) if info is not None else {}
    for platform in settings.platforms:
        if not binfmt.needs_emulation(platform, (host,)):
            continue
        how = covered.get(platform, "")
        if how.startswith("native"):
            continue  # a native node builds it: no emulator needed
        name = f"qemu-{platform.qemu_name}"
        check = f"binfmt {name}"
        handler = binfmt.handler_for(platform)
        fix = f"`multiarch qemu-setup --platforms {platform}` (registers {name} with flag F)"
        if handler is None:
            where = "not registered" if binfmt.is_mounted() else "binfmt_misc is not mounted"
            if not binfmt.is_mounted():
                fix = (
                    "as root: `mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc`,"
                    f" then {fix}"
                )
            rows.append(Row(check, FAIL, f"{platform}: {where}", fix))
        elif not handler.enabled:
            path = binfmt.BINFMT_DIR / handler.name
            rows.append(
                Row(
                    check,
                    FAIL,
                    f"{platform}: registered but disabled",
                    f"as root: `echo 1 > {path}`, or {fix}",
                )
            )
        elif not handler.fix_binary:
            rows.append(
                Row(
                    check,
                    FAIL,
                    f"{platform}: enabled without flag F (flags:"
                    f" {handler.flags or 'none'}): containers cannot find"
                    f" {handler.interpreter}",
                    fix,
                )
            )
        else:
            rows.append(
                Row(check, OK, f"{platform}: enabled, flags {handler.flags}, {handler.interpreter}")
            )


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
        from multiarch_tasks.registry import RegistryClient  # noqa: PLC0415 - requests is heavy

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


def _publish_row(
    settings: Settings,
    runner: Runner,
    buildx: tools.BuildxInfo | None,
    store: str,
    info: builder.BuilderInfo | None,
    rows: list[Row],
) -> None:
    driver = info.driver if info is not None else (settings.driver or "docker")
    attest_capable = store == "containerd" or driver != "docker"
    if settings.attestations == "off":
        attests = False
    elif settings.attestations == "on":
        attests = True
    else:
        attests = buildx is not None and buildx.attests_by_default and attest_capable
    tool = choose_tool(settings, runner) if settings.strategy == "per-arch" else "buildx"
    kept = attests and tool != "docker"
    count = len(settings.platforms)
    if count == 1 and not kept:
        what = "a plain image manifest (one platform, no attestations)"
    else:
        what = f"an index of {count} image(s)" + (
            " with provenance attestations (unknown/unknown entries)"
            if kept
            else " without attestations"
        )
    detail = f"{what}; {settings.strategy} build, merged by {tool}"
    if settings.attestations == "on" and not attest_capable:
        rows.append(
            Row(
                "next publish",
                FAIL,
                detail + "; attestations = on but the docker"
                " driver on the classic store cannot attach them",
                "set attestations = auto/off, or use a docker-container builder",
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
