"""Answering a registry's ``401``: Basic with docker's credentials, Bearer with a token.

Credentials come from ``$DOCKER_CONFIG/config.json`` (``auths``, ``credsStore``,
``credHelpers``); a Bearer token is fetched from the challenge's realm for its service and
scope, cached per scope until shortly before it expires. Neither appears in a message.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from multiarch_tasks.model.errors import RegistryError
from multiarch_tasks.registry.credentials import (
    Credentials,
    credentials_from_config,
    load_docker_config,
    run_credential_helper,
)
from multiarch_tasks.registry.faults import TransportError
from multiarch_tasks.registry.transport import Transport

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_HTTP_OK = 200
_HTTP_UNAUTHORIZED = 401
_HTTP_FORBIDDEN = 403


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme plus its parameters."""

    scheme: str
    params: Mapping[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        """Parse ``Bearer realm="...",service="...",scope="..."`` (or ``Basic realm=...``)."""
        scheme, _, rest = header.strip().partition(" ")
        params = {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace(
                '\\"', '"'
            )
            for m in _CHALLENGE_PARAM.finditer(rest)
        }
        return cls(scheme.lower(), params)


def safe_url(url: str) -> str:
    """``url`` without its query (upload URLs carry state tokens) or user info."""
    head = url.split("?", 1)[0]
    scheme, sep, rest = head.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _renew_margin(expires_in: float) -> float:
    """Seconds before expiry a cached token is renewed (so it never expires in flight).

    10 s, but at most a quarter of its life: a flat 10 s made a 5 s token single-use.
    """
    return min(10.0, expires_in / 4)


class Authenticator:
    """The ``Authorization`` each registry wants, learnt from its challenges; thread-safe."""

    def __init__(self, transport: Transport, config_path: Path, timeout: float) -> None:
        self.transport = transport
        self.config_path = config_path
        self.timeout = timeout
        self._lock = threading.Lock()
        # Held while config.json / a credential helper is read, so a helper runs once.
        self._credentials_lock = threading.Lock()
        self._credentials: dict[str, Credentials | None] = {}
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def credentials(self, registry: str) -> Credentials | None:
        """Look up (once) the credentials config.json holds for ``registry``."""
        with self._credentials_lock:
            if registry not in self._credentials:
                config = load_docker_config(self.config_path)
                self._credentials[registry] = credentials_from_config(
                    config, registry, run_credential_helper, source=str(self.config_path)
                )
            return self._credentials[registry]

    def learn(self, registry: str, challenge: Challenge) -> bool:
        """Remember how ``registry`` wants to be spoken to; False if we cannot answer."""
        if challenge.scheme == "basic":
            if self.credentials(registry) is None:
                return False
        elif challenge.scheme == "bearer":
            if not challenge.params.get("realm"):
                raise RegistryError(f"{registry} sent a Bearer challenge without a realm")
        else:
            raise RegistryError(f"{registry} asks for unsupported auth scheme {challenge.scheme!r}")
        with self._lock:
            self._challenges[registry] = challenge
            # A 401 despite a token means it expired or lacks a scope: fetch new ones.
            self._tokens = {k: v for k, v in self._tokens.items() if k[0] != registry}
        return True

    def authorization(self, registry: str, scopes: Sequence[str]) -> str:
        """Return the ``Authorization`` header for a request, or "" before any challenge."""
        with self._lock:
            challenge = self._challenges.get(registry)
        if challenge is None:
            return ""
        creds = self.credentials(registry)
        if challenge.scheme == "basic":
            return creds.basic if creds else ""
        key = (registry, " ".join(scopes))
        with self._lock:
            cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        token, expires_in = self._fetch_token(registry, challenge, scopes, creds)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + expires_in - _renew_margin(expires_in))
        return f"Bearer {token}"

    def _fetch_token(
        self,
        registry: str,
        challenge: Challenge,
        scopes: Sequence[str],
        creds: Credentials | None,
    ) -> tuple[str, float]:
        """Get a Bearer token from the challenge's realm (Distribution token spec)."""
        realm = challenge.params["realm"]
        service = challenge.params.get("service", "")
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        try:
            if creds and creds.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "service": service,
                    "scope": " ".join(scopes),
                    "client_id": "multiarch-tasks",
                }
                resp = self.transport.request(
                    "POST",
                    realm,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    body=urlencode(form).encode(),
                    timeout=self.timeout,
                )
            else:
                headers = {"Authorization": creds.basic} if creds and creds.username else {}
                resp = self.transport.request(
                    "GET", realm, params=params, headers=headers, timeout=self.timeout
                )
        except TransportError as err:
            raise RegistryError(
                f"cannot reach the token service of {registry} ({err.kind})",
                url=safe_url(realm),
            ) from err
        if resp.status_code != _HTTP_OK:
            raise RegistryError(
                f"token service of {registry} refused a token: {resp.status_code} {resp.reason}"
                + _refusal_hint(registry, creds, resp.status_code),
                status=resp.status_code,
                url=safe_url(realm),
            )
        try:
            body = resp.json()
        except ValueError as err:
            raise RegistryError(f"token service of {registry} answered no JSON") from err
        token = str(body.get("token") or body.get("access_token") or "")
        if not token:
            raise RegistryError(f"token service of {registry} answered without a token")
        # The spec's default lifetime is 60 seconds when expires_in is absent.
        return token, float(body.get("expires_in") or 60)


def _refusal_hint(registry: str, creds: Credentials | None, status: int) -> str:
    """What to do about a token service's refusal, by what was sent (never the secret)."""
    if creds is None:
        return " (no credentials in config.json; run `docker login`)"
    if status not in {_HTTP_UNAUTHORIZED, _HTTP_FORBIDDEN}:  # refusals about who asks
        return ""
    if creds.identity_token:
        return (
            " (the identity token in config.json is expired or revoked;"
            f" run `docker login {registry}` again)"
        )
    return f" (wrong user name or password for {registry}; run `docker login {registry}`)"
