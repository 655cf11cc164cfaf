"""Each action's frames where the screen had settled: the rule, applied to a whole video's changes (`settle`), or
decided while the video streams by (`FramePicker`), so an export decodes the video once and keeps only the few
frames still in question. Both make the same choice (tests/test_framepick.py checks it).

Before: the last frame grabbed at or before the action's start that looks like its predecessor, not reaching back
past the previous action's end (else the last frame at or before the start). After: from the first frame grabbed
after its end, the first whose successor looks the same, never one grabbed after the next action started (when no
frame lies between the two, the last one before the next action).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trajrec.screen import SETTLED


@dataclass(frozen=True)
class Plan:
    """Where one action's frames may lie (frame indices): before in [lo, hi] (hi: the last frame at or before its
    start, None without one); after in [first, limit], or `fixed` when no frame lies in between."""

    lo: int
    hi: int | None
    first: int
    limit: int
    fixed: int | None


def plan(starts: Sequence[int], ends: Sequence[int], markers: Sequence[bool], frame_times: np.ndarray) -> list[Plan]:
    """The plans of actions in time order (their start and end ns, which are markers), for a video's frame times."""
    n = len(frame_times)
    out = []
    prev_end: int | None = None
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        hi = int(np.searchsorted(frame_times, start, side="right")) - 1
        lo = 0 if prev_end is None else int(np.searchsorted(frame_times, prev_end, side="right"))
        if not markers[k]:
            prev_end = end if prev_end is None else max(prev_end, end)
        first = int(np.searchsorted(frame_times, end, side="right"))
        j = max(k + 1, bisect.bisect_right(starts, end))  # the next action that starts after this one ended
        limit = n - 1 if j >= len(starts) else int(np.searchsorted(frame_times, starts[j], side="right")) - 1
        fixed = (max(0, min(limit, n - 1)) if n else None) if first > limit else None
        out.append(Plan(lo, hi if hi >= 0 else None, first, limit, fixed))
    return out


def settle(plans: Sequence[Plan], changes: np.ndarray) -> list[tuple[int | None, int | None]]:
    """(before, after) of each plan, from the whole video's changes."""
    out: list[tuple[int | None, int | None]] = []
    for p in plans:
        before = p.hi
        if before is not None:
            before = next((i for i in range(before, p.lo - 1, -1) if changes[i] < SETTLED), before)
        if p.fixed is not None or p.first > p.limit:
            out.append((before, p.fixed))
            continue
        after = next((i for i in range(p.first, p.limit) if changes[i + 1] < SETTLED), p.limit)
        out.append((before, after))
    return out


class FramePicker:
    """Feed it every frame's change in order (`feed`); it says which frames became chosen, and which earlier frames
    may still be (`pending`): a caller keeps those and the previous frame, and can drop every other."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self.plans = list(plans)
        k = len(self.plans)
        self.before: list[int | None] = [None] * k
        self.after: list[int | None] = [None] * k
        self._before_done = [p.hi is None for p in self.plans]
        self._after_done = [False] * k
        self._cand: list[int | None] = [None] * k
        self._opens = [min(p.lo, p.hi) if p.hi is not None else -1 for p in self.plans]  # non-decreasing
        self._kb = 0  # the first action whose frame before is undecided
        self._by_first = sorted(range(k), key=lambda i: self.plans[i].first)
        self._kf = 0  # the next action (by first) to open for its frame after
        self._open_after: list[int] = []
        self._fixed: dict[int, list[int]] = {}
        for i, p in enumerate(self.plans):
            if p.fixed is not None or p.first > p.limit:
                self._after_done[i] = p.fixed is None
                if p.fixed is not None:
                    self._fixed.setdefault(p.fixed, []).append(i)

    def feed(self, i: int, change: float) -> list[int]:
        """Frame i arrived (its change from frame i-1); the frames now chosen (i, i-1, or a kept candidate)."""
        chosen: list[int] = []
        settled = change < SETTLED
        while self._kb < len(self.plans) and self._before_done[self._kb]:
            self._kb += 1
        k = self._kb
        while k < len(self.plans) and self._opens[k] <= i:
            p = self.plans[k]
            if not self._before_done[k] and p.hi is not None:
                if settled and p.lo <= i <= p.hi:
                    self._cand[k] = i
                if i == p.hi:
                    self.before[k] = self._cand[k] if self._cand[k] is not None else p.hi
                    self._before_done[k] = True
                    chosen.append(self.before[k])  # type: ignore[arg-type]
            k += 1
        for a in self._fixed.pop(i, []):
            self.after[a] = i
            self._after_done[a] = True
            chosen.append(i)
        while self._kf < len(self._by_first) and self.plans[self._by_first[self._kf]].first <= i:
            a = self._by_first[self._kf]
            if not self._after_done[a]:
                self._open_after.append(a)
            self._kf += 1
        still = []
        for a in self._open_after:
            p = self.plans[a]
            if p.first < i <= p.limit and settled:  # frame i-1's successor looks the same
                self.after[a] = i - 1
            elif i == p.limit:
                self.after[a] = i
            else:
                still.append(a)
                continue
            self._after_done[a] = True
            chosen.append(self.after[a])  # type: ignore[arg-type]
        self._open_after = still
        return chosen

    def pending(self) -> set[int]:
        """Frames fed so far that may still be chosen (candidates for a frame before not yet decided)."""
        return {c for k, c in enumerate(self._cand[self._kb :], self._kb) if c is not None and not self._before_done[k]}
