"""Test certificates made with the ``openssl`` program: a CA and leaves it signs.

For TLS registries that need a client certificate (Distribution's ``http.tls.clientcas``)
and for ``https://`` proxies; :func:`certs_d` lays the client's files out the way docker's
``/etc/docker/certs.d/HOST:PORT/`` holds them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as files."""

    cert: Path
    key: Path


def _openssl(*argv: str) -> None:
    subprocess.run(["openssl", *argv], check=True, capture_output=True)


def make_ca(directory: Path, name: str = "multiarch test CA") -> Pair:
    """A self-signed CA certificate valid for two days."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = Pair(directory / "ca.pem", directory / "ca.key")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(pair.key), "-out", str(pair.cert),
    )  # fmt: skip
    return pair


def make_leaf(
    ca: Pair, directory: Path, name: str, sans: list[str], *, client: bool = False
) -> Pair:
    """A certificate for ``name`` signed by ``ca``: a server's, or with ``client`` a client's.

    ``sans`` as openssl writes them: ``IP:127.0.0.1``, ``DNS:registry.test``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pair = Pair(directory / f"{name}.pem", directory / f"{name}.key")
    request = directory / f"{name}.csr"
    extensions = directory / f"{name}.ext"
    usage = "clientAuth" if client else "serverAuth"
    lines = [f"extendedKeyUsage={usage}"]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    extensions.write_text("\n".join(lines) + "\n")
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", str(pair.key), "-out", str(request))  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(pair.cert),
    )  # fmt: skip
    return pair


def certs_d(root: Path, host: str, *, ca: Pair | None = None, client: Pair | None = None) -> Path:
    """Write ``root/HOST/`` as docker reads it: ``ca.crt``, ``client.cert``/``client.key``."""
    folder = root / host
    folder.mkdir(parents=True, exist_ok=True)
    if ca is not None:
        shutil.copy(ca.cert, folder / "ca.crt")
    if client is not None:
        shutil.copy(client.cert, folder / "client.cert")
        shutil.copy(client.key, folder / "client.key")
    return folder
