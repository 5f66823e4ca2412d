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


# `NAME=value` where NAME reads like a secret (`API_TOKEN=abc`), and the same pair as
# repr() and JSON print a mapping (`'API_TOKEN': 'abc'`, invoke's --debug log of a config
# file). Not after `-` or a word character, so `--secret=id=x` and `--password=x` (the
# runner's own option rules) are left alone; the value runs to the closing quote when the
# pair is quoted (`'DB_PASSWORD=a b'`, as shlex and repr() print it), else to the next
# blank, quote, comma, bracket or `&`.
_ASSIGNMENT = re.compile(
    r"(?P<kq>['\"])(?P<kname>[A-Za-z_][\w.-]*)(?P=kq)(?P<sep>\s*:\s*)"
    r"(?P<vq>['\"])(?P<kvalue>(?:(?!(?P=vq))[^\\\n]|\\.)*)(?P=vq)"
    r"|(?<![\w.-])(?:(?P<q>['\"])(?P<qname>[A-Za-z_][\w.-]*)=(?P<qvalue>[^'\"\n]*)(?P=q)"
    r"|(?P<name>[A-Za-z_][\w.-]*)=(?P<value>[^\s'\"`,;&\]}>)]+))"
)
MASK = "***"


def _mask(m: re.Match[str]) -> str:
    if m.group("kq"):
        name, kq, vq = m.group("kname"), m.group("kq"), m.group("vq")
        if looks_secret(name) and m.group("kvalue"):
            return f"{kq}{name}{kq}{m.group('sep')}{vq}{MASK}{vq}"
        return m.group(0)
    if m.group("q"):
        name, quote = m.group("qname"), m.group("q")
        return f"{quote}{name}={MASK}{quote}" if looks_secret(name) else m.group(0)
    name = m.group("name")
    return f"{name}={MASK}" if looks_secret(name) else m.group(0)


def mask_secret_assignments(text: str) -> str:
    """``API_TOKEN=abc`` -> ``API_TOKEN=***`` for every secret-looking name in ``text``.

    Also ``'API_TOKEN': 'abc'`` (a mapping as repr() or JSON prints it). For text whose
    secret values nobody told us (invoke's ``--debug`` log of the argv and config files,
    an error raised before the settings were read); the runner also hides the known values.
    """
    if "=" not in text and ":" not in text:
        return text
    return _ASSIGNMENT.sub(_mask, text)


def scrub_text(text: str) -> str:
    """``text`` with URLs scrubbed and secret-looking ``NAME=value`` values masked."""
    return mask_secret_assignments(scrub_urls(text))
