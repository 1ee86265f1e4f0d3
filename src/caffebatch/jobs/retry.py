"""Retrying transient storage failures with capped, jittered exponential backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from caffebatch.errors import TransientStorageError
from caffebatch.jobs.spec import RetryPolicy

T = TypeVar("T")


def delays(policy: RetryPolicy) -> list[float]:
    """The pauses before each retry: full jitter over a doubling, capped delay."""
    return [
        random.uniform(0, min(policy.max_delay_s, policy.base_delay_s * 2**attempt))
        for attempt in range(policy.attempts - 1)
    ]


def retrying(policy: RetryPolicy, action: Callable[[], T], what: str) -> T:
    """Run `action`, retrying a TransientStorageError; the last one says how often it failed."""
    for pause in delays(policy):
        try:
            return action()
        except TransientStorageError:
            time.sleep(pause)
    try:
        return action()
    except TransientStorageError as error:
        raise TransientStorageError(
            f"{what} failed {policy.attempts} times; the last failure: {error}"
        ) from error
