"""Every way a request can fail, as one :class:`TransportError` the client can act on.

urllib3 (its retries off) and http.client raise a dozen kinds; the client needs to know
four things: nobody listens (refused), the connection dropped or timed out (worth a
retry), the server answered in something that is not HTTP (malformed), or it kept the
request busy past its deadline (late).
"""

from __future__ import annotations

import re
import socket
from functools import cache

from multiarch_tasks.registry.deadlines import Watch
from multiarch_tasks.registry.proxies import endpoint, proxy_for


class TransportError(Exception):
    """No complete answer: refused, dropped, timed out, malformed, too slow, TLS failure.

    ``kind`` names the cause (``ConnectionRefusedError``, ``RemoteDisconnected``,
    ``ReadTimeoutError``, ``BadStatusLine``...). ``refused``: nothing answers at the
    server's address (refused, unknown name, unreachable), not at a proxy. ``malformed``:
    the server answered, but not in HTTP this client can read. ``late``: the request
    missed its deadline (``timeout`` + :data:`GRACE`) while the server kept it busy.
    ``too_large``: the limit in bytes a body to be read whole went over (else 0).
    """

    def __init__(
        self,
        kind: str,
        detail: str = "",
        *,
        refused: bool = False,
        malformed: bool = False,
        late: bool = False,
        too_large: int = 0,
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.refused = refused
        self.malformed = malformed
        self.late = late
        self.too_large = too_large


@cache
def faults() -> tuple[type[BaseException], ...]:
    """What urllib3 (with its retries off) and http.client raise for a failed exchange."""
    import http.client  # noqa: PLC0415

    import urllib3.exceptions  # noqa: PLC0415

    return (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def transport_error(err: BaseException, watch: Watch, url: str) -> TransportError:  # noqa: PLR0911 - one answer per kind of fault
    """``err`` as a :class:`TransportError`: refused, dropped, malformed or late."""
    from http import client  # noqa: PLC0415

    from urllib3 import exceptions  # noqa: PLC0415

    if watch.expired:
        return TransportError(
            "DeadlineExceeded", f"no complete answer within {watch.seconds:g}s", late=True
        )
    cause = _innermost(err)
    kind = type(cause).__name__
    if reason := getattr(cause, "reason", None):  # ssl.SSLError: CERTIFICATE_VERIFY_FAILED...
        kind = f"{kind} {reason}"
    detail = _safe_detail(cause)
    if isinstance(err, exceptions.ProxyError):
        proxy = proxy_for(*endpoint(url))
        where = f" (via proxy {proxy.address})" if proxy else " (via a proxy)"
        return TransportError(kind, f"{detail}{where}")
    if isinstance(err, exceptions.NewConnectionError):
        refused = isinstance(cause, ConnectionRefusedError | socket.gaierror) or (
            isinstance(cause, OSError) and cause.errno in {101, 113}  # ENETUNREACH, EHOSTUNREACH
        )
        return TransportError(kind, detail, refused=refused)
    if isinstance(err, exceptions.TimeoutError):
        return TransportError(type(err).__name__, "no answer in time")
    if isinstance(cause, client.RemoteDisconnected | ConnectionError | client.IncompleteRead):
        return TransportError(kind, detail)
    if isinstance(cause, exceptions.InvalidChunkLength) and not cause.length:
        return TransportError("IncompleteRead", "cut in the middle of a chunked body")
    if isinstance(cause, client.HTTPException | exceptions.InvalidHeader):
        return TransportError(kind, detail, malformed=True)
    if isinstance(cause, exceptions.LocationValueError):
        return TransportError("InvalidURL", detail)
    return TransportError(kind, detail)


def _innermost(err: BaseException) -> BaseException:
    """The exception urllib3 wrapped (``ProtocolError("Connection aborted.", cause)``...)."""
    from urllib3 import exceptions  # noqa: PLC0415

    seen: set[int] = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = next((a for a in err.args if isinstance(a, BaseException)), None)
        if inner is None and isinstance(err, exceptions.HTTPError):
            inner = err.__context__
        if inner is None:
            break
        err = inner
    return err


def _safe_detail(err: BaseException) -> str:
    """A short detail of ``err`` (urllib3 puts connection objects into some messages)."""
    text = re.sub(r"<[^>]*object at 0x[0-9a-f]+>:?\s*", "", str(err))
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)[:200]
