"""Per-bundle quality measurements: what a lab looks at before it accepts a recording (`schemas/quality.schema.json`).

One pass over each stream: the input events, one thumbnail decode of the video (`BundleReader.screen_profile`),
one read of the voiceover (`BundleReader.voiceover`). Times are session-clock ns; figures in seconds are rounded.

- idle: stretches of at least `idle_ns` with no input event and no screen change (pauses are neither idle nor
  active: nothing was captured); active time is the rest of the session.
- narration coverage: the share of active time inside speech spans.
- black: frames whose thumbnail is dark and flat, for at least `black_ns`; frozen: no screen change for at least
  `frozen_ns` while the expert pressed `frozen_presses` keys or buttons (the capture, or the app, hung).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trajrec import format as fmt
from trajrec.screen import SETTLED, runs
from trajrec.timeline import Span, capture_gaps

if TYPE_CHECKING:
    from trajrec.actions import Action, ActionRules
    from trajrec.quality.speech import Voiceover
    from trajrec.reader import BundleReader

QUALITY_VERSION = 1
S = 1_000_000_000
HIST_EDGES_MS = (0, 20, 30, 40, 50, 67, 100, 200, 500, 1000)  # frame intervals; the last bin is open
PRESSES = (fmt.EventKind.DOWN, fmt.EventKind.KEY_DOWN)


@dataclass(frozen=True)
class QualityRules:
    idle_ns: int = 5 * S
    stall_ns: int = fmt.FRAME_GAP_LIMIT_NS  # a longer gap between frames is a stall (the validator's limit)
    black_ns: int = 1 * S
    black_level: float = 16.0  # mean grey under this (of 255)...
    black_spread: float = 6.0  # ...and standard deviation under this: a black frame
    frozen_ns: int = 10 * S
    frozen_presses: int = 3


@dataclass
class Measured:
    """One bundle's measurements (`quality`, the JSON record) and what they were made from, for the report's
    figures and for exports: the actions, the speech, the frame times and the screen's changes."""

    quality: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    voice: Voiceover | None = None
    frame_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    idle: list[Span] = field(default_factory=list)


def measure(
    b: BundleReader, rules: QualityRules | None = None, action_rules: ActionRules | None = None
) -> Measured:
    rules = rules or QualityRules()
    start, end = b.start_ns, b.end_ns
    pauses = b.pauses()
    events = b.event_records()
    frame_times = b.frame_times() if b.has_screen else np.zeros(0, np.int64)
    profile = b.screen_profile() if b.has_screen else None
    voice = b.voiceover()
    actions = b.actions(action_rules, visual=profile is not None, speech=voice is not None)
    changed = frame_times[profile.changes >= SETTLED] if profile is not None else np.zeros(0, np.int64)
    activity = np.sort(np.concatenate([np.asarray([e.t_ns for e in events], np.int64), changed.astype(np.int64)]))
    idle = _idle(activity, start, end, pauses, rules.idle_ns)
    paused = sum(p.ns for p in pauses)
    duration = end - start
    active = max(0, duration - paused - sum(s.ns for s in idle))
    spans = voice.spans if voice is not None else []
    speech_active = _overlap(spans, start, end) - _overlap_many(spans, [*idle, *pauses])
    doing = [a for a in actions if a.kind not in ("marker", "move")]
    stats = b.manifest["stats"]
    q: dict[str, Any] = {
        "version": QUALITY_VERSION,
        "session_id": b.session_id,
        "manifest_sha256": b.manifest_sha256,
        "status": b.manifest["status"],
        "duration_s": _s(duration),
        "paused_s": _s(paused),
        "active_s": _s(active),
        "idle_s": _s(sum(s.ns for s in idle)),
        "idle_share": round(sum(s.ns for s in idle) / (duration - paused), 4) if duration > paused else 0.0,
        "idle_spans": [_rel(s, start) for s in idle],
        "actions": {
            "count": len(doing),
            "per_active_minute": round(len(doing) / (active / 60e9), 2) if active else 0.0,
            "by_kind": _count(a.kind for a in doing),
        },
        "narration": {
            "present": voice is not None,
            "speech_s": _s(voice.speech_ns) if voice is not None else 0.0,
            "coverage": None if voice is None else round(speech_active / active, 4) if active else 0.0,
            "spans": len(spans),
        },
        "voice": _voice(voice),
        "frames": _frames(b, frame_times, pauses, rules),
        "audio_gaps": {"count": int(stats.get("audio_gaps", 0)), "seconds": _s(int(stats.get("audio_gaps_ns", 0)))},
        "pauses": {"count": len(pauses), "seconds": _s(paused)},
        "edits": _edits(b.manifest),
        "privacy": _privacy(b.manifest),
        "black_spans": _black(profile, frame_times, start, rules),
        "frozen_spans": _frozen(profile, frame_times, events, start, rules),
        "task": _task(b.manifest, active),
        "markers": [
            {"t_s": _s(m.t_ns - start), "kind": str(m.kind), "text": m.text}
            for m in b.markers()
            if m.kind in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE)
        ],
    }
    return Measured(q, actions, voice, frame_times, idle)


def _s(ns: int | float) -> float:
    return round(float(ns) / 1e9, 3)


def _rel(span: Span | tuple[int, int], start: int) -> list[float]:
    return [_s(span[0] - start), _s(span[1] - start)]


