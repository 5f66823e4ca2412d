"""A loopback proxy in front of a registry that waits a fixed delay before every request.

What a remote registry costs that a loopback one does not: a round trip per request. The
proxy is :class:`testbed.fault_proxy.FaultProxy` with one rule that hits every request
and only waits (``delay_ms``), then forwards it: the ``Host`` header goes on unchanged (so
the registry's upload ``Location`` URLs come back through the proxy), bodies are streamed
both ways, one thread per connection. ``127.0.0.1:PORT`` is plain HTTP on loopback, which
multiarch, skopeo (``--tls-verify=false``) and dockerd all accept as an insecure registry.

    with LatencyProxy(registry.host, 20) as proxy:
        ...  # use proxy.host in place of registry.host

Connections themselves cost nothing extra: a client that opens a new connection per
request pays the same delay per request as one that keeps a connection alive.

:func:`latency_proxy_process` runs one in a process of its own
(``python -m testbed.latency_proxy UPSTREAM MS``): the bench uses that, so the proxy's
work and memory stay out of the process that times the tools (a child's peak RSS, as
``wait4`` reports it, starts at its parent's).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from testbed.fault_proxy import FaultProxy, Rule


class LatencyProxy(FaultProxy):
    """A running proxy on ``127.0.0.1:PORT`` adding ``delay_ms`` to every request."""

    def __init__(self, upstream: str, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.rule = Rule(delay=delay_ms / 1000)
        super().__init__(upstream, [self.rule])

    @property
    def requests(self) -> int:
        """How many requests the proxy has delayed so far."""
        return self.rule.hits

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def latency_proxy_process(upstream: str, delay_ms: float) -> Iterator[str]:
    """Run a :class:`LatencyProxy` in a child process; yield its ``127.0.0.1:PORT``."""
    with subprocess.Popen(
        [sys.executable, "-m", "testbed.latency_proxy", upstream, str(delay_ms)],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            host = proc.stdout.readline().strip() if proc.stdout else ""
            if not host:
                msg = f"the latency proxy in front of {upstream} did not start"
                raise RuntimeError(msg)
            yield host
        finally:
            if proc.stdin:
                proc.stdin.close()  # the child stops when its stdin closes
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str]) -> None:
    """``UPSTREAM MS``: print the proxy's host, serve until stdin closes."""
    upstream, delay_ms = argv[0], float(argv[1])
    with LatencyProxy(upstream, delay_ms) as proxy:
        print(proxy.host, flush=True)
        sys.stdin.read()  # the proxy serves on its own thread meanwhile


if __name__ == "__main__":
    main(sys.argv[1:])
