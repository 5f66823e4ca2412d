"""One call to a registry's API: its scheme, its ``Authorization``, its retries, its errors.

:class:`RegistryCalls` is what :class:`~multiarch_tasks.registry.client.RegistryClient`
builds its operations on. A call

- speaks plain HTTP to loopback registries and to the configured insecure ones, HTTPS
  to everything else;
- answers one ``401`` challenge (:mod:`~multiarch_tasks.registry.auth`);
- retries ``429``/``5xx``, refused and dropped connections and read timeouts with
  exponential backoff, honouring ``Retry-After``; a registry still rate limiting after
  the last retry raises :class:`~multiarch_tasks.model.errors.RateLimitedError`;
- does not retry a registry that answered in a form HTTP does not allow, or kept a
  request busy past its deadline: either is an error naming the registry at once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from multiarch_tasks.model.errors import RateLimitedError, RegistryError
from multiarch_tasks.model.redaction import scrub_urls
from multiarch_tasks.model.reference import ImageRef, is_loopback_host
from multiarch_tasks.registry.auth import Authenticator, Challenge, safe_url
from multiarch_tasks.registry.credentials import Credentials, docker_config_path
from multiarch_tasks.registry.faults import TransportError
from multiarch_tasks.registry.retry import (
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    TransientError,
    backoff_delay,
    retry_after_seconds,
)
from multiarch_tasks.registry.transport import MAX_BODY, Response, Transport

R = TypeVar("R")

DEFAULT_TIMEOUT = 30.0
_HTTP_BAD_REQUEST = 400
_HTTP_UNAUTHORIZED = 401
_HTTP_FORBIDDEN = 403
_HTTP_NOT_FOUND = 404
_HTTP_TOO_MANY = 429


class RegistryCalls:
    """Calls to registries with docker's auth, its scheme rules, retries and error texts.

    ``insecure`` lists ``host[:port]`` registries reached like loopback ones: HTTPS without
    certificate checks when they speak TLS, else plain HTTP. ``retries`` is how often a
    429/5xx/connection error is retried, ``backoff`` the first wait in seconds (doubled
    each time unless the registry sends ``Retry-After``); ``timeout`` the seconds a read
    may wait, and (plus a second) what a whole request may take; ``docker_config`` a
    directory holding ``config.json``; ``say`` prints the one line each retry logs
    (stderr by default; the tasks pass their runner's ``say``); ``max_body`` the bytes a
    manifest, index, config or any other body read whole may hold (setting
    ``max_manifest_size``).
    """

    def __init__(
        self,
        *,
        insecure: Iterable[str] = (),
        retries: int = 3,
        timeout: float = DEFAULT_TIMEOUT,
        docker_config: str | None = None,
        backoff: float = 1.0,
        say: Callable[[str], None] | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.insecure = frozenset(insecure)
        self.max_body = max_body or MAX_BODY
        self.retries = max(0, retries)
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.backoff = backoff
        self.say = say or _say_stderr
        self.config_path = docker_config_path(docker_config)
        # Keep-alive connections, shared by the threads of map().
        self.session = Transport(self.max_body)
        self.auth = Authenticator(self.session, self.config_path, self.timeout)
        self._lock = threading.Lock()
        self._tentative: set[str] = set()
        self._schemes: dict[str, str] = {}

    def credentials(self, registry: str) -> Credentials | None:
        """Look up (once) the credentials config.json holds for ``registry``."""
        return self.auth.credentials(registry)

    # -- URLs -----------------------------------------------------------------------

    def scheme(self, registry: str) -> str:
        """``https``; for loopback and insecure registries, plain HTTP until it fails.

        dockerd tries HTTPS without certificate checks first and falls back to plain
        HTTP. This client tries plain HTTP first, with the first real request (no probe:
        a TLS handshake costs ~100 ms of certificate loading, a probe a round trip): a
        registry that speaks TLS answers it with ``400`` ("HTTP request to an HTTPS
        server") or drops the connection; then a TLS handshake decides, and when it
        succeeds this registry is spoken to in HTTPS without certificate checks from then
        on (see :meth:`_settle_scheme`).
        """
        if not (is_loopback_host(registry) or registry in self.insecure):
            return "https"
        with self._lock:
            known = self._schemes.get(registry)
            if known:
                return known
            self._schemes[registry] = "http"
            self._tentative.add(registry)
        return "http"

    def _settle_scheme(
        self, registry: str, url: str, resp: Response | None, err: TransportError | None
    ) -> str:
        """After a first plain-HTTP request to ``registry``: the URL to try again, or "".

        A TLS server answers plain HTTP with ``400`` (Go's and nginx's), by closing the
        connection or with TLS bytes that are no HTTP. Either way a TLS handshake decides
        (:meth:`_speaks_tls`), never the words of the answer: a plain-HTTP registry whose
        400 says "use https" stays plain HTTP and its own error is reported. Any other
        answer, or a refused connection (nobody listening), settles on HTTP.
        """
        with self._lock:
            if registry not in self._tentative or not url.startswith("http://"):
                return ""
            self._tentative.discard(registry)
        if resp is not None:
            speaks_tls = resp.status_code == _HTTP_BAD_REQUEST and self._speaks_tls(registry)
        elif err is None or err.refused or err.late:
            speaks_tls = False  # nobody there, or a server busy answering in plain HTTP
        else:
            # Dropped: a TLS server hanging up on plain HTTP, or a transient fault (which
            # must not switch an HTTP registry to HTTPS).
            speaks_tls = self._speaks_tls(registry)
        if not speaks_tls:
            return ""
        with self._lock:
            self._schemes[registry] = "https"
        return "https://" + url.removeprefix("http://")

    def _speaks_tls(self, registry: str) -> bool:
        """Whether ``registry`` completes a TLS handshake and answers ``GET /v2/`` over it.

        Any HTTP answer counts (401 and 404 included), and so does a TLS alert (the
        server speaks TLS but refuses this client: no client certificate, and that error
        is worth seeing); a handshake that fails otherwise (a plain HTTP server answers
        it in plain text: ``WRONG_VERSION_NUMBER``) or no answer within 5 s does not. The user
        declared this registry insecure, or it is on loopback: like docker, nothing is
        said about the unchecked certificate.
        """
        try:
            self.session.request(
                "GET", f"https://{registry}/v2/", timeout=min(self.timeout, 5.0), verify=False
            ).close()
        except TransportError as err:
            # ssl's reason for an alert the peer sent: TLSV13_ALERT_CERTIFICATE_REQUIRED...
            return err.kind.startswith("SSLError") and "_ALERT_" in err.kind
        return True

    def _current_url(self, url: str, ref: ImageRef) -> str:
        """``url`` in the scheme ``ref``'s registry turned out to speak (URLs built earlier)."""
        if url.startswith(f"http://{ref.api_host}/") and self._schemes.get(ref.registry) == (
            "https"
        ):
            return "https://" + url.removeprefix("http://")
        return url

    def _verify_tls(self, registry: str) -> bool:
        """Check certificates except for loopback/insecure registries that speak HTTPS."""
        return self._schemes.get(registry) != "https"

    def url(self, ref: ImageRef, kind: str, reference: str = "") -> str:
        """``SCHEME://API_HOST/v2/REPO/KIND[/REFERENCE]``."""
        base = f"{self.scheme(ref.registry)}://{ref.api_host}/v2/{ref.repository}/{kind}"
        return f"{base}/{reference}" if reference else base

    # -- one call -------------------------------------------------------------------

    def with_retries(self, func: Callable[[], R], what: str) -> R:
        """Run ``func`` (a whole streamed read or copy) again after a :class:`TransientError`.

        For work a single request's retry cannot redo: a blob cut off mid-stream is read
        again from the start. Within ``retries``, with backoff, one line per retry.
        """
        attempt = 0
        while True:
            try:
                return func()
            except TransientError as err:
                if attempt >= self.retries:
                    raise
                attempt += 1
                delay = backoff_delay(attempt, self.backoff, None)
                self.say(f"registry: {what}: {err}; retry {attempt}/{self.retries} in {delay:g}s")
                time.sleep(delay)

    def _raise_for(self, resp: Response, what: str, registry: str) -> None:
        if resp.status_code < 300:  # noqa: PLR2004
            return
        detail = _error_detail(resp)
        reason = f"{resp.status_code} {resp.reason}" + (f" ({detail})" if detail else "")
        kind: type[RegistryError] = RegistryError
        if resp.status_code == _HTTP_NOT_FOUND:
            message = f"{what}: not found ({detail or '404'})"
        elif resp.status_code == _HTTP_UNAUTHORIZED:
            message = (
                f"{registry} refused {what}: {reason} (authentication failed); log in with"
                f" `docker login {registry}` or check the credentials in {self.config_path}"
            )
        elif resp.status_code == _HTTP_FORBIDDEN:
            message = f"{registry} denies access to {what}: {reason}"
        else:
            message = f"{what}: {reason}"
            if resp.status_code in RETRY_STATUSES:
                kind = TransientError
        raise kind(message, status=resp.status_code, url=safe_url(resp.url))

    def _request(  # noqa: C901 - one loop: scheme, auth, then the retry rules
        self,
        method: str,
        url: str,
        ref: ImageRef,
        *,
        push: bool = False,
        extra_scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: bytes | Iterable[bytes] | None = None,
        stream: bool = False,
        retries: int | None = None,
    ) -> Response:
        """Send one request with auth, answering one 401 challenge and retrying faults.

        Retried (``retries``, default the client's, with exponential backoff or the
        registry's ``Retry-After``): 429, 500/502/503/504, refused or dropped connections
        and read timeouts; one line per retry goes to ``say``. A malformed answer or a
        missed deadline raises at once. Everything else is returned as it came. A
        streamed body cannot be sent twice: its caller passes ``retries=0`` and retries
        the whole copy; a connection fault then raises :class:`TransientError`.
        """
        limit = self.retries if retries is None else retries
        actions = "pull,push" if push else "pull"
        scopes = (f"repository:{ref.repository}:{actions}", *extra_scopes)
        retried_auth = False
        attempt = 0
        url = self._current_url(url, ref)
        while True:
            auth = self.auth.authorization(ref.registry, scopes)
            sent = {**(headers or {}), **({"Authorization": auth} if auth else {})}
            try:
                resp = self.session.request(
                    method,
                    url,
                    headers=sent,
                    params=params,
                    body=data,
                    stream=stream,
                    timeout=self.timeout,
                    verify=self._verify_tls(ref.registry),
                )
            except TransportError as err:
                if err.too_large:
                    raise too_large(
                        f"{method} {safe_url(url)}", ref.registry, err.too_large
                    ) from err
                if again := self._settle_scheme(ref.registry, url, None, err):
                    url = again
                    continue
                if err.malformed or err.late:
                    raise _bad_answer(method, url, ref.registry, err) from err
                if attempt < limit:
                    attempt += 1
                    self._retrying(method, url, err.kind, attempt, limit, None)
                    continue
                raise TransientError(
                    f"{method} {safe_url(url)}: cannot reach {ref.registry}"
                    f" after {attempt + 1} attempt{'s' if attempt else ''} ({err.kind})",
                    url=safe_url(url),
                ) from err
            if again := self._settle_scheme(ref.registry, url, resp, None):
                resp.close()
                url = again
                continue
            if resp.status_code == _HTTP_UNAUTHORIZED and not retried_auth:
                header = resp.header("WWW-Authenticate")
                if header and self.auth.learn(ref.registry, Challenge.parse(header)):
                    retried_auth = True
                    resp.close()
                    continue
            if resp.status_code in RETRY_STATUSES:
                wait = retry_after_seconds(resp.header("Retry-After"))
                if resp.status_code == _HTTP_TOO_MANY and (
                    attempt >= limit or (wait is not None and wait > MAX_RETRY_AFTER)
                ):
                    resp.close()
                    after = f" (it asks to wait {wait:.0f}s)" if wait is not None else ""
                    raise RateLimitedError(
                        f"{ref.registry} is rate limiting requests (429 Too Many Requests)"
                        f" after {attempt + 1} attempts{after}; log in for a higher limit or"
                        " copy the image to your own registry with `multiarch mirror`",
                        status=_HTTP_TOO_MANY,
                        url=safe_url(url),
                    )
                if attempt < limit:
                    attempt += 1
                    resp.close()
                    why = f"{resp.status_code} {resp.reason}"
                    self._retrying(method, url, why, attempt, limit, wait)
                    continue
            return resp

    def _retrying(
        self, method: str, url: str, why: str, attempt: int, limit: int, wait: float | None
    ) -> None:
        """Log one line for retry ``attempt`` and wait before it."""
        delay = min(backoff_delay(attempt, self.backoff, wait), MAX_RETRY_AFTER)
        self.say(
            f"registry: {method} {safe_url(url)}: {why}; retry {attempt}/{limit} in {delay:g}s"
        )
        time.sleep(delay)


def too_large(what: str, registry: str, limit: int) -> RegistryError:
    """The error for a body over the limit of what is read into memory (not retried)."""
    return RegistryError(
        f"{what}: {registry} sent more than the {limit / (1 << 20):g} MiB limit on a manifest,"
        " index or config read into memory; raise the setting max_manifest_size to read it"
    )


def _bad_answer(method: str, url: str, registry: str, err: TransportError) -> RegistryError:
    """The error for a registry that answered, but not in HTTP, or not in time."""
    if err.late:
        what = f"sent no complete answer within its deadline ({err})"
    else:
        what = f"answered badly: not HTTP this client can read ({err})"
    return RegistryError(f"{method} {safe_url(url)}: {registry} {what}", url=safe_url(url))


_TEXT_DETAIL = 160  # characters of a plain-text error body shown in the one-line error


def _error_detail(resp: Response) -> str:
    """The registry's own error code and message (Distribution's ``errors``).

    A ``text/plain`` body (a proxy's or a small server's) gives its first line instead,
    cut to a length that keeps the error one readable line.
    """
    try:
        body = resp.json()
    except ValueError:
        if not resp.header("Content-Type").lower().startswith("text/plain"):
            return ""
        line = next((ln.strip() for ln in resp.text.splitlines() if ln.strip()), "")
        shown = scrub_urls("".join(c for c in line if c.isprintable()))
        return shown[:_TEXT_DETAIL] + ("..." if len(shown) > _TEXT_DETAIL else "")
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    first = errors[0]
    return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")


def _say_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