def _count(kinds: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in kinds:
        out[k] = out.get(k, 0) + 1
    return out


def _idle(activity: np.ndarray, start: int, end: int, pauses: Sequence[Span], idle_ns: int) -> list[Span]:
    """Stretches of at least idle_ns between activity (session start and end count as edges), pauses cut out."""
    edges = np.concatenate([[start], activity[(activity > start) & (activity < end)], [end]])
    out: list[Span] = []
    for i in np.flatnonzero(np.diff(edges) >= idle_ns):
        a, b = int(edges[i]), int(edges[i + 1])
        for piece in _minus(Span(a, b), pauses):
            if piece.ns >= idle_ns:
                out.append(piece)
    return out


def _minus(span: Span, cuts: Sequence[Span]) -> list[Span]:
    pieces = [span]
    for c0, c1 in cuts:
        nxt = []
        for a, b in pieces:
            if c1 <= a or c0 >= b:
                nxt.append(Span(a, b))
                continue
            if c0 > a:
                nxt.append(Span(a, c0))
            if c1 < b:
                nxt.append(Span(c1, b))
        pieces = nxt
    return pieces


def _overlap(spans: Sequence[tuple[int, int]], a: int, b: int) -> int:
    return sum(max(0, min(b, s1) - max(a, s0)) for s0, s1 in spans)


def _overlap_many(spans: Sequence[tuple[int, int]], cuts: Sequence[Span]) -> int:
    return sum(_overlap(spans, c0, c1) for c0, c1 in cuts)


def _voice(v: Voiceover | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "peak_dbfs": round(v.peak_dbfs, 1),
        "rms_dbfs": round(v.rms_dbfs, 1),
        "clipped_share": round(v.clipped / v.samples, 6) if v.samples else 0.0,
        "silent_share": round(v.silent_share(), 4),
    }


def _frames(b: BundleReader, t: np.ndarray, pauses: Sequence[Span], rules: QualityRules) -> dict[str, Any]:
    stats = b.manifest["stats"]
    dropped = int(stats.get("dropped_frames", 0))
    fps_target = float(b.manifest["streams"]["screen"].get("fps_target") or 0.0)
    out: dict[str, Any] = {
        "count": len(t),
        "dropped": dropped,
        "dropped_share": round(dropped / (len(t) + dropped), 5) if len(t) + dropped else 0.0,
    }
    if len(t) < 2:
        return out | {"fps_target": fps_target, "mean_fps": 0.0, "interval_ms": None, "histogram": None,
                      "max_gap_s": 0.0, "stalls": []}
    d = np.diff(t)
    crossing = np.zeros(len(d), bool)
    for p0, p1 in pauses:
        crossing |= (t[:-1] < p1) & (t[1:] > p0)
    ms = d[~crossing] / 1e6
    if not len(ms):  # every interval crosses a pause
        return out | {"fps_target": fps_target, "mean_fps": 0.0, "interval_ms": None, "histogram": None,
                      "max_gap_s": 0.0, "stalls": []}
    counts, _ = np.histogram(ms, bins=[*HIST_EDGES_MS, np.inf])
    gaps = capture_gaps(t, pauses, rules.stall_ns)
    captured = float(ms.sum()) / 1e3
    return out | {
        "fps_target": fps_target,
        "mean_fps": round(len(ms) / captured, 2) if captured else 0.0,
        "interval_ms": {
            "median": round(float(np.median(ms)), 2),
            "p95": round(float(np.percentile(ms, 95)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2),
            "max": round(float(ms.max()), 2),
        },
        "histogram": {"edges_ms": list(HIST_EDGES_MS), "counts": [int(c) for c in counts]},
        "max_gap_s": _s(max((g.ns for g in gaps), default=int(ms.max() * 1e6))),
        "stalls": [_rel(g, b.start_ns) for g in gaps],
    }


def _edits(manifest: Any) -> dict[str, int]:
    edits = manifest.get("edits", [])
    return {
        "trims": sum(e.get("kind") == "trim" for e in edits),
        "redactions": sum(e.get("kind") in ("hide", "box", "mute") for e in edits),
    }


def _privacy(manifest: Any) -> dict[str, Any]:
    p = manifest.get("privacy") or {}
    return {
        "redacted_keys": int(p.get("redacted_keys", 0)),
        "masked_frames": int(p.get("masked_frames", 0)),
        "redacted_spans": len(p.get("spans", [])),
        "gaps": int(p.get("gaps", 0)),
        "gap_s": _s(int(p.get("gap_ns", 0))),
    }


def _black(p: Any, t: np.ndarray, start: int, rules: QualityRules) -> list[list[float]]:
    if p is None or not len(t):
        return []
    dark = (p.brightness < rules.black_level) & (p.spread < rules.black_spread)
    return [
        _rel((int(t[a]), int(t[min(z + 1, len(t) - 1)])), start)
        for a, z in runs(dark)
        if t[min(z + 1, len(t) - 1)] - t[a] >= rules.black_ns
    ]


def _frozen(
    p: Any, t: np.ndarray, events: Sequence[fmt.InputEvent], start: int, rules: QualityRules
) -> list[list[float]]:
    """Runs of frames with no change for frozen_ns or more while keys or buttons were pressed."""
    if p is None or len(t) < 2:
        return []
    presses = np.asarray(sorted(e.t_ns for e in events if e.kind in PRESSES), np.int64)
    still = p.changes < SETTLED
    out = []
    for a, z in runs(still):
        t0, t1 = int(t[max(a - 1, 0)]), int(t[z])  # the run's frames all look like frame a-1
        if t1 - t0 < rules.frozen_ns:
            continue
        n = int(np.searchsorted(presses, t1, "right") - np.searchsorted(presses, t0, "left"))
        if n >= rules.frozen_presses:
            out.append(_rel((t0, t1), start))
    return out


def _task(manifest: Any, active: int) -> dict[str, Any]:
    task = manifest.get("task") or {}
    words = len(str(task.get("instruction") or "").split())
    return {
        "id": task.get("id"),
        "instruction_words": words,
        "active_s_per_instruction_word": round(active / 1e9 / words, 2) if words else None,
    }
