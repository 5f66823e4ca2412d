"""Throwaway CNCF Distribution registries on 127.0.0.1, optionally with auth and TLS.

Auth: htpasswd (Basic), or token auth (``token=``, the ``auth:`` section
:meth:`testbed.token_server.TokenServer.registry_auth` writes).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REGISTRY_BIN = "docker-registry"
ACCEPT = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json,"
    " application/vnd.docker.distribution.manifest.list.v2+json,"
    " application/vnd.docker.distribution.manifest.v2+json"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RegistryConfig:
    """What goes into the registry's config.yml; compose auth and TLS as needed."""

    root: Path
    port: int = 0
    htpasswd: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # CAs whose client certificates the registry requires (Distribution's http.tls.clientcas),
    # and the certificate and key the test bed's own checks present.
    tls_client_cas: tuple[Path, ...] = ()
    tls_client: tuple[Path, Path] | None = None
    host: str = "127.0.0.1"
    # ``auth:`` section for token auth: realm, service, issuer, rootcertbundle.
    token: dict[str, object] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def render(self) -> dict[str, object]:
        """The registry config.yml as data."""
        http: dict[str, object] = {"addr": f"{self.host}:{self.port}", "secret": "testbed"}
        if self.tls_cert and self.tls_key:
            tls: dict[str, object] = {"certificate": str(self.tls_cert), "key": str(self.tls_key)}
            if self.tls_client_cas:
                tls["clientcas"] = [str(ca) for ca in self.tls_client_cas]
            http["tls"] = tls
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if self.htpasswd:
            config["auth"] = {"htpasswd": {"realm": "testbed", "path": str(self.htpasswd)}}
        if self.token:
            config["auth"] = self.token
        config.update(self.extra)
        return config


class Registry:
    """A running ``docker-registry serve`` process; ``host`` is ``127.0.0.1:PORT``."""

    def __init__(self, config: RegistryConfig) -> None:
        if shutil.which(REGISTRY_BIN) is None:
            msg = f"{REGISTRY_BIN} is not installed; run scripts/engine-up"
            raise FileNotFoundError(msg)
        if not config.port:
            config.port = free_port()
        self.config = config
        self.host = f"{config.host}:{config.port}"
        self._counter = 0
        config.root.mkdir(parents=True, exist_ok=True)
        # JSON is valid YAML: no YAML library needed to write the config.
        self.config_path = config.root / "config.yml"
        self.config_path.write_text(json.dumps(config.render(), indent=2))
        self.log_path = config.root / "registry.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_up()

    @property
    def _ssl(self) -> ssl.SSLContext | None:
        # The test bed's certificates are self-signed: the tests check content, not trust.
        if not self.config.tls_cert:
            return None
        context = ssl._create_unverified_context()  # noqa: S323, SLF001
        if self.config.tls_client:
            context.load_cert_chain(*self.config.tls_client)
        return context

    @property
    def scheme(self) -> str:
        """http, or https with TLS configured."""
        return "https" if self.config.tls_cert else "http"

    def _wait_up(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.scheme}://{self.host}/v2/"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(url, timeout=1, context=self._ssl)  # noqa: S310
            except urllib.error.HTTPError:
                return  # 401 with auth on: it is up
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
                continue
            return
        self.stop()
        log = self.log_path.read_text(errors="replace")[-2000:]
        msg = f"registry on {self.host} did not come up: {log}"
        raise RuntimeError(msg)

    def repo(self, name: str) -> str:
        """A fresh ``HOST/NAME-N`` repository, unique within this registry."""
        self._counter += 1
        return f"{self.host}/{name}-{self._counter}"

    def get_json(
        self, path: str, accept: str = "", headers: dict[str, str] | None = None
    ) -> tuple[dict[str, object], dict[str, str]]:
        """GET ``/v2/...`` and return (JSON body, headers); for assertions in tests."""
        req = urllib.request.Request(f"{self.scheme}://{self.host}{path}")  # noqa: S310
        req.add_header("Accept", accept or ACCEPT)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        with urllib.request.urlopen(req, timeout=10, context=self._ssl) as resp:  # noqa: S310
            return json.loads(resp.read()), dict(resp.headers)

    def manifest(
        self, repository: str, reference: str, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, object], str] | None:
        """(manifest JSON, digest) of ``repository:reference``, or None when absent.

        ``headers``: an ``Authorization`` for a registry with auth.
        """
        try:
            body, headers = self.get_json(
                f"/v2/{repository}/manifests/{reference}", headers=headers
            )
        except urllib.error.HTTPError as err:
            if err.code == 404:  # noqa: PLR2004
                return None
            raise
        return body, headers.get("Docker-Content-Digest", "")

    def platform_digests(self, repository: str, reference: str) -> dict[str, str]:
        """{``os/arch[/variant]``: child digest} of the index ``repository:reference``.

        Attestation manifests (platform ``unknown/unknown``) are left out.
        """
        found = self.manifest(repository, reference)
        if found is None:
            msg = f"{repository}:{reference} is not in the registry"
            raise LookupError(msg)
        out = {}
        for m in found[0]["manifests"]:  # type: ignore[attr-defined]
            p = m.get("platform", {})
            if p.get("os") != "unknown":
                name = "/".join(x for x in (p["os"], p["architecture"], p.get("variant", "")) if x)
                out[name] = m["digest"]
        return out

    def tags(self, repository: str) -> list[str]:
        """The tags of ``repository`` ([] when it does not exist)."""
        try:
            body, _ = self.get_json(f"/v2/{repository}/tags/list")
        except urllib.error.HTTPError as err:
            if err.code == 404:  # noqa: PLR2004
                return []
            raise
        return list(body.get("tags") or [])  # type: ignore[call-overload]

    def stop(self) -> None:
        """Terminate the registry process."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def htpasswd_file(path: Path, user: str, password: str) -> Path:
    """Write an htpasswd file with one bcrypt user (Distribution accepts only bcrypt)."""
    out = subprocess.run(
        ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
    ).stdout
    path.write_text(out)
    return path


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write a self-signed certificate and key for ``host`` (an IP SAN); return (cert, key)."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
