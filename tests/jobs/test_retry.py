"""retrying: a time budget from the first failure, capped jittered backoff, a clear last error."""

from __future__ import annotations

import pytest

from caffebatch.errors import StorageError, TransientStorageError
from caffebatch.jobs.retry import retrying
from caffebatch.jobs.spec import RetryPolicy


class Clock:
    """Time that passes only when the code under test sleeps (or an action takes it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def failing(times: int, clock: Clock, takes: float = 0.0):
    calls = []

    def action() -> str:
        calls.append(clock.now)
        clock.now += takes
        if len(calls) <= times:
            raise TransientStorageError("503: SlowDown")
        return "done"

    return action, calls


def run(policy: RetryPolicy, action, clock: Clock) -> str:
    return retrying(policy, action, "reading s3://b/k", clock=lambda: clock.now, sleep=clock.sleep)


def test_an_outage_shorter_than_the_budget_costs_time_not_the_call():
    clock = Clock()
    action, calls = failing(10, clock, takes=1.0)  # ten failures of a second, and pauses
    assert run(RetryPolicy(outage_s=60), action, clock) == "done"
    assert len(calls) == 11 and clock.now > 10


def test_past_the_budget_the_error_says_how_long_and_how_often():
    clock = Clock()
    action, calls = failing(10_000, clock, takes=0.5)
    with pytest.raises(TransientStorageError) as caught:
        run(RetryPolicy(outage_s=60, max_delay_s=5), action, clock)
    message = str(caught.value)
    assert f"({len(calls)} tries;" in message and "outage budget is 60 s" in message
    assert "reading s3://b/k kept failing for 6" in message  # 60 s and a little: the last try
    assert "503: SlowDown" in message
    assert 60 <= clock.now <= 61


def test_pauses_double_up_to_the_cap_with_full_jitter():
    clock = Clock()
    action, _ = failing(200, clock)
    with pytest.raises(TransientStorageError):
        run(RetryPolicy(outage_s=100, base_delay_s=0.1, max_delay_s=2.0), action, clock)
    windows = [min(0.1 * 2**n, 2.0) for n in range(len(clock.pauses))]
    assert all(0 <= pause <= window for pause, window in zip(clock.pauses, windows, strict=True))
    assert max(clock.pauses) > 1.0  # the cap, not the first window, bounds the late pauses
    assert len(set(clock.pauses)) == len(clock.pauses)  # drawn, not fixed


def test_the_budget_counts_from_the_first_failure_not_the_call():
    clock = Clock()
    slow_success = iter([30.0, 0.0])  # a first try that takes 30 s and fails, then success

    def action() -> str:
        clock.now += next(slow_success)
        if clock.now == 30.0 and not clock.pauses:
            raise TransientStorageError("cut off mid-read")
        return "done"

    assert run(RetryPolicy(outage_s=1), action, clock) == "done"


def test_other_storage_errors_are_not_retried():
    clock = Clock()
    calls = []

    def action() -> str:
        calls.append(1)
        raise StorageError("NoSuchBucket")

    with pytest.raises(StorageError):
        run(RetryPolicy(), action, clock)
    assert calls == [1] and clock.pauses == []
