"""Run a function over items on a few threads: the one pool the runner and registry share.

``concurrent.futures`` would do, but importing it loads ``logging`` and its queue
machinery (~10 ms), which a command such as ``inspect`` pays for nothing: a handful of
threads reading one shared iterator is all either caller needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def outcomes(
    func: Callable[[T], R], items: Sequence[T], workers: int, *, caller_works: bool = False
) -> list[R | BaseException]:
    """``func`` of each item, at most ``workers`` at once; each result or what it raised.

    In the items' order. On worker threads only, unless ``caller_works``: then the calling
    thread takes items too (one thread fewer to start, and the connection it just used is
    reused). By default the calling thread only waits, so a signal handler's exception
    reaches it, not one of the items.
    """
    out: list[R | BaseException] = [RuntimeError("not run")] * len(items)
    lock = threading.Lock()
    pending = iter(range(len(items)))

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            out[index] = _outcome(func, items[index])

    count = max(1, min(workers, len(items))) - caller_works
    threads = [threading.Thread(target=work, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    if caller_works:
        work()
    for thread in threads:
        thread.join()
    return out


def _outcome(func: Callable[[T], R], item: T) -> R | BaseException:
    try:
        return func(item)
    except Exception as err:  # noqa: BLE001 - handed back to the caller, who raises or reports it
        return err


def results(func: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``func`` of each item, at most ``workers`` at once; the first error (in order) raised.

    The calling thread works too; one item, or one worker, runs on it alone.
    """
    if len(items) <= 1 or workers <= 1:
        return [func(item) for item in items]
    done = outcomes(func, items, workers, caller_works=True)
    for value in done:
        if isinstance(value, BaseException):
            raise value
    return done  # type: ignore[return-value] # no exception is left in it
