"""The session's log thread: every record from the record queue to its writer call, key events through the
key guard (recorder.privacy.guard), which holds each back until it knows whether it was private.

A record type has exactly one writer call (`handlers`); a type without one is a programming error and stops the
session. With nothing to write for IDLE_FLUSH_S the log is flushed, bounding what a crash loses.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from recorder.capture.base import AudioChunk
from recorder.errors import RecorderError
from recorder.privacy.guard import HotkeyChord, InputGuard
from recorder.privacy.state import GuardsRecord
from recorder.writers.live import LiveWriter
from trajrec import format as fmt

IDLE_FLUSH_S = 0.5  # with nothing to write for this long, the log is flushed anyway
GUARD_TICK_S = 0.05  # how often held key events are let go when no record arrives


@dataclass(frozen=True, slots=True)
class DroppedFrames:
    """Frames the full frame queue turned away, logged at the time they were grabbed."""

    t_ns: int
    count: int = 1


# What goes through the record queue to the log thread (frames have their own queue, to the encoder).
Record = (
    fmt.InputEvent
    | fmt.WindowRecord
    | fmt.ElementRecord
    | fmt.DisplayLayout
    | fmt.Marker
    | fmt.Anchor
    | AudioChunk
    | DroppedFrames
    | GuardsRecord
    | HotkeyChord
)
Handler = Callable[[Any], None]  # writes one record of the type it is registered for


class Stats(Protocol):
    audio_overflows: int


def handlers(w: LiveWriter, stats: Stats) -> dict[type, Handler]:
    """Which writer call each Record type goes to (the types are exact: no subclasses are made)."""

    def audio(chunk: AudioChunk) -> None:
        if chunk.overflow:
            stats.audio_overflows += 1
        w.audio(chunk.t_ns, chunk.samples)

    def dropped(d: DroppedFrames) -> None:
        w.dropped_frames(d.t_ns, d.count)

    return {
        fmt.InputEvent: w.event,
        fmt.WindowRecord: w.window,
        fmt.ElementRecord: w.element,
        GuardsRecord: lambda g: w.guards(g.t_ns, g.to_json()),
        fmt.DisplayLayout: w.layout,
        fmt.Marker: w.marker,
        fmt.Anchor: w.anchor,
        AudioChunk: audio,
        DroppedFrames: dropped,
    }


def run_log(
    records: queue.Queue[Record | None], w: LiveWriter, guard: InputGuard, now_ns: Callable[[], int], stats: Stats
) -> None:
    """Until the None sentinel: write each record; let held key events go as they come due; log each privacy
    span as it closes. At the end, what is still held is decided by what is known then."""
    calls = handlers(w, stats)
    idle_since = time.monotonic()
    while True:
        try:
            item = records.get(timeout=GUARD_TICK_S)
            got = True
        except queue.Empty:
            item, got = None, False
        for held in guard.due(now_ns()):
            _write_guarded(w, held)
        for span in guard.state.take_closed():
            w.privacy_span(span)
        if not got:
            if time.monotonic() - idle_since >= IDLE_FLUSH_S:  # a quiet moment: bound crash loss
                w.log.flush()
                idle_since = time.monotonic()
            continue
        idle_since = time.monotonic()
        if item is None:
            break
        if type(item) is HotkeyChord:
            guard.retract(item)
            continue
        if type(item) is fmt.InputEvent or type(item) is fmt.ElementRecord:
            for held in guard.offer(item, now_ns()):
                _write_guarded(w, held)
            continue
        handler = calls.get(type(item))
        if handler is None:
            raise RecorderError(f"unknown record {type(item).__name__} from a capture source")
        handler(item)
    for held in guard.drain():
        _write_guarded(w, held)
    guard.state.close_all(now_ns())
    for span in guard.state.take_closed():
        w.privacy_span(span)


def _write_guarded(w: LiveWriter, record: fmt.InputEvent | fmt.ElementRecord) -> None:
    if isinstance(record, fmt.ElementRecord):
        w.element(record)
    else:
        w.event(record)
