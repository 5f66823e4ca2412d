"""What must never be printed: secret-looking names and credentials inside URLs.

Pure text functions, importing nothing of ours, so the settings, the runner and the
secrets helpers can all use them (issue 9, point 6).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

# Whole word parts of a name (`API_KEY`, `npmToken`) that mark it as a secret.
_SECRET_PARTS = frozenset(
    {
        "PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PWD", "PASSPHRASE",
        "TOKEN", "TOKENS", "SECRET", "SECRETS", "KEY", "KEYS", "APIKEY", "CREDENTIAL",
        "CREDENTIALS", "CREDS", "AUTH", "PRIVATE", "PAT", "SIGNATURE", "SIG",
    }
)  # fmt: skip
# Suffixes that mark a glued word (`DBPASSWORD`, `GITHUBTOKEN`, `ACCESSKEY`) as a secret;
# plain `KEY` is not among them (`MONKEY`, `KEYBOARD` are no secrets).
_SECRET_SUFFIXES = ("PASSWORD", "PASSWD", "TOKEN", "SECRET", "APIKEY", "ACCESSKEY", "SECRETKEY")
# A name part that says the value is meant to be public.
_PUBLIC_PARTS = frozenset({"PUBLIC", "PUB"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Query parameters that carry credentials (presigned S3/GCS/Azure URLs, GitLab, OAuth).
_SECRET_QUERY = frozenset(
    {
        "token", "access_token", "private_token", "id_token", "refresh_token", "auth",
        "password", "passwd", "secret", "client_secret", "sig", "signature", "api_key",
        "apikey", "key", "credential", "credentials", "x-access-token", "code",
    }
)  # fmt: skip
_SECRET_QUERY_PREFIXES = ("x-amz-", "x-goog-", "x-ms-")
_HTTP = frozenset({"http", "https", "git+https", "git+http"})
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def name_parts(name: str) -> list[str]:
    """Split ``API_KEY``, ``npmAuthToken`` or ``db.password`` into upper-case word parts."""
    return [m.group(0).upper() for m in _WORD.finditer(name)]


def looks_secret(name: str) -> bool:
    """Tell whether a variable name reads like it holds a secret (``API_KEY``, not ``KEYBOARD``)."""
    parts = name_parts(name)
    if any(p in _PUBLIC_PARTS for p in parts):
        return False
    return any(p in _SECRET_PARTS or p.endswith(_SECRET_SUFFIXES) for p in parts)


def _secret_param(pair: str) -> bool:
    name = unquote(pair.split("=", 1)[0]).strip().lower()
    return name in _SECRET_QUERY or name.startswith(_SECRET_QUERY_PREFIXES)


def scrub_url(url: str) -> str:
    """``url`` without credentials and without token-like query parameters.

    Over HTTP(S) the whole ``user:password@`` goes; elsewhere (``ssh://me:pw@host``) only
    the password, the login name is no secret.

    ``https://oauth2:TOKEN@gitlab.example/g/app.git?private_token=X&ref=main`` becomes
    ``https://gitlab.example/g/app.git?ref=main``. Text that is not a URL with a scheme
    and a host (``git@github.com:o/r.git``) is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        # Over HTTP a lone user part is often the token itself (https://TOKEN@github.com);
        # over ssh it is a login name (ssh://me@arm-box) and stays, without any password.
        netloc = f"{user}@{host}" if user and parts.scheme.lower() not in _HTTP else host
    query = parts.query
    if query:
        query = "&".join(p for p in query.split("&") if p and not _secret_param(p))
    clean = SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment)
    return urlunsplit(clean) if clean != parts else url


def scrub_urls(text: str) -> str:
    """Apply :func:`scrub_url` to every ``scheme://...`` URL inside ``text``."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: scrub_url(m.group(0)), text)
