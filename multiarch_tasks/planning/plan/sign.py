"""The signing step: which digests cosign signs after verify passes, and its argv.

The same function makes the plan's commands (digests as ``<index>``/``<linux/arm64>``
placeholders) and the commands the run starts (the real digests), so the printed plan is
the plan run.
"""

from __future__ import annotations

from collections.abc import Mapping

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine import commands
from multiarch_tasks.planning.plan.types import Step


def sign_commands(
    settings: Settings, index: str, platforms: Mapping[str, str] | None = None
) -> list[tuple[str, ...]]:
    """``cosign sign`` of ``IMAGE@index``, then (``sign_platforms``) of each platform's digest."""
    image = settings.image_ref
    insecure = settings.is_insecure(image.registry)
    digests = [index, *(platforms or {}).values()] if settings.sign_platforms else [index]
    return [
        tuple(
            commands.cosign_sign(
                f"{image.name}@{digest}",
                key=settings.sign_key,
                tlog=settings.sign_tlog,
                insecure=insecure,
            )
        )
        for digest in digests
    ]


def sign_step(settings: Settings) -> Step:
    """The planned ``sign`` step, digests still placeholders."""
    placeholders = {str(p): f"<{p}>" for p in settings.platforms}
    how = f"key {settings.sign_key}" if settings.sign_key else "keyless, the CI job's OIDC identity"
    what = "index and each platform manifest" if settings.sign_platforms else "index"
    tlog = "" if settings.sign_tlog else ", no transparency log"
    return Step(
        "sign",
        f"cosign signs the verified {what} ({how}{tlog}); a failure promotes nothing",
        tuple(sign_commands(settings, "<index>", placeholders)),
    )
