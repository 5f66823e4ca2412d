"""The sign step of publish: cosign signs the verified index before any tag moves.

The commands are the plan's (:func:`multiarch_tasks.planning.plan.sign.sign_commands`)
with the real digests; they run through the runner one after the other, and the first
failure stops the run before promotion (a signature on a digest no tag names is harmless).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.engine.runner import Runner
from multiarch_tasks.planning.plan.sign import sign_commands


@dataclass(frozen=True)
class SignResult:
    """The digests cosign signed."""

    image: str
    digests: tuple[str, ...]

    def render(self) -> str:
        """``sign: IMAGE@DIGEST[, ...]``."""
        return "sign: " + ", ".join(f"{self.image}@{d}" for d in self.digests)


def platform_digests(raw: bytes) -> dict[str, str]:
    """Each platform manifest of the index ``raw``, attestation manifests left out."""
    out: dict[str, str] = {}
    for entry in json.loads(raw).get("manifests", []):
        plat = entry.get("platform") or {}
        if plat.get("os") in {None, "unknown"}:
            continue
        name = "/".join(x for x in (plat["os"], plat.get("architecture"), plat.get("variant")) if x)
        out[name] = entry["digest"]
    return out


def run_sign_step(settings: Settings, runner: Runner, digest: str, raw: bytes) -> SignResult:
    """Sign ``digest`` (and its platforms with ``sign_platforms``); raise on the first failure."""
    platforms = platform_digests(raw) if settings.sign_platforms else {}
    for argv in sign_commands(settings, digest, platforms):
        runner.run(argv, timeout=300, label="sign")
    return SignResult(settings.image_ref.name, (digest, *platforms.values()))
