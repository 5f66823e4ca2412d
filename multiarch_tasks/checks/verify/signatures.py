"""``verify --signed-by``: each signed digest carries a valid cosign signature.

cosign itself checks the signature (``cosign verify``, through the runner): the index's
digest, and each platform manifest's with ``sign_platforms``. A missing or foreign
signature is a failed row naming the digest and who was expected to sign it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.verify.report import SignatureCheck
from multiarch_tasks.engine import commands
from multiarch_tasks.model.errors import InvalidValueError, ToolMissingError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.engine.runner import Result, Runner
    from multiarch_tasks.model.reference import ImageRef


def signer(settings: Settings) -> str:
    """Who must have signed: the key, or ``IDENTITY (issuer ISSUER)`` for keyless."""
    if settings.signed_by:
        return settings.signed_by
    if not (settings.certificate_identity and settings.certificate_oidc_issuer):
        raise InvalidValueError(
            "keyless verify needs both --certificate-identity and --certificate-oidc-issuer"
            " (or --signed-by KEY for a key pair)"
        )
    return f"{settings.certificate_identity} (issuer {settings.certificate_oidc_issuer})"


def verify_commands(
    settings: Settings, ref: ImageRef, digests: Mapping[str, str]
) -> list[tuple[str, str, tuple[str, ...]]]:
    """(what, digest, ``cosign verify`` argv) for each digest of ``digests`` (what -> digest)."""
    insecure = settings.is_insecure(ref.registry)
    return [
        (
            what,
            digest,
            tuple(
                commands.cosign_verify(
                    f"{ref.name}@{digest}",
                    key=settings.signed_by,
                    identity="" if settings.signed_by else settings.certificate_identity,
                    issuer="" if settings.signed_by else settings.certificate_oidc_issuer,
                    tlog=settings.sign_tlog,
                    insecure=insecure,
                )
            ),
        )
        for what, digest in digests.items()
    ]


def signature_checks(
    settings: Settings, runner: Runner, ref: ImageRef, digests: Mapping[str, str]
) -> tuple[SignatureCheck, ...]:
    """Run ``cosign verify`` for each of ``digests`` (``"index"`` and platforms -> digest)."""
    who = signer(settings)
    todo = verify_commands(settings, ref, digests)

    def check(item: tuple[str, str, tuple[str, ...]]) -> Result:
        # Read-only: it runs under --dry too, like verify's registry reads.
        return runner.run(item[2], probe=True, check=False, timeout=300)

    results = runner.map_parallel(check, todo)
    out = []
    for (what, digest, _), result in zip(todo, results, strict=True):
        if isinstance(result, ToolMissingError):
            raise ToolMissingError(
                "cosign is not installed: verify --signed-by needs it (Debian: apt-get install"
                " cosign; scripts/engine-up installs it)"
            ) from result
        if isinstance(result, BaseException):
            raise result
        problems: tuple[str, ...] = ()
        if not result.ok:
            why = _reason(result.stderr or result.stdout)
            problems = (f"{what} {digest}: no valid signature by {who} ({why})",)
        out.append(SignatureCheck(what, digest, who, problems))
    return tuple(out)


def _reason(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "cosign verify failed"
    # cosign wraps every failure in the same words; what follows them is the reason.
    return last.removeprefix("Error: ").removeprefix("error during command execution: ")
