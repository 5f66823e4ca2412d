"""doctor's last row: what the next ``publish`` would push.

A plain manifest or an index, with or without attestations, by which strategy and merge
tool, decided by :mod:`multiarch_tasks.planning.decide` as publish decides it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.doctor.report import FAIL, OK, Row
from multiarch_tasks.model.errors import PlanError
from multiarch_tasks.planning import decide

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.facts import Facts


def publish_row(settings: Settings, found: Facts, rows: list[Row]) -> None:
    """Append what the next publish would push, and how."""
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
