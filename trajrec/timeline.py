"""The session's timeline: pause spans from the clock anchors, and the capture-gap rule that skips them.

One home for both, used by sealing (stats), the validator (frames/events in a pause, frame gaps), the
reader (`BundleReader.pauses()`) and the app's review screen. Times are session-clock ns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from trajrec.format import Anchor, AnchorEvent


class Span(NamedTuple):
    """[start_ns, end_ns) on the session clock."""

    start_ns: int
    end_ns: int

    @property
    def ns(self) -> int:
        return self.end_ns - self.start_ns

    def overlaps(self, a: int, b: int) -> bool:
        """True when the open interval (a, b) overlaps this span."""
        return self.start_ns < b and a < self.end_ns


def pause_spans(anchors: Iterable[Anchor | Mapping[str, Any]], end_ns: int) -> list[Span]:
    """The (pause, resume) spans of time-ordered anchors; a pause never resumed lasts until `end_ns`.

    Anchors are `format.Anchor` records or their manifest JSON form ({"mono_ns", "event"})."""
    spans: list[Span] = []
    since: int | None = None
    for a in anchors:
        event, mono = (a.event, a.mono_ns) if isinstance(a, Anchor) else (a["event"], a["mono_ns"])
        if event == AnchorEvent.PAUSE and since is None:
            since = int(mono)
        elif event == AnchorEvent.RESUME and since is not None:
            spans.append(Span(since, int(mono)))
            since = None
    if since is not None:
        spans.append(Span(since, end_ns))
    return spans


def paused_ns(pauses: Sequence[Span]) -> int:
    return sum(p.ns for p in pauses)


def in_pause(t_ns: np.ndarray, pauses: Sequence[Span]) -> np.ndarray:
    """Boolean mask: which times fall strictly inside a pause."""
    mask = np.zeros(len(t_ns), bool)
    for p0, p1 in pauses:
        mask |= (t_ns > p0) & (t_ns < p1)
    return mask


def crosses_pause(a: int, b: int, pauses: Sequence[Span]) -> bool:
    """True when the interval between two captures (a, b) overlaps a pause: not a capture gap."""
    return any(p0 < b and a < p1 for p0, p1 in pauses)


def capture_gaps(t_ns: Sequence[int] | np.ndarray, pauses: Sequence[Span], limit_ns: int = 0) -> list[Span]:
    """Intervals between consecutive capture times longer than `limit_ns` that do not overlap a pause."""
    t = np.asarray(t_ns, dtype=np.int64)
    if len(t) < 2:
        return []
    idx = np.flatnonzero(np.diff(t) > limit_ns)
    out = []
    for i in idx:
        a, b = int(t[i]), int(t[i + 1])
        if not crosses_pause(a, b, pauses):
            out.append(Span(a, b))
    return out


def max_capture_gap(t_ns: Sequence[int] | np.ndarray, pauses: Sequence[Span]) -> int:
    """Longest interval between consecutive capture times that does not overlap a pause (0 if none)."""
    return max((g.ns for g in capture_gaps(t_ns, pauses)), default=0)


def lost_outside_pauses(gap: Span, pauses: Sequence[Span]) -> int:
    """How much of `gap` lies outside every pause (ns)."""
    return gap.ns - sum(max(0, min(gap.end_ns, p1) - max(gap.start_ns, p0)) for p0, p1 in pauses)


__all__ = [
    "Span",
    "capture_gaps",
    "crosses_pause",
    "in_pause",
    "lost_outside_pauses",
    "max_capture_gap",
    "pause_spans",
    "paused_ns",
]
