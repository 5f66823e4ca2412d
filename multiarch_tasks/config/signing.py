"""What signing needs from the environment: a key or a CI job's OIDC token, and its secrets.

``publish --sign`` signs with ``sign_key`` (a key file or a KMS URI) or, without one,
keyless: cosign then asks Fulcio for a certificate for the CI job's OIDC identity, which
it reads from the environment itself (GitHub Actions' ``ACTIONS_ID_TOKEN_REQUEST_*``, or
``SIGSTORE_ID_TOKEN`` elsewhere). Checked before anything is built, so a run that could
not sign fails at once instead of after the build.
"""

from __future__ import annotations

from collections.abc import Mapping

from multiarch_tasks.config.schema import Settings
from multiarch_tasks.model.errors import InvalidValueError

# cosign's KMS schemes: a key that is not a file on this machine.
KMS_SCHEMES = ("awskms://", "gcpkms://", "hashivault://", "azurekms://", "k8s://", "gitlab://")
# Values cosign reads from the environment that must never be printed.
SECRET_VARIABLES = (
    "COSIGN_PASSWORD",
    "SIGSTORE_ID_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)


def oidc_source(environ: Mapping[str, str]) -> str:
    """Where a keyless signature's identity comes from ("" when this job has none)."""
    if environ.get("SIGSTORE_ID_TOKEN"):
        return "SIGSTORE_ID_TOKEN"
    if environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") and environ.get(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
    ):
        return "GitHub Actions OIDC token"
    return ""


def check_sign_inputs(settings: Settings, environ: Mapping[str, str]) -> None:
    """Fail now when ``sign`` is on with neither a usable key nor an OIDC token."""
    if not settings.sign:
        return
    if not settings.verify:
        raise InvalidValueError(
            "--sign signs only a verified index: drop --no-verify (or verify = false)"
        )
    key = settings.sign_key
    if key:
        from pathlib import Path  # noqa: PLC0415

        if "://" not in key and not Path(key).is_file():
            raise InvalidValueError(
                f"sign_key {key!r} is not a file: pass a cosign key file or a KMS URI"
                f" ({', '.join(s.rstrip('/') for s in KMS_SCHEMES)})"
            )
        return
    if not oidc_source(environ):
        raise InvalidValueError(
            "--sign needs --sign-key (a cosign key file or a KMS URI such as awskms://...) or,"
            " for keyless signing, a CI OIDC token (GitHub Actions: permissions id-token:"
            " write; elsewhere: SIGSTORE_ID_TOKEN)"
        )


def signing_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the variables cosign reads that no output may show."""
    return tuple(environ[name] for name in SECRET_VARIABLES if environ.get(name))
