"""Registry credentials as docker keeps them: ``config.json`` and credential helpers.

``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): ``credHelpers``
(per registry) wins over ``credsStore`` (all registries), which wins over inline
``auths``. Helpers speak docker's protocol: ``docker-credential-NAME get`` with the server
URL on stdin, JSON ``{"Username", "Secret"}`` on stdout (``<token>`` = identity token).
Read only by :mod:`multiarch_tasks.registry.client`; secrets never reach a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiarch_tasks.model.errors import CommandError, RegistryError, ToolMissingError
from multiarch_tasks.model.reference import DOCKER_HUB

DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A user name and secret for one registry (``identity_token`` for OAuth refresh)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"

    @property
    def basic(self) -> str:
        """The value of a Basic ``Authorization`` header."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def config_key(registry: str) -> str:
    """Return the key docker writes ``registry``'s credentials under in config.json."""
    return DOCKER_HUB_CONFIG_KEY if registry == DOCKER_HUB else registry


def _bare_host(key: str) -> str:
    """``https://host:port/v1/`` -> ``host:port`` (config.json keys come in both forms)."""
    key = key.split("://", 1)[-1]
    return key.split("/", 1)[0]


def _docker_hub_aliases() -> frozenset[str]:
    return frozenset({"index.docker.io", "docker.io", "registry-1.docker.io"})


def _matches(key: str, registry: str) -> bool:
    host = _bare_host(key)
    if registry == DOCKER_HUB:
        return host in _docker_hub_aliases()
    return host == registry


def docker_config_path(docker_config: str | None = None) -> Path:
    """``DIR/config.json`` for ``docker_config``, ``$DOCKER_CONFIG`` or ``~/.docker``."""
    base = docker_config or os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def load_docker_config(path: Path) -> Mapping[str, Any]:
    """Read config.json; a missing file is an empty config."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise RegistryError(f"cannot read {path}: {err.strerror}") from err
    try:
        data = json.loads(text)
    except ValueError as err:
        raise RegistryError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise RegistryError(f"{path} is not a JSON object")
    return data


def credentials_from_config(
    config: Mapping[str, Any],
    registry: str,
    helper: Callable[[str, str], Credentials | None],
    *,
    source: str = "config.json",
) -> Credentials | None:
    """Find ``registry``'s credentials: ``credHelpers``, then ``credsStore``, then ``auths``.

    ``helper(name, server_url)`` runs ``docker-credential-NAME get`` (docker's own order:
    a per-registry helper wins over the store, which wins over inline ``auths``).
    """
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, Mapping):
        for key, name in helpers.items():
            if _matches(str(key), registry):
                return helper(str(name), str(key))
    store = config.get("credsStore")
    if store:
        found = helper(str(store), config_key(registry))
        if found is not None:
            return found
    auths = config.get("auths") or {}
    if not isinstance(auths, Mapping):
        return None
    for key, entry in auths.items():
        if _matches(str(key), registry) and isinstance(entry, Mapping):
            found = _auths_entry(str(key), entry, source)
            if found is not None:
                return found
    return None


def _auths_entry(key: str, entry: Mapping[str, Any], source: str) -> Credentials | None:
    """Decode one ``auths`` entry: ``auth`` (base64 ``user:password``) or its parts."""
    token = str(entry.get("identitytoken") or "")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise RegistryError(
                f"{source}: auths entry for {key} has an `auth` value that is not base64"
            ) from err
        user, sep, password = decoded.partition(":")
        if not sep:
            raise RegistryError(f"{source}: auths entry for {key} is not `user:password`")
        return Credentials(user, password, token)
    if entry.get("username"):
        return Credentials(str(entry["username"]), str(entry.get("password") or ""), token)
    return Credentials("", "", token) if token else None


def run_credential_helper(name: str, server_url: str) -> Credentials | None:
    """Ask ``docker-credential-NAME get`` for ``server_url`` (None when it knows none)."""
    from multiarch_tasks.engine.runner import Runner  # noqa: PLC0415 - only when a helper runs

    program = f"docker-credential-{name}"
    try:
        result = Runner().run([program, "get"], probe=True, stdin=server_url, check=False)
    except ToolMissingError as err:
        raise RegistryError(
            f"credential helper {program} (from config.json) is not installed"
        ) from err
    if not result.ok:
        # "credentials not found in native keychain": anonymous access, as docker does.
        if "not found" in (result.stdout + result.stderr).lower():
            return None
        raise CommandError([program, "get"], result.returncode, result.stderr, label=program)
    try:
        data = json.loads(result.stdout)
    except ValueError as err:
        raise RegistryError(f"{program} printed something that is not JSON") from err
    user, secret = str(data.get("Username") or ""), str(data.get("Secret") or "")
    if user == "<token>":
        return Credentials("", "", secret)
    return Credentials(user, secret)
