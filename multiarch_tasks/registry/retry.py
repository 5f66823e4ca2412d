"""What the registry client retries, and how long it waits before each retry."""

from __future__ import annotations

import time

from multiarch_tasks.model.errors import RegistryError

# A Retry-After longer than this is not waited out: the error says how long to wait.
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientError(RegistryError):
    """A fault worth trying again: 5xx, 429, a dropped connection, a read timeout."""


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - only for an HTTP date

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, retry_after: float | None) -> float:
    """Return the wait before retry ``attempt`` (1-based): Retry-After, else exponential."""
    if retry_after is not None:
        return retry_after
    return float(base * 2 ** (attempt - 1))
