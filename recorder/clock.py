"""SessionClock: the one clock every stream is stamped with (monotonic, integer nanoseconds)."""

from __future__ import annotations

import time
from collections.abc import Callable

from trajrec.format import Anchor, AnchorEvent

# What a source or backend is handed to stamp with: a function returning session-clock ns (SessionClock.now_ns).
Clock = Callable[[], int]


class SessionClock:
    """Monotonic ns for stamping; UTC only as anchor pairs read back to back."""

    @staticmethod
    def now_ns() -> int:
        return time.monotonic_ns()

    @staticmethod
    def anchor(event: AnchorEvent) -> Anchor:
        """Pair monotonic and UTC time; of three tries keep the tightest bracket (least preemption)."""
        best: tuple[int, int, int] | None = None
        for _ in range(3):
            m0 = time.monotonic_ns()
            utc = time.time_ns()
            m1 = time.monotonic_ns()
            if best is None or m1 - m0 < best[0]:
                best = (m1 - m0, (m0 + m1) // 2, utc)
        assert best is not None
        return Anchor(mono_ns=best[1], utc_ns=best[2], event=event)
