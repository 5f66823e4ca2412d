"""A Docker token server on 127.0.0.1 for a Distribution registry with ``auth: token``.

What Docker Hub, GitLab, Harbor, ACR and GCR put in front of their registries, small enough
to read: RS256 JWTs whose ``x5c`` header carries a signing certificate chained to the CA
the registry trusts (its ``rootcertbundle``), issued for exactly the scopes a user may
have (per repository, ``fnmatch`` patterns), over the two front doors Distribution's docs
describe:

- ``GET /token?service=S&scope=repository:NAME:pull,push`` with Basic credentials (or
  none: anonymous, granted only what anonymous may do) -> ``{"token", "access_token",
  "expires_in", "issued_at"}``, plus a ``refresh_token`` when ``offline_token=true``;
- ``POST /token`` (OAuth2, form-encoded) with ``grant_type=password`` (``username``,
  ``password``) or ``grant_type=refresh_token`` (``refresh_token``): ``scope`` is space
  separated; a ``refresh_token`` comes back when ``access_type=offline``.

Wrong credentials get ``401``, an unknown refresh token ``401`` too. Every token issued
is recorded (:attr:`TokenServer.issued`) so a test can count renewals, check which scopes
were asked together (a cross-repository mount asks for ``pull`` on the source) and grep
outputs for the tokens themselves.

    server = TokenServer(tmp_path / "token", users={"alice": "pw"},
                         access={"alice": {"team/*": "pull,push"}}, lifetime=5)
    registry = Registry(RegistryConfig(root=..., token=server.registry_auth()))
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from testbed.certs import make_ca, make_leaf

SERVICE = "testbed-registry"
ISSUER = "testbed-token-server"


@dataclass(frozen=True)
class Issued:
    """One token handed out: to whom, by which grant, for which scopes (as granted)."""

    user: str
    grant: str  # "get", "password" or "refresh_token"
    requested: tuple[str, ...]
    granted: tuple[str, ...]
    token: str
    refresh_token: str = ""


@dataclass
class TokenServer:
    """A running token server; ``realm`` is its URL, :meth:`registry_auth` the registry's side.

    ``users`` maps names to passwords; ``access`` maps a user ("" for anonymous) to
    repository patterns and the actions granted there (``{"team/*": "pull,push"}``).
    ``lifetime`` is every token's validity in seconds (``exp``), ``announced`` what
    ``expires_in`` says when it must lie.
    """

    directory: Path
    users: dict[str, str]
    access: dict[str, dict[str, str]]
    lifetime: int = 300
    # What ``expires_in`` says, when it must differ from ``lifetime`` (a token that
    # expires earlier than announced: clock skew, a revoked session); None: the truth.
    announced: int | None = None
    # Distribution 2.8 accepts a token up to 60 s past its ``exp`` (clock-skew leeway):
    # ``exp_offset=-60`` makes a token die after ``lifetime`` as the registry sees it.
    exp_offset: int = 0
    issued: list[Issued] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        ca = make_ca(self.directory / "ca", name="testbed token CA")
        signer = make_leaf(ca, self.directory / "signer", "token-signer", [])
        self.rootcertbundle = ca.cert
        self._key = serialization.load_pem_private_key(signer.key.read_bytes(), password=None)
        der = x509.load_pem_x509_certificate(signer.cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        self._x5c = [base64.b64encode(der).decode()]
        self._refresh: dict[str, str] = {}
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self._http.server_address[1]}/token"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def registry_auth(self) -> dict[str, object]:
        """The ``auth:`` section of the registry's config.yml that trusts this server."""
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.rootcertbundle),
            }
        }

    def refresh_token_for(self, user: str) -> str:
        """A refresh token for ``user``, as an identity provider hands out (identitytoken)."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = user
        return token

    def secrets(self) -> list[str]:
        """Every access and refresh token issued so far (for grepping outputs)."""
        with self._lock:
            return [t for i in self.issued for t in (i.token, i.refresh_token) if t] + list(
                self._refresh
            )

    def bearer(self, repository: str) -> dict[str, str]:
        """Headers reading ``repository`` as an all-seeing test would (not recorded)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": "testbed", "aud": SERVICE, "exp": now + 600, "nbf": now - 5,
            "iat": now, "access": [{"type": "repository", "name": repository,
                                    "actions": ["pull"]}],
        }  # fmt: skip
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": self._x5c})  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        """Stop serving."""
        self._http.shutdown()
        self._http.server_close()

    # -- issuing --------------------------------------------------------------------

    def grant(self, user: str, scopes: list[str]) -> list[dict[str, object]]:
        """The ``access`` claim: each requested action the user may have, nothing more."""
        allowed = self.access.get(user, {})
        granted: list[dict[str, object]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            mine = {
                a
                for pattern, acts in allowed.items()
                if fnmatch.fnmatchcase(name, pattern)
                for a in acts.split(",")
            }
            ok = [a for a in actions.split(",") if a in mine]
            if ok:
                granted.append({"type": "repository", "name": name, "actions": ok})
        return granted

    def issue(self, user: str, grant: str, scopes: list[str], offline: bool) -> dict[str, object]:
        """Sign a token for ``user``; the JSON body both front doors answer with."""
        now = int(time.time())
        access = self.grant(user, scopes)
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + self.lifetime + self.exp_offset,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": self._x5c})  # type: ignore[arg-type]
        refresh = self.refresh_token_for(user) if offline and user else ""
        granted = tuple(f"repository:{a['name']}:{','.join(a['actions'])}" for a in access)  # type: ignore[arg-type]
        with self._lock:
            self.issued.append(Issued(user, grant, tuple(scopes), granted, token, refresh))
        body: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": self.lifetime if self.announced is None else self.announced,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "scope": " ".join(granted),
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def check_password(self, user: str, password: str) -> bool:
        """True when ``user`` exists with ``password``."""
        known = self.users.get(user)
        return known is not None and secrets.compare_digest(known, password)

    def user_of_refresh(self, token: str) -> str | None:
        """The user a refresh token was issued to, or None."""
        with self._lock:
            return self._refresh.get(token)


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - one class
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # quiet: the tests read server.issued

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, why: str, status: int = 401) -> None:
            with server._lock:  # noqa: SLF001
                server.refused.append(why)
            self._answer(status, {"errors": [{"code": "UNAUTHORIZED", "message": why}]})

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            user = ""
            header = self.headers.get("Authorization", "")
            if header.lower().startswith("basic "):
                try:
                    pair = base64.b64decode(header[6:].strip(), validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    self._refuse("malformed basic credentials")
                    return
                name, _, password = pair.partition(":")
                if not server.check_password(name, password):
                    self._refuse(f"wrong password for {name}")
                    return
                user = name
            offline = query.get("offline_token", ["false"])[0] == "true"
            self._answer(200, server.issue(user, "get", query.get("scope", []), offline))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())

            def one(key: str) -> str:
                return form.get(key, [""])[0]

            grant = one("grant_type")
            if grant == "password":
                if not server.check_password(one("username"), one("password")):
                    self._refuse(f"wrong password for {one('username')}")
                    return
                user = one("username")
            elif grant == "refresh_token":
                found = server.user_of_refresh(one("refresh_token"))
                if found is None:
                    self._refuse("unknown refresh token")
                    return
                user = found
            else:
                self._refuse(f"unsupported grant_type {grant!r}", 400)
                return
            scopes = [s for value in form.get("scope", []) for s in value.split()]
            offline = one("access_type") == "offline"
            self._answer(200, server.issue(user, grant, scopes, offline))

    return Handler
