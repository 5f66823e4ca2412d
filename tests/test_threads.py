"""The shared thread map: order, bounded concurrency, errors handed back or raised."""

from __future__ import annotations

import threading
import time

import pytest

from multiarch_tasks.engine.threads import outcomes, results


def test_results_keep_the_items_order_whatever_finishes_first() -> None:
    def slow_first(n: int) -> int:
        time.sleep(0.02 if n == 0 else 0)
        return n * 10

    assert results(slow_first, [0, 1, 2, 3], workers=4) == [0, 10, 20, 30]


class Tracker:
    """A function that records how many of its calls run at once, and on which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __call__(self, _: int) -> int:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
        return threading.get_ident()


def test_no_more_than_workers_items_run_at_once() -> None:
    track = Tracker()
    results(track, list(range(12)), workers=3)
    assert 1 < track.peak <= 3


def test_outcomes_hand_back_each_error_and_run_the_rest() -> None:
    def odd_fails(n: int) -> int:
        if n % 2:
            raise ValueError(n)
        return n

    got = outcomes(odd_fails, [0, 1, 2, 3], workers=2)
    assert [g if isinstance(g, int) else f"err {g}" for g in got] == [0, "err 1", 2, "err 3"]


def test_results_raise_the_first_error_in_order() -> None:
    def fails_from_two(n: int) -> int:
        if n >= 2:
            raise KeyError(n)
        return n

    with pytest.raises(KeyError) as caught:
        results(fails_from_two, [0, 1, 2, 3], workers=4)
    assert caught.value.args == (2,)


def test_outcomes_never_run_an_item_on_the_calling_thread() -> None:
    caller = threading.get_ident()
    seen = outcomes(lambda _: threading.get_ident(), [1], workers=1)
    assert seen != [caller]
    assert results(lambda _: threading.get_ident(), [1], workers=1) == [caller]


def test_results_let_the_calling_thread_work_too_within_the_limit() -> None:
    caller = threading.get_ident()
    track = Tracker()
    idents = results(track, list(range(8)), workers=3)
    assert caller in idents
    assert len(set(idents)) <= 3
    assert track.peak <= 3
