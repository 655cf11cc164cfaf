"""Choosing each action's settled frames while the video streams by (trajrec.framepick.FramePicker) makes the same
choice as the rule applied to the whole video (settle), keeps only a few frames, and decides each frame once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trajrec.framepick import FramePicker, plan, settle
from trajrec.screen import SETTLED

Session = tuple[list[int], list[int], list[bool], np.ndarray, np.ndarray]


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    n = draw(st.integers(0, 60))
    gaps = draw(st.lists(st.integers(1, 300), min_size=n, max_size=n))
    frame_times = np.cumsum(np.asarray(gaps, dtype=np.int64)) + 1000
    still = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    changes = np.asarray([0.0 if s else 5.0 for s in still], dtype=np.float64)
    if n:
        changes[0] = np.inf
    k = draw(st.integers(0, 15))
    starts = sorted(draw(st.lists(st.integers(0, 1000 + 300 * max(n, 1)), min_size=k, max_size=k)))
    ends = [s + draw(st.integers(0, 900)) for s in starts]  # long actions overlap later ones (drags)
    markers = [draw(st.booleans()) for _ in starts]
    return starts, ends, markers, frame_times, changes


@settings(max_examples=400, deadline=None)
@given(sessions())
def test_streaming_choice_is_the_whole_video_choice(s: Session) -> None:
    starts, ends, markers, frame_times, changes = s
    plans = plan(starts, ends, markers, frame_times)
    expected = settle(plans, changes)
    picker = FramePicker(plans)
    kept: set[int] = set()
    emitted: list[int] = []
    most = 0
    for i, c in enumerate(changes):
        for f in picker.feed(i, float(c)):
            assert f in kept or f in (i, i - 1)  # what the caller still holds
            emitted.append(f)
        kept = picker.pending()
        assert all(j <= i for j in kept)
        most = max(most, len(kept))
    assert list(zip(picker.before, picker.after, strict=True)) == expected
    wanted = {f for pair in expected for f in pair if f is not None}
    assert set(emitted) == wanted
    assert most <= len(plans)


def test_a_few_frames_are_held_however_long_the_video() -> None:
    n = 20_000
    frame_times = np.arange(n, dtype=np.int64) * 33_000_000
    changes = np.where(np.arange(n) % 7 == 0, 5.0, 0.0)
    starts = list(range(10**9, n * 33_000_000, 2 * 10**9))
    plans = plan(starts, [s + 10**8 for s in starts], [False] * len(starts), frame_times)
    picker = FramePicker(plans)
    held = 0
    for i, c in enumerate(changes):
        picker.feed(i, float(c))
        held = max(held, len(picker.pending()))
    assert held <= 2 and list(zip(picker.before, picker.after, strict=True)) == settle(plans, changes)
    assert all(b is not None and changes[b] < SETTLED for b, _ in zip(picker.before, picker.after, strict=True))
