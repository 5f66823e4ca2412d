"""Which proxy a request goes through: ``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``.

Read as Go programs (docker, skopeo) read them, in either case; loopback is never
proxied. A proxy is an ``http://`` or ``https://`` URL (no scheme means http); one that
cannot be used is an error naming its variable, never its value (it may hold
credentials). Credentials go into ``Proxy-Authorization``, and into no message or repr.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from multiarch_tasks.model.errors import RegistryError

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Proxy:
    """A proxy: its URL without credentials, and the ``Proxy-Authorization`` it wants."""

    url: str
    authorization: str = ""

    @property
    def address(self) -> str:
        """``host:port`` of the proxy, for messages."""
        return self.url.partition("://")[2]

    def __repr__(self) -> str:  # never the credentials
        return f"Proxy({self.url})"


def proxy_for(
    scheme: str, host: str, port: int, env: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy for ``scheme://host:port`` from the environment, as Go reads it; or None."""
    env = os.environ if env is None else env
    host = host.lower().strip("[]")
    if host == "localhost" or _is_loopback_ip(host):
        return None
    names = ("HTTPS_PROXY", "https_proxy") if scheme == "https" else ("HTTP_PROXY", "http_proxy")
    name = next((n for n in names if env.get(n)), "")
    if not name or _no_proxy(host, port, env.get("NO_PROXY") or env.get("no_proxy") or ""):
        return None
    value = env[name]
    # The value itself is never shown: it may hold credentials.
    bad = RegistryError(f"${name} is not an http:// or https://HOST[:PORT] URL")
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        proxy_port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        raise bad from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or not proxy_port:
        raise bad
    auth = ""
    if parts.username is not None:
        import base64  # noqa: PLC0415 - only for a proxy with credentials

        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    where = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Proxy(f"{parts.scheme}://{where}:{proxy_port}", auth)


def endpoint(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of ``url`` (a scheme's default port made explicit)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme, 0)


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _no_proxy(host: str, port: int, value: str) -> bool:
    """Whether NO_PROXY exempts ``host:port``, as Go reads it.

    Entries: ``*``; an IP or a CIDR; a domain (itself and its subdomains) or ``.domain``
    (subdomains only); each with an optional ``:port``.
    """
    for raw in value.lower().split(","):
        entry = raw.strip()
        if entry == "*":
            return True
        if "/" in entry:
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            continue
        name, want = entry, ""
        if entry.startswith("["):
            name, _, want = entry[1:].partition("]")
            want = want.removeprefix(":")
        elif entry.count(":") == 1:
            name, _, want = entry.partition(":")
        if not name or (want and want != str(port)):
            continue
        name = name.removeprefix("*")
        if host.endswith(name if name.startswith(".") else "." + name) or host == name:
            return True
    return False
