"""Retries, in one place: the back-off policy and the one loop that tries a call again.

Only errors named retryable are tried again (a store that is unreachable or busy may get over it; wrong
credentials never will); each failed attempt is logged as "attempt i/n" with the wait before the next one;
when the attempts run out, `RetriesExceeded` is raised carrying the last error (after s3transfer's
`RetriesExceededError(last_exception)`). The upload queue keeps its attempts in its ledger and schedules
them itself, but asks the same policy what to wait and whether to give up (`RetryPolicy.next_wait`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from trajrec.errors import Cancelled, RetriesExceeded

T = TypeVar("T")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential back-off: attempt i (from 1) is followed by a wait of
    uniform(0, min(cap, base * 2**(i-1))) seconds, for `attempts` attempts in all."""

    attempts: int = 8
    base_s: float = 1.0
    cap_s: float = 300.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return (rng or random).uniform(0, min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1)))

    def next_wait(self, what: str, attempt: int, error: BaseException, *, log: logging.Logger = _log) -> float | None:
        """Seconds to wait after failed attempt `attempt` (logged as "attempt i/n failed"), or None when it
        was the last one."""
        if attempt >= self.attempts:
            return None
        wait_s = self.delay(attempt)
        log.warning("%s: attempt %d/%d failed (%s); again in %.1f s", what, attempt, self.attempts, error, wait_s)
        return wait_s


def says_retryable(error: BaseException) -> bool:
    """The default test: the error says itself that trying again can help (a true `retryable` attribute)."""
    return getattr(error, "retryable", False) is True


def retry(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    retryable: Callable[[BaseException], bool] = says_retryable,
    cancel: threading.Event | None = None,
    exceeded: type[RetriesExceeded] = RetriesExceeded,
    log: logging.Logger = _log,
) -> T:
    """`call()` until it returns. An error `retryable` refuses is raised as it is; a retryable one is tried
    again `policy.attempts` times in all, then `exceeded(what, attempts, last)` is raised from the last one.
    When `cancel` is set during a wait, `Cancelled` is raised instead of trying again."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as e:
            if not retryable(e):
                raise
            wait_s = policy.next_wait(what, attempt, e, log=log)
            if wait_s is None:
                raise exceeded(what, attempt, e) from e
            if cancel is None:
                time.sleep(wait_s)
            elif cancel.wait(wait_s):
                raise Cancelled(f"{what}: cancelled") from e
