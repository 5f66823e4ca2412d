"""doctor: is this machine ready to publish multi-arch images, and if not, what to do.

One row per question, each with a fix when it fails: docker and buildx versions (compared
with ``packaging``), the image store, the binfmt_misc QEMU handler (enabled, flag ``F``)
of each platform that needs emulation, the builder and the platforms it covers, the
registry of the configured image (reachable, credentials accepted) and what the next
``publish`` would push (plain manifest or an index, with or without attestations).

Read-only: every command is a probe (``docker version``, ``docker info``, ``docker buildx
inspect``), the registry is only read. ``ok`` is False when any row fails; a ``warn``
row is printed with its fix but does not fail.

Here: :func:`doctor`, which asks every question in turn. The rows are made in
:mod:`.doctor_engine` (docker, buildx, image store), :mod:`.doctor_builder` (builder,
emulators), :mod:`.doctor_registry` and :mod:`.doctor_publish`; the result is in
:mod:`.doctor_report` (re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.doctor import builder as doctor_builder
from multiarch_tasks.checks.doctor import engine as doctor_engine
from multiarch_tasks.checks.doctor import publish as doctor_publish
from multiarch_tasks.checks.doctor import registry as doctor_registry
from multiarch_tasks.checks.doctor import signing as doctor_signing
from multiarch_tasks.checks.doctor.engine import MIN_BUILDX, MIN_ENGINE
from multiarch_tasks.checks.doctor.registry import HTTP_FORBIDDEN, HTTP_NOT_FOUND, HTTP_UNAUTHORIZED
from multiarch_tasks.checks.doctor.report import FAIL, OK, WARN, DoctorResult, Row

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.facts import Facts
    from multiarch_tasks.engine.runner import Runner
    from multiarch_tasks.registry.client import RegistryClient

__all__ = [
    "FAIL",
    "HTTP_FORBIDDEN",
    "HTTP_NOT_FOUND",
    "HTTP_UNAUTHORIZED",
    "MIN_BUILDX",
    "MIN_ENGINE",
    "OK",
    "WARN",
    "DoctorResult",
    "Row",
    "doctor",
]


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
        found = doctor_engine.gather(settings, runner, rows)
    elif doctor_engine.docker_row(runner, rows):
        doctor_engine.buildx_row(found, rows)
    if found.engine is not None:
        doctor_engine.store_row(settings, found, rows)
    if found.buildx is not None:
        doctor_builder.builder_row(found, rows)
    doctor_builder.platform_rows(settings, found, rows)
    doctor_registry.registry_row(settings, rows, client)
    doctor_publish.publish_row(settings, found, rows)
    doctor_signing.cosign_row(settings, runner, rows)
    return DoctorResult(tuple(rows))
