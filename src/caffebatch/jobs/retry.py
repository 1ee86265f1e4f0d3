"""Retrying transient storage failures for as long as an outage budget allows.

A call that fails with a TransientStorageError is tried again after a pause drawn with full
jitter from a doubling, capped window (`base_delay_s` * 2**n, at most `max_delay_s`), until
it succeeds or `outage_s` seconds have passed since its first failure. Every call in flight
rides out the same outage on its own clock, so an outage shorter than the budget costs time,
and only one longer than it ends the run, with an error that says how long it was tried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from caffebatch.errors import TransientStorageError
from caffebatch.jobs.spec import RetryPolicy

T = TypeVar("T")


def retrying(policy: RetryPolicy, action: Callable[[], T], what: str, *,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `action`, retrying a TransientStorageError within the policy's outage budget."""
    first_failure: float | None = None
    tries = 0
    window = policy.base_delay_s
    while True:
        try:
            return action()
        except TransientStorageError as error:
            tries += 1
            now = clock()
            first_failure = now if first_failure is None else first_failure
            left = policy.outage_s - (now - first_failure)
            if left <= 0:
                raise TransientStorageError(
                    f"{what} kept failing for {now - first_failure:.1f} s ({tries} tries; "
                    f"the outage budget is {policy.outage_s:g} s); the last failure: {error}"
                ) from error
            sleep(min(random.uniform(0, window), left))
            window = min(window * 2, policy.max_delay_s)
