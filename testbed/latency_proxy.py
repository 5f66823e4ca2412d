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
"""

from __future__ import annotations

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
