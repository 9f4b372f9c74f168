"""The time a run may still use: the Lambda context's remaining time, less a reserve to close the run.

Scheduled runs work to this budget and stop at a point they can continue from (a poll at a page boundary,
an export before the next write-back), so a backlog of any size is worked off by successive runs instead
of failing every run at the function's timeout. `scheduled_handler` sets it for the invocation; code run
outside a Lambda invocation (tests, tools) has no deadline unless it sets one with `limited`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

RESERVE_SHARE = 0.2  # of the function's whole time: left for closing the run and saving checkpoints
MAX_RESERVE_SECONDS = 30.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("run_deadline", default=None)


class HasRemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@contextmanager
def limited(seconds: float | None) -> Iterator[None]:
    """Work in this block must stop starting new steps `seconds` from now (None: no limit)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def for_invocation(context: HasRemainingTime | None) -> Iterator[None]:
    """The budget of one Lambda invocation: its remaining time less the reserve."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    if remaining is None:
        with limited(None):
            yield
        return
    reserve = min(MAX_RESERVE_SECONDS, remaining * RESERVE_SHARE)
    with limited(max(0.0, remaining - reserve)):
        yield


def seconds_left() -> float | None:
    """Seconds before the budget runs out (None: no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def exhausted() -> bool:
    """True once the run should start nothing new."""
    left = seconds_left()
    return left is not None and left <= 0
