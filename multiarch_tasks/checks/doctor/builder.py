"""doctor's rows for building: the builder and its nodes, each platform's emulator.

A platform that is not native is judged by :func:`multiarch_tasks.planning.decide.assign`
(as publish judges it); one that QEMU emulates needs its binfmt_misc handler enabled with
flag ``F``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.doctor.report import FAIL, OK, WARN, Row
from multiarch_tasks.engine import binfmt
from multiarch_tasks.planning import decide

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.facts import Facts
    from multiarch_tasks.model.platforms import Platform


def builder_row(found: Facts, rows: list[Row]) -> None:
    """Append the builder row: its driver and each node's platforms."""
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


def platform_rows(settings: Settings, found: Facts, rows: list[Row]) -> None:
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
