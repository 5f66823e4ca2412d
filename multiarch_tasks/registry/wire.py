"""HTTP/1.1 for :mod:`multiarch_tasks.registry.client`, on sockets and :mod:`multiarch_tasks.registry.http11`.

registry.py is the one module that speaks to registries; this is its plumbing, and only
registry.py imports it. It does what the client needs of an HTTP library, no more. It does
not use ``http.client``: that one imports ``email`` and ``ssl`` (~28 ms, a third of a
``multiarch inspect``) even for plain HTTP; here ``ssl`` loads with the first TLS connection
and the message framing is http11.py's small subset of HTTP/1.1:

- keep-alive connections pooled per (scheme, host, port, verify, proxy), shared by
  threads; an idle connection the server closed is noticed before reuse, and a reused
  one that fails before any answer is retried once on a fresh connection when the body
  can be sent again;
- bodies as ``bytes``, as a sized iterable (``Content-Length``, sent chunk by chunk) or
  any iterable of bytes (chunked transfer encoding); responses read whole or streamed;
- redirects (blobs live in storage backends), dropping ``Authorization`` on another host;
- TLS with the system store (``verify=True``; OpenSSL reads ``SSL_CERT_FILE``/
  ``SSL_CERT_DIR``) or without checks, each context made once, on first use, the host
  sent as SNI;
- proxies as Go programs (docker, skopeo) read them: ``HTTPS_PROXY``, ``HTTP_PROXY``,
  ``NO_PROXY`` (either case); loopback is never proxied. Proxy credentials go into
  ``Proxy-Authorization`` and into no message; https goes through a CONNECT tunnel, http
  to the proxy in absolute form.

Every fault that leaves no (complete) answer is a :class:`TransportError`; its
``refused`` tells "nobody listens" from a dropped or timed-out connection. The socket
timeout bounds the connect and each read.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import ipaddress
import json
import os
import re
import select
import socket
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit

from multiarch_tasks.registry import http11

if TYPE_CHECKING:
    import ssl

Body = bytes | Iterable[bytes] | None
Params = Mapping[str, str] | Sequence[tuple[str, str]]
MAX_IDLE_PER_HOST = 16
MAX_IDLE = 64
MAX_REDIRECTS = 10
_SMALL = 1 << 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[\w-]+\s*=\s*(?:"[^"]*"|[^;,\s]*)\s*)*)')
_LINK_PARAM = re.compile(r';\s*([\w-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))')
_DEFAULT_PORTS = {"http": 80, "https": 443}
_Faults = (OSError, http11.ProtocolError)


class TransportError(Exception):
    """No complete answer: refused, dropped, reset, timed out, cut short, TLS failure.

    ``kind`` names the cause (``ConnectionRefusedError``, ``RemoteDisconnected``,
    ``TimeoutError``, ``IncompleteRead``...); ``refused`` is True only when nothing
    answers at the server's address (refused, unknown name, unreachable), not at a proxy.
    """

    def __init__(self, kind: str, detail: str = "", *, refused: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.refused = refused


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: where it listens and the ``Proxy-Authorization`` it wants, if any."""

    host: str
    port: int
    authorization: str = ""

    def __repr__(self) -> str:  # never the credentials
        return f"Proxy({self.host}:{self.port})"


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
    parts = urlsplit(env[name] if "://" in env[name] else f"http://{env[name]}")
    try:
        proxy_port = parts.port or 80
    except ValueError:
        proxy_port = 0
    if parts.scheme != "http" or not parts.hostname or not proxy_port:
        # Only plain-HTTP proxies (what the test beds and most corporate ones speak). The
        # value itself is never shown: it may hold credentials.
        raise TransportError("UnsupportedProxy", f"${name} is not an http://HOST[:PORT] URL")
    auth = ""
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(parts.hostname, proxy_port, auth)


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


