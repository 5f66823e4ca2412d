"""TLS settings per registry: the system store, and docker's ``certs.d`` directories.

OpenSSL reads ``SSL_CERT_FILE``/``SSL_CERT_DIR`` for the system store. Docker's
convention adds, per registry, ``/etc/docker/certs.d/HOST[:PORT]/`` (no port for 443):
``*.crt`` files are extra CAs, a ``*.cert`` with its ``*.key`` is the client certificate.
``$MULTIARCH_CERTS_D`` replaces that root. Registries reached without certificate
checks (loopback, insecure) still send their client certificate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from multiarch_tasks.model.errors import RegistryError

if TYPE_CHECKING:
    import ssl

CERTS_D = "/etc/docker/certs.d"
CERTS_D_VAR = "MULTIARCH_CERTS_D"
_HTTPS_PORT = 443


@dataclass(frozen=True)
class TlsFiles:
    """What docker's ``certs.d/HOST[:PORT]/`` holds for one registry."""

    cas: tuple[str, ...] = ()
    cert: str = ""
    key: str = ""


def tls_files(host: str, port: int, env: Mapping[str, str] | None = None) -> TlsFiles:
    """The CA files and client certificate docker's certs.d convention gives ``host:port``."""
    env = os.environ if env is None else env
    root = Path(env.get(CERTS_D_VAR) or CERTS_D)
    name = f"[{host}]" if ":" in host else host
    folder = root / (name if port == _HTTPS_PORT else f"{name}:{port}")
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:  # no such directory: the usual case
        return TlsFiles()
    cas = tuple(str(p) for p in files if p.suffix == ".crt")
    for cert in (p for p in files if p.suffix == ".cert"):
        key = cert.with_suffix(".key")
        if not key.is_file():
            raise RegistryError(f"client certificate {cert} has no {key.name} beside it")
        return TlsFiles(cas, str(cert), str(key))
    return TlsFiles(cas)


def tls_context(files: TlsFiles, *, verify: bool) -> ssl.SSLContext:
    """A TLS context: system store and ``files.cas``, or no checks; ``files``' client cert.

    Made once per (files, verify, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``): loading the
    system store takes milliseconds.
    """
    store = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    return _tls_context(files, verify, store)


@cache
def _tls_context(files: TlsFiles, verify: bool, store: tuple[str, str]) -> ssl.SSLContext:  # noqa: ARG001 - store: a cache key
    import ssl  # noqa: PLC0415 - with the first TLS connection

    from urllib3.util.ssl_ import create_urllib3_context  # noqa: PLC0415

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    file = ""
    try:
        if verify:
            context.load_default_certs()
            for file in files.cas:
                context.load_verify_locations(cafile=file)
        if files.cert:
            file = files.cert
            context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "reason", None) or type(err).__name__
        raise RegistryError(
            f"cannot load TLS file {file or 'of the system store'}: {reason}"
        ) from err
    return context
