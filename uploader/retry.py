"""One retry policy for the uploader: full-jitter exponential back-off, for errors marked `retryable`."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt i (from 1) waits uniform(0, min(cap, base * 2**(i-1))) seconds before the next one."""

    attempts: int = 8
    base_s: float = 1.0
    cap_s: float = 300.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return (rng or random).uniform(0, min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1)))
