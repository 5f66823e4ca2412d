"""HTTP for the registry client, on urllib3 2.x: the one module that sends a request.

urllib3 does the HTTP (pooled keep-alive connections shared by threads, message framing,
streaming both ways, TLS, CONNECT tunnels through http and https proxies). This module
adds what a registry client needs and urllib3 leaves to its caller:

- the proxy of each request (:mod:`~multiarch_tasks.registry.proxies`) and its TLS
  settings, docker's ``certs.d`` included (:mod:`~multiarch_tasks.registry.tls`);
- redirects followed here, not by urllib3: ``Authorization`` goes no further than the
  scheme, host and port it was sent to;
- a deadline per request beside the per-read timeout
  (:mod:`~multiarch_tasks.registry.deadlines`): the connect, the answer's head and a
  body read whole finish within ``timeout`` + :data:`GRACE` seconds; a streamed body
  delivers each chunk, and an upload sends each chunk, within that. Plain silence ends
  as the read timeout it is, a second earlier;
- a size limit on every body read whole (``limit``): a declared ``Content-Length`` over
  it fails before the body is read, a body without one fails as it passes the limit, so
  a hostile 2 GB "manifest" never reaches memory (streamed bodies are never held whole);
- every fault as one :class:`~multiarch_tasks.registry.faults.TransportError`, whose
  flags tell a refused connection from a dropped one, a malformed answer, a missed
  deadline and a body over the limit.

urllib3 is imported with the first request: commands that make none do not load it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit

from multiarch_tasks.registry.deadlines import Watch, watchdog
from multiarch_tasks.registry.faults import TransportError, faults, transport_error
from multiarch_tasks.registry.proxies import DEFAULT_PORTS, Proxy, endpoint, proxy_for
from multiarch_tasks.registry.tls import TlsFiles, tls_context, tls_files

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse, PoolManager
    from urllib3.connectionpool import HTTPConnectionPool

Body = bytes | Iterable[bytes] | None
Params = Mapping[str, str] | Sequence[tuple[str, str]]
GRACE = 1.0
MAX_REDIRECTS = 10
POOL_SIZE = 16
# Bytes per piece of an upload held in memory, so its deadline is checked piece by piece.
PIECE = 1 << 20
# What a body read whole may hold by default: docker, containerd and skopeo cap manifests
# and configs at 4 MiB too.
MAX_BODY = 4 << 20
_SHORT_REST = 1 << 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[\w-]+\s*=\s*(?:"[^"]*"|[^;,\s]*)\s*)*)')
_LINK_PARAM = re.compile(r';\s*([\w-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))')
_CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)


_current = threading.local()


def _watched(conn: Any) -> None:
    """Called by our connections as a request goes out: the thread's watch owns ``conn``."""
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watchdog.attach(watch, conn)


