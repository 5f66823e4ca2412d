"""doctor's cosign row: is the signing tool here, which version, is it needed.

``publish --sign`` and ``verify --signed-by`` run cosign; without them a missing cosign
is no failure. Debian's package reports ``GitVersion: devel``: shown as it is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from multiarch_tasks.checks.doctor.report import FAIL, OK, Row
from multiarch_tasks.engine import commands
from multiarch_tasks.engine.runner import which

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Runner

_GIT_VERSION = re.compile(r"^GitVersion:\s*(\S+)", re.MULTILINE)
FIX = "install cosign (Debian trixie: apt-get install cosign; scripts/engine-up installs it)"


def cosign_row(settings: Settings, runner: Runner, rows: list[Row]) -> None:
    """Append the cosign row: its version, or missing (a failure only when signing is on)."""
    needed = bool(
        settings.sign
        or settings.signed_by
        or settings.certificate_identity
        or settings.certificate_oidc_issuer
    )
    if which("cosign") is None:
        if needed:
            rows.append(Row("cosign", FAIL, "not installed; signing is configured", FIX))
        else:
            rows.append(Row("cosign", OK, "not installed (only sign and signed_by need it)"))
        return
    result = runner.run(commands.cosign_version(), probe=True, memo=True, check=False, timeout=60)
    if not result.ok:
        rows.append(Row("cosign", FAIL, "`cosign version` failed", FIX))
        return
    found = _GIT_VERSION.search(result.stdout + result.stderr)
    shown = f"version {found.group(1)}" if found else "installed (its version not shown)"
    rows.append(Row("cosign", OK, shown))
