"""HTTP/1.1 message framing over a socket, for :mod:`multiarch_tasks.registry.wire` only.

Why not ``http.client``: importing it costs ~28 ms of a ~97 ms ``multiarch inspect`` on
the machine this was measured on, because it imports the ``email`` package (its header
parser, ~20 ms) and ``ssl`` (~15 ms), even for plain HTTP to a loopback registry. A
registry client needs a small, well-defined subset of HTTP/1.1 (RFC 9112), which is this:

- requests: origin-form or absolute-form target, ``Host``, the caller's fields,
  ``Content-Length`` for bytes and sized bodies, chunked transfer coding for any other
  iterable, each chunk sent as it comes;
- responses: status line, fields (bounded: :data:`MAX_HEAD` bytes, :data:`MAX_FIELDS`
  fields), 1xx interim answers skipped, and the body framed as RFC 9112 section 6.3 says:
  none for HEAD, 1xx, 204 and 304 (and a CONNECT's 2xx); chunked (extensions and trailers
  read and dropped); ``Content-Length``; otherwise until the server closes.

No ``ssl`` here: TLS sockets come in from wire.py, which loads ``ssl`` on first use. A fault
is an :class:`OSError` from the socket or a :class:`ProtocolError`, whose class name says
what went wrong (wire.py reports it as the fault's ``kind``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import TypeVar, overload

MAX_HEAD = 1 << 16
MAX_FIELDS = 100
_RECV = 1 << 16
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_STATUS = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)
_UNSAFE = re.compile(r"[\r\n\0]")
_NO_BODY = frozenset({204, 304})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
# Fields that hold one value: a repeat is a server bug, and the first one is what
# http.client's message.get() answered (a joined WWW-Authenticate would mix two challenges).
_SINGLE = frozenset(
    {
        "www-authenticate",
        "location",
        "content-type",
        "docker-content-digest",
        "content-length",
        "retry-after",
    }
)
_T = TypeVar("_T")


class ProtocolError(Exception):
    """The peer broke HTTP/1.1; subclasses name how."""


class RemoteDisconnected(ProtocolError):  # noqa: N818 - named as the kind users read
    """The server closed the connection before the status line."""


class IncompleteRead(ProtocolError):  # noqa: N818 - named as the kind users read
    """The server closed the connection in the middle of a body."""


class BadResponse(ProtocolError):  # noqa: N818 - named as the kind users read
    """Not an HTTP/1.x answer we can frame: status line, fields, chunk sizes, lengths."""


class InvalidHeader(ProtocolError):  # noqa: N818 - named as the kind users read
    """A request field with a line break (it would forge fields or requests): never sent."""


class ProxyRefused(ProtocolError):  # noqa: N818 - named as the kind users read
    """The proxy answered a CONNECT with something other than 2xx."""


class Headers:
    """Response fields, looked up case-insensitively, in the order received."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields = list(fields)
        self._by_name: dict[str, list[str]] = {}
        for name, value in self._fields:
            self._by_name.setdefault(name.lower(), []).append(value)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        """The field's value; repeats joined with ", " (the first, for one-value fields)."""
        values = self._by_name.get(name.lower())
        if not values:
            return default
        return values[0] if name.lower() in _SINGLE else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value the field came with, in order."""
        return list(self._by_name.get(name.lower(), []))

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) as received, repeats included."""
        return list(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def get_content_charset(self) -> str | None:
        """The ``charset`` parameter of ``Content-Type``, lower case; None without one."""
        match = _CHARSET.search(self.get("Content-Type", ""))
        return match.group(1).lower() if match else None

    def tokens(self, name: str) -> set[str]:
        """A comma-separated field's tokens, lower case (``Connection``, ``Transfer-Encoding``)."""
        return {t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()}


class Connection:
    """A connected socket and what has been read from it but not used yet.

    The read buffer is ours (not ``socket.makefile``) so the pool can tell an idle
    connection that holds unasked bytes from a clean one (:attr:`buffered`).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock
        self._buf = b""

    @property
    def buffered(self) -> bool:
        """Whether bytes were read that no answer used."""
        return bool(self._buf)

    def close(self) -> None:
        """Close the socket; a closed connection stays closed."""
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def _recv(self, size: int) -> bytes:
        if self.sock is None:
            raise RemoteDisconnected("the connection is closed")
        return self.sock.recv(size)

    def readline(self, limit: int) -> bytes:
        """One line with its end; less at EOF (b"" if nothing); BadResponse past ``limit``."""
        while (end := self._buf.find(b"\n")) < 0:
            if len(self._buf) > limit:
                raise BadResponse(f"a line longer than {limit} bytes")
            data = self._recv(_RECV)
            if not data:
                line, self._buf = self._buf, b""
                return line
            self._buf += data
        if end >= limit:
            raise BadResponse(f"a line longer than {limit} bytes")
        line, self._buf = self._buf[: end + 1], self._buf[end + 1 :]
        return line

    def read(self, size: int) -> bytes:
        """At most ``size`` bytes, at least one unless the server closed (then b"")."""
        if self._buf:
            data, self._buf = self._buf[:size], self._buf[size:]
            return data
        return self._recv(size)

    def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | Iterable[bytes] | None,
    ) -> None:
        """Send a request; a bytes body goes with the head, an iterable chunk by chunk."""
        if self.sock is None:
            raise RemoteDisconnected("the connection is closed")
        fields = {**headers, **_framing(method, headers, body)}
        chunked = fields.get("Transfer-Encoding") == "chunked"
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
        if any(_UNSAFE.search(line) for line in lines):
            raise InvalidHeader(f"a line break in the head of a {method} request")
        head = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
        if body is None or (isinstance(body, bytes) and len(body) <= _RECV):
            self.sock.sendall(head + (body or b""))  # one write, one segment when small
            return
        self.sock.sendall(head)
        if isinstance(body, bytes):
            body = [body]
        for chunk in body:
            if chunk:  # an empty chunk would end a chunked body
                self.sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def response(self, method: str) -> Reply:
        """Read the status line and fields of the final answer (1xx ones are skipped)."""
        while True:
            line = self.readline(MAX_HEAD)
            if not line:
                raise RemoteDisconnected("the server closed the connection without an answer")
            match = _STATUS.fullmatch(line)
            if match is None:
                raise BadResponse(f"not an HTTP/1.x status line: {line[:80]!r}")
            status = int(match.group(2))
            headers = self._fields()
            if status >= 200:  # noqa: PLR2004 - 1xx: interim (100 Continue, 103 Early Hints)
                break
        reason = (match.group(3) or b"").decode("latin-1").strip()
        return Reply(self, method, int(match.group(1)), status, reason, headers)

    def _fields(self) -> Headers:
        fields: list[tuple[str, str]] = []
        size = 0
        while (line := self.readline(MAX_HEAD)) not in {b"\r\n", b"\n"}:
            if not line.endswith(b"\n"):
                raise RemoteDisconnected("the server closed the connection in the middle of a head")
            size += len(line)
            if size > MAX_HEAD or len(fields) >= MAX_FIELDS:
                raise BadResponse(f"response head over {MAX_HEAD} bytes or {MAX_FIELDS} fields")
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip():
                raise BadResponse(f"not a header field: {line[:80]!r}")
            fields.append((name, value.strip()))
        return Headers(fields)


def _framing(
    method: str, headers: Mapping[str, str], body: bytes | Iterable[bytes] | None
) -> dict[str, str]:
    """The field that frames the body: its length when known, else chunked; none if given."""
    if any(k.lower() in {"content-length", "transfer-encoding"} for k in headers):
        return {}
    if isinstance(body, bytes) or (body is None and method in _WITH_BODY):
        return {"Content-Length": str(len(body or b""))}  # a bodiless POST says 0, too
    if isinstance(body, Sized):
        return {"Content-Length": str(len(body))}
    return {} if body is None else {"Transfer-Encoding": "chunked"}


class Reply:
    """An answer's status, fields and body, read from its connection on demand.

    ``length`` is what remains of a ``Content-Length`` body (None for other framings);
    ``complete`` turns True once the body has been read to its end; ``will_close`` says the
    connection cannot carry another request afterwards.
    """

    def __init__(
        self,
        conn: Connection,
        method: str,
        minor: int,
        status: int,
        reason: str,
        headers: Headers,
    ) -> None:
        self._conn = conn
        self.status, self.reason, self.headers = status, reason, headers
        connection = headers.tokens("Connection")
        self.will_close = "close" in connection or (minor == 0 and "keep-alive" not in connection)
        self.length: int | None = None
        self._chunked = self._to_eof = False
        self._chunk_left = 0
        codings = headers.tokens("Transfer-Encoding")
        lengths = {v.strip() for v in headers.get_all("Content-Length")}
        if method == "HEAD" or status in _NO_BODY or (method == "CONNECT" and status < 300):  # noqa: PLR2004
            self.length = 0
        elif codings:
            self._chunked = headers.get_all("Transfer-Encoding")[-1].lower().endswith("chunked")
            self._to_eof = not self._chunked
        elif lengths:
            if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
                raise BadResponse(f"Content-Length {', '.join(sorted(lengths))}")
            self.length = int(lengths.pop())
        else:
            self._to_eof = True
        self.will_close = self.will_close or self._to_eof
        self.complete = self.length == 0

    def read(self, size: int) -> bytes:
        """``size`` bytes of the body, fewer only at its end (then b""); IncompleteRead if cut.

        Full pieces, as http.client gave them: callers hash and write in steady steps.
        """
        pieces: list[bytes] = []
        while size > 0 and not self.complete:
            pieces.append(self._read_some(min(size, _RECV)))
            size -= len(pieces[-1])
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _read_some(self, size: int) -> bytes:
        if self._chunked:
            return self._read_chunk(size)
        data = self._conn.read(size if self.length is None else min(size, self.length))
        if self.length is not None:
            if not data:
                raise IncompleteRead(f"{self.length} more bytes were expected")
            self.length -= len(data)
        self.complete = self.length == 0 or not data
        return data

    def _read_chunk(self, size: int) -> bytes:
        if not self._chunk_left:
            line = self._conn.readline(MAX_HEAD)
            if not line.endswith(b"\n"):
                raise IncompleteRead("the chunked body ended before its last chunk")
            digits = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(digits):
                raise BadResponse(f"not a chunk size: {line[:80]!r}")
            self._chunk_left = int(digits, 16)
            if not self._chunk_left:
                for _ in self._trailers():
                    pass
                self.complete = True
                return b""
        data = self._conn.read(min(size, self._chunk_left))
        if not data:
            raise IncompleteRead(f"{self._chunk_left} more bytes were expected in a chunk")
        self._chunk_left -= len(data)
        if not self._chunk_left and self._conn.readline(MAX_HEAD) not in {b"\r\n", b"\n"}:
            raise BadResponse("a chunk not followed by CRLF")
        return data

    def _trailers(self) -> Iterator[bytes]:
        """The trailer section's lines (dropped: nothing we read is sent as a trailer)."""
        for _ in range(MAX_FIELDS + 1):
            line = self._conn.readline(MAX_HEAD)
            if not line.endswith(b"\n"):
                raise IncompleteRead("the chunked body ended in its trailers")
            if line in {b"\r\n", b"\n"}:
                return
            yield line
        raise BadResponse(f"more than {MAX_FIELDS} trailer fields")