@cache
def _pool_classes() -> dict[str, type[HTTPConnectionPool]]:
    """urllib3's pools with connections that report to the watchdog as a request starts."""
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool  # noqa: PLC0415

    class Plain(HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            _watched(self)
            super().request(*args, **kwargs)

    class Secure(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            # is_verified only decides urllib3's InsecureRequestWarning. Unchecked hosts
            # are loopback and the user's insecure registries, which docker reaches
            # without checks or a warning too.
            if self.ssl_context is not None and not self.ssl_context.check_hostname:
                self.is_verified = True

        def request(self, *args: Any, **kwargs: Any) -> None:
            _watched(self)
            super().request(*args, **kwargs)

    class PlainPool(HTTPConnectionPool):
        ConnectionCls = Plain

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = Secure

    return {"http": PlainPool, "https": SecurePool}


# --- responses -----------------------------------------------------------------------


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
    """One answer: read whole (``content``) or streamed (:meth:`iter_content`).

    ``headers`` is urllib3's case-insensitive mapping (repeated fields joined by commas);
    :meth:`header` gives a field's first value, for fields that hold one.
    """

    def __init__(
        self, raw: BaseHTTPResponse, url: str, watch: Watch, *, stream: bool, limit: int = 0
    ) -> None:
        self.raw = raw
        self.limit = limit
        self.url = url
        self.status_code = raw.status
        self.reason = raw.reason or ""
        self.headers = raw.headers
        self._watch = watch
        self._stream = stream
        self._content: bytes | None = None

    def header(self, name: str) -> str:
        """The first value of field ``name``, "" if absent (a repeat is a server's bug)."""
        values = self.headers.getlist(name)
        return values[0] if values else ""

    @property
    def content(self) -> bytes:
        """The whole body (read now if it was streamed and not read yet).

        Over ``limit`` bytes (declared or read), :class:`TransportError` with ``too_large``
        and the connection closed: what was read so far is dropped.
        """
        if self._content is None:
            # urllib3's count of the body to come: the Content-Length, but 0 for a HEAD
            # (which declares the length of a body it does not send), None when unframed.
            declared = self.raw.length_remaining
            if self.limit and declared is not None and declared > self.limit:
                self._too_large(f"Content-Length {declared}")
            parts, total = [], 0
            # A read waits for its whole size: one byte past the limit is the most asked.
            size = min(1 << 20, self.limit + 1) if self.limit else 1 << 20
            for chunk in self.iter_content(size):
                total += len(chunk)
                if self.limit and total > self.limit:
                    self._too_large(f"more than {self.limit} bytes sent")
                parts.append(chunk)
            self._content = b"".join(parts)
        return self._content

    def _too_large(self, detail: str) -> NoReturn:
        self.raw.close()  # the rest is never read: the connection cannot be reused
        self.close()
        raise TransportError("TooLarge", detail, too_large=self.limit)

    @property
    def text(self) -> str:
        """The body decoded with its charset (UTF-8 if it names none)."""
        charset = _CHARSET.search(self.header("Content-Type"))
        return self.content.decode(charset.group(1) if charset else "utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not."""
        return json.loads(self.content)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header parsed, by ``rel``."""
        return parse_links(", ".join(self.headers.getlist("Link")))

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        """Yield the body in chunks of at most ``chunk_size``; TransportError if cut short.

        Streamed, each chunk has the request's whole time to arrive; else the body shares
        the request's deadline.
        """
        if self._content is not None:
            yield from (
                self._content[i : i + chunk_size] for i in range(0, len(self._content), chunk_size)
            )
            return
        while True:
            if self._stream:
                watchdog.extend(self._watch)
            try:
                data = self.raw.read(chunk_size)
            except faults() as err:
                self.close()
                raise transport_error(err, self._watch, self.url) from err
            if not data:
                self.close()
                return
            yield data

    def close(self) -> None:
        """Give the connection back: after reading a short rest of the body, else closed."""
        remaining = self.raw.length_remaining
        if remaining is not None and remaining <= _SHORT_REST:
            self.raw.drain_conn()  # a redirect's or an error's body: keep the connection
        else:
            self.raw.close()  # unread bytes are left on it: it cannot be reused
        watchdog.disarm(self._watch)
        self.raw.release_conn()


# --- the transport -------------------------------------------------------------------


class Transport:
    """Pools of keep-alive connections, safe to share between threads.

    One urllib3 pool manager per (proxy, TLS settings), made at first use; each holds a
    pool per host of up to :data:`POOL_SIZE` connections.
    """

    def __init__(self, limit: int = 0) -> None:
        # Bytes a body read whole may hold (0: no limit); the registry client passes
        # MAX_BODY or the max_manifest_size setting.
        self.limit = limit
        self._lock = threading.Lock()
        self._managers: dict[tuple[Proxy | None, TlsFiles, bool], PoolManager] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        body: Body = None,
        stream: bool = False,
        timeout: float = 30.0,
        verify: bool = True,
    ) -> Response:
        """Send one request, following redirects; raise :class:`TransportError` on a fault.

        ``verify`` applies to ``url``'s host (a redirect to another host is checked).
        ``Authorization`` is dropped by a redirect to another scheme, host or port; a
        303 (and a 301/302 after a POST) turns into a GET; a body that is an iterable is
        sent once, so its redirect is returned as the answer.
        """
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        sent = {"User-Agent": "multiarch-tasks", **(headers or {})}
        watch = Watch(timeout + GRACE)
        host = urlsplit(url).hostname
        watchdog.arm(watch)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                check = verify or urlsplit(url).hostname != host
                resp = self._send(
                    method, url, sent, body, timeout, watch, verify=check, stream=stream
                )
                status, location = resp.status_code, resp.header("Location")
                # requests' rules: 303 (but HEAD), and 301/302 after a POST, become a GET.
                to_get = (status == 303 and method != "HEAD") or (status < 303 and method == "POST")  # noqa: PLR2004
                resend = not to_get and not (body is None or isinstance(body, bytes))
                if status not in _REDIRECTS or not location or resend:
                    if not stream:
                        resp.content  # noqa: B018 - read whole within the deadline
                    return resp
                resp.close()
                watchdog.arm(watch)  # closing the answer ended its watch: the next hop shares it
                if to_get:
                    method, body = "GET", None
                    sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
                target = urljoin(url, location)
                if endpoint(target) != endpoint(url):
                    sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
                url = target
        except BaseException:
            watchdog.disarm(watch)
            raise
        watchdog.disarm(watch)
        raise TransportError("TooManyRedirects", f"more than {MAX_REDIRECTS} redirects")

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        timeout: float,
        watch: Watch,
        *,
        verify: bool,
        stream: bool,
    ) -> Response:
        scheme, host, port = endpoint(url)
        if scheme not in DEFAULT_PORTS or not host:
            raise TransportError("InvalidURL", f"cannot request {scheme}://{host}")
        manager = self._manager(proxy_for(scheme, host, port), scheme, host, port, verify=verify)
        from urllib3 import Timeout  # noqa: PLC0415

        left = max(0.001, watch.deadline - time.monotonic())
        sent = body
        if body is not None and not isinstance(body, bytes | bytearray):
            sent = _paced(body, watch)
        elif body is not None and len(body) > PIECE:
            headers = {**headers, "Content-Length": str(len(body))}
            sent = _paced((body[i : i + PIECE] for i in range(0, len(body), PIECE)), watch)
        _current.watch = watch
        try:
            raw = manager.urlopen(
                method,
                url,
                body=sent,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=Timeout(connect=min(timeout, left), read=timeout),
                preload_content=False,
                decode_content=False,
            )
        except faults() as err:
            raise transport_error(err, watch, url) from err
        except ValueError as err:  # http.client refuses a field with a line break
            raise TransportError("InvalidHeader", "a request field holds a line break") from err
        finally:
            _current.watch = None
        if 100 <= raw.status < 200:  # noqa: PLR2004 - http.client skips 100 Continue only
            raw.close()
            raise TransportError(
                "InterimAnswer", f"{raw.status} {raw.reason} as the answer", malformed=True
            )
        return Response(raw, url, watch, stream=stream, limit=self.limit)

    def _manager(
        self, proxy: Proxy | None, scheme: str, host: str, port: int, *, verify: bool
    ) -> PoolManager:
        files = tls_files(host, port) if scheme == "https" else TlsFiles()
        key = (proxy, files, verify or scheme == "http")
        with self._lock:
            found = self._managers.get(key)
            if found is None:
                found = self._managers[key] = _new_manager(proxy, files, verify=key[2])
            return found

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
        for manager in managers:
            manager.clear()


def _paced(chunks: Iterable[bytes], watch: Watch) -> Iterator[bytes]:
    """``chunks``, each with the request's whole time to go out."""
    for chunk in chunks:
        watchdog.extend(watch)
        yield chunk
    watchdog.extend(watch)  # and the answer's head its time after the last one


def _new_manager(proxy: Proxy | None, files: TlsFiles, *, verify: bool) -> PoolManager:
    """A urllib3 pool manager for one proxy (or none) and one set of TLS settings."""
    import urllib3  # noqa: PLC0415 - with the first request

    options: dict[str, Any] = {
        "maxsize": POOL_SIZE,
        "ssl_context": tls_context(files, verify=verify),
    }
    if not verify:
        options["assert_hostname"] = False
    manager: PoolManager
    if proxy is None:
        manager = urllib3.PoolManager(**options)
    else:
        _, host, port = endpoint(proxy.url)
        proxy_tls = tls_context(tls_files(host, port), verify=True)
        manager = urllib3.ProxyManager(
            proxy.url,
            proxy_headers={"Proxy-Authorization": proxy.authorization}
            if proxy.authorization
            else None,
            proxy_ssl_context=proxy_tls if proxy.url.startswith("https:") else None,
            **options,
        )
    manager.pool_classes_by_scheme = _pool_classes()
    return manager