_contexts: dict[bool, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(*, verify: bool) -> ssl.SSLContext:
    """The process's TLS context: the system store (loaded once: it is slow), or no checks."""
    with _contexts_lock:
        if verify not in _contexts:
            import ssl  # noqa: PLC0415 - ~15 ms: only when a TLS connection is made

            if verify:
                _contexts[verify] = ssl.create_default_context()
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                _contexts[verify] = context
        return _contexts[verify]


def parse_links(header: str) -> dict[str, dict[str, str]]:
    """``Link: <url>; rel="next", ...`` as ``{"next": {"url": url, "rel": "next"}}``."""
    links: dict[str, dict[str, str]] = {}
    for match in _LINK.finditer(header):
        link = {"url": match.group(1).strip()}
        for param in _LINK_PARAM.finditer(match.group(2)):
            link[param.group(1).lower()] = (
                param.group(2) if param.group(2) is not None else param.group(3)
            )
        links[link.get("rel") or link["url"]] = link
    return links


class Response:
    """One answer. Not streamed: read whole at once. Streamed: read by :meth:`iter_content`.

    The connection goes back to the pool when the body has been read to its end; a
    response closed before that takes its connection down with it.
    """

    def __init__(self, raw: http11.Reply, url: str, release: Callable[[bool], None]) -> None:
        self.raw = raw
        self.url = url
        self.status_code = raw.status
        self.reason = raw.reason
        self.headers = raw.headers
        self._release: Callable[[bool], None] | None = release
        self._content: bytes | None = None

    def _done(self, *, reusable: bool) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(reusable and not self.raw.will_close)

    def _fault(self, err: Exception) -> TransportError:
        self._done(reusable=False)
        return TransportError(type(err).__name__, str(err))

    @property
    def content(self) -> bytes:
        """The whole body (read now if it was streamed and not read yet)."""
        if self._content is None:
            self._content = b"".join(self.iter_content(1 << 20))
        return self._content

    @property
    def text(self) -> str:
        """The body decoded with its charset (UTF-8 if it names none)."""
        return self.content.decode(self.headers.get_content_charset() or "utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not."""
        return json.loads(self.content)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header parsed, by ``rel``."""
        return parse_links(", ".join(self.headers.get_all("Link") or []))

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        """Yield the body in chunks of at most ``chunk_size``; TransportError if cut short."""
        if self._content is not None:
            yield from (
                self._content[i : i + chunk_size] for i in range(0, len(self._content), chunk_size)
            )
            return
        while True:
            try:
                data = self.raw.read(chunk_size)
            except _Faults as err:
                raise self._fault(err) from err
            if data:
                yield data
                continue
            self._done(reusable=True)
            return

    def close(self) -> None:
        """Give the connection back if the body was read, else close it."""
        self._done(reusable=self.raw.complete)


_Key = tuple[str, str, int, bool, Proxy | None]


class Transport:
    """A pool of keep-alive connections, safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[http11.Connection]] = {}
        # A transport dropped without close() still closes its idle sockets.
        weakref.finalize(self, _close_all, self._idle)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        body: Body = None,
        stream: bool = False,
        timeout: float | None = None,
        verify: bool = True,
    ) -> Response:
        """Send one request, following redirects; raise :class:`TransportError` on a fault."""
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        sent = {"User-Agent": "multiarch-tasks", **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._send(method, url, sent, body, timeout=timeout, verify=verify)
            status, location = resp.status_code, resp.headers.get("Location")
            # requests' rules: 303 (but HEAD), and 301/302 after a POST, turn into a GET.
            to_get = (status == 303 and method != "HEAD") or (status < 303 and method == "POST")  # noqa: PLR2004
            resend = not to_get and not (body is None or isinstance(body, bytes))
            if status not in _REDIRECTS or not location or resend:  # a stream is sent once
                if not stream:
                    resp.content  # noqa: B018 - read it all: the connection goes back now
                return resp
            if to_get:
                method, body = "GET", None
                sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            if (resp.raw.length or 0) <= _SMALL:
                with contextlib.suppress(TransportError):
                    resp.content  # noqa: B018 - a short body: read it and keep the connection
            resp.close()
            url = target
        raise TransportError("TooManyRedirects", f"more than {MAX_REDIRECTS} redirects")

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        *,
        timeout: float | None,
        verify: bool,
    ) -> Response:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        if scheme not in _DEFAULT_PORTS or not host:
            raise TransportError("InvalidURL", f"cannot request {scheme}://{host}")
        port = parts.port or _DEFAULT_PORTS[scheme]
        proxy = proxy_for(scheme, host, port)
        key: _Key = (scheme, host, port, verify or scheme == "http", proxy)
        target = parts.path or "/"
        target += f"?{parts.query}" if parts.query else ""
        authority = f"[{host}]" if ":" in host else host
        authority += f":{port}" if port != _DEFAULT_PORTS[scheme] else ""
        # identity: without Accept-Encoding a server may send gzip, which we do not decode.
        headers = {"Host": authority, "Accept-Encoding": "identity", **headers}
        if proxy and scheme == "http":
            target = f"http://{parts.netloc.rpartition('@')[2]}{target}"
            if proxy.authorization:
                headers["Proxy-Authorization"] = proxy.authorization
        replayable = body is None or isinstance(body, bytes)
        for retry in (False, True):
            conn = self._checkout(key, timeout)
            reused, raw = conn is not None, None
            try:
                conn = conn or _connect(key, timeout)
                raw = _exchange(conn, method, target, headers, body)
            except TransportError as err:
                if reused and replayable and not retry and err.kind != "TimeoutError":
                    continue  # the server closed a kept-alive connection as we reused it
                raise
            finally:
                if raw is None and conn is not None:  # a fault, or the body's own error
                    conn.close()
            return Response(raw, url, self._releaser(key, conn))
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _checkout(self, key: _Key, timeout: float | None) -> http11.Connection | None:
        """An idle connection the server has not closed, or None: connect a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            if conn.sock is not None and not conn.buffered and not _readable(conn.sock):
                conn.sock.settimeout(timeout)
                return conn
            conn.close()  # closed by the server (EOF waiting) or sent something unasked

    def _releaser(self, key: _Key, conn: http11.Connection) -> Callable[[bool], None]:
        """What a response calls when done: pool ``conn`` again (True) or close it."""
        return lambda reusable: self._checkin(key, conn, reusable=reusable)

    def _checkin(self, key: _Key, conn: http11.Connection, *, reusable: bool) -> None:
        if not reusable or conn.sock is None:
            conn.close()
            return
        evicted: list[http11.Connection] = []
        with self._lock:
            idle = self._idle.pop(key, [])
            self._idle[key] = idle  # most recently used last
            idle.append(conn)
            if len(idle) > MAX_IDLE_PER_HOST:
                evicted.append(idle.pop(0))
            while sum(map(len, self._idle.values())) > MAX_IDLE:
                oldest = next(k for k, v in self._idle.items() if v)
                evicted.append(self._idle[oldest].pop(0))
        for old in evicted:
            old.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle = dict(self._idle)
            self._idle.clear()
        _close_all(idle)


def _close_all(idle: Mapping[_Key, list[http11.Connection]]) -> None:
    for conns in idle.values():
        for conn in conns:
            conn.close()


def _connect(key: _Key, timeout: float | None) -> http11.Connection:
    """A new connection: TCP to the server or its proxy, then the tunnel and TLS for https."""
    scheme, host, port, verify, proxy = key
    via = f" (via proxy {proxy.host}:{proxy.port})" if proxy else ""
    try:
        sock = socket.create_connection(
            (proxy.host, proxy.port) if proxy else (host, port), timeout
        )
    except OSError as err:
        # Nothing at that address (as urllib3's NewConnectionError): refused, unknown name,
        # unreachable; not a timeout, a TLS failure or a proxy's fault.
        refused = proxy is None and (
            isinstance(err, ConnectionRefusedError | socket.gaierror)
            or err.errno in {errno.ENETUNREACH, errno.EHOSTUNREACH}
        )
        raise TransportError(type(err).__name__, f"{err}{via}", refused=refused) from err
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # heads go out at once
        if scheme == "https":
            if proxy:
                _tunnel(http11.Connection(sock), host, port, proxy)
            sock = tls_context(verify=verify).wrap_socket(sock, server_hostname=host)
    except _Faults as err:
        sock.close()
        raise TransportError(type(err).__name__, f"{err}{via}") from err
    return http11.Connection(sock)


def _tunnel(conn: http11.Connection, host: str, port: int, proxy: Proxy) -> None:
    """Ask the proxy for a tunnel to ``host:port`` (CONNECT); TLS then runs through it."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = {"Host": authority}
    if proxy.authorization:
        headers["Proxy-Authorization"] = proxy.authorization
    conn.send("CONNECT", authority, headers, None)
    reply = conn.response("CONNECT")
    if not 200 <= reply.status < 300 or conn.buffered:  # noqa: PLR2004
        raise http11.ProxyRefused(f"the proxy answered CONNECT with {reply.status} {reply.reason}")


def _exchange(
    conn: http11.Connection, method: str, target: str, headers: Mapping[str, str], body: Body
) -> http11.Reply:
    """Send the request, read the status line and headers of the answer."""
    try:
        # The server may answer (401, 413...) and hang up before taking the whole body.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(method, target, headers, body)
        return conn.response(method)
    except _Faults as err:
        raise TransportError(type(err).__name__, str(err)) from err


def _readable(sock: Any) -> bool:
    """Whether the socket has something to read now: on an idle connection, EOF or junk."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _origin(url: str) -> tuple[str, int]:
    """Host and port, a scheme's default port as 0 (http://h to https://h keeps the host)."""
    parts = urlsplit(url)
    port = parts.port or 0
    return (parts.hostname or "", 0 if port == _DEFAULT_PORTS.get(parts.scheme) else port)
