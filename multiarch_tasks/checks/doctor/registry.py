"""doctor's registry row: the configured image's registry is reachable and takes the credentials.

Only read: the credentials docker would send, then the repository's tag list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarch_tasks.checks.doctor.report import FAIL, OK, WARN, Row
from multiarch_tasks.model.errors import InvalidReferenceError, RegistryError
from multiarch_tasks.model.reference import ImageRef

if TYPE_CHECKING:
    from multiarch_tasks.config.settings import Settings
    from multiarch_tasks.registry.client import RegistryClient
HTTP_UNAUTHORIZED, HTTP_FORBIDDEN, HTTP_NOT_FOUND = 401, 403, 404


def registry_row(settings: Settings, rows: list[Row], client: RegistryClient | None) -> None:
    """Append the registry row: reachable, and as whom."""
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
            insecure=settings.insecure_registries,
            retries=1,
            timeout=10.0,
            backoff=0.25,
            max_body=settings.max_manifest_size,
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
