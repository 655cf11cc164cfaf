"""Cutting a bundle's records to the kept span [start, end]: clock anchors, input events, window records,
markers, the display layout, the audio block records, and the raw log rebuilt from what was kept.

Pure functions over rows (no media, no manifest); the rules are in the package docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from trajrec import format as fmt
from trajrec.manifest import AnchorJSON, EnvironmentJSON
from trajrec.timeline import pause_spans

_PRESSES = frozenset({"down", "key_down"})
_RELEASES = frozenset({"up", "key_up"})


def anchor_list(anchors: Sequence[AnchorJSON]) -> list[fmt.Anchor]:
    return [fmt.Anchor(int(a["mono_ns"]), int(a["utc_ns"]), fmt.AnchorEvent(a["event"])) for a in anchors]


def _utc_at(anchors: list[fmt.Anchor], t_ns: int) -> int:
    best = anchors[0]
    for a in anchors:
        if a.mono_ns <= t_ns:
            best = a
    return best.utc_ns + t_ns - best.mono_ns


def trim_anchors(anchors: list[fmt.Anchor], old_end: int, start: int, end: int) -> tuple[list[fmt.Anchor], bool]:
    """New anchors for [start, end], and whether the session is paused at `start`."""
    paused_at_start = any(p0 < start < p1 for p0, p1 in pause_spans(anchors, old_end))
    out = [fmt.Anchor(start, _utc_at(anchors, start), fmt.AnchorEvent.START)]
    if paused_at_start:
        out.append(fmt.Anchor(start, _utc_at(anchors, start), fmt.AnchorEvent.PAUSE))
    paused = paused_at_start
    for a in anchors:
        if a.event == fmt.AnchorEvent.PAUSE and not paused and start <= a.mono_ns < end:
            out.append(a)
            paused = True
        elif a.event == fmt.AnchorEvent.RESUME and paused and start < a.mono_ns <= end:
            out.append(a)
            paused = False
    stop = next((a for a in anchors if a.event == fmt.AnchorEvent.STOP), None)
    if stop is not None:
        out.append(stop if stop.mono_ns == end else fmt.Anchor(end, _utc_at(anchors, end), fmt.AnchorEvent.STOP))
    return out, paused_at_start


def _release_key(row: dict[str, Any]) -> tuple[str, Any]:
    if row["kind"] in ("down", "up"):
        return ("button", row["button"])
    return ("key", row["scancode"] if row["scancode"] is not None else row["key"])


def trim_events(rows: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    """Events in [start, end], minus releases whose press was cut; seq renumbered from 0."""
    pressed: dict[tuple[str, Any], int] = {}  # key -> time of its latest unmatched press
    kept: list[dict[str, Any]] = []
    for row in rows:
        t = int(row["t_ns"])
        press_t: int | None = None
        if row["kind"] in _PRESSES:
            pressed[_release_key(row)] = t
        elif row["kind"] in _RELEASES:
            press_t = pressed.pop(_release_key(row), None)
        if not start <= t <= end:
            continue
        if press_t is not None and press_t < start:
            continue  # its press was cut: the release would name a key typed in the cut part
        kept.append({**row, "seq": len(kept)})
    return kept


def trim_windows(rows: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    current = None
    for row in rows:
        if int(row["t_ns"]) <= start:
            current = row
    kept = [r for r in rows if start <= int(r["t_ns"]) <= end]
    if current is not None and int(current["t_ns"]) < start:
        kept.insert(0, {**current, "t_ns": start})  # the window in focus at the new start stays known
    return kept


def trim_markers(markers: list[dict[str, Any]], start: int, end: int, paused_at_start: bool) -> list[dict[str, Any]]:
    kept = [{"t_ns": start, "kind": str(fmt.MarkerKind.PAUSE), "text": None}] if paused_at_start else []
    for mk in markers:
        t = int(mk["t_ns"])
        if mk["kind"] == fmt.MarkerKind.PAUSE:
            keep = start <= t < end
        elif mk["kind"] == fmt.MarkerKind.RESUME:
            keep = start < t <= end
        else:
            keep = start <= t <= end
        if keep:
            kept.append(mk)
    return kept


def trim_environment(env: EnvironmentJSON, start: int, end: int) -> EnvironmentJSON:
    changes = env.get("display_changes")
    if not changes:
        return env
    env = env.copy()
    for c in changes:
        if int(c["t_ns"]) <= start:
            env["displays"] = c["displays"]  # the layout in effect at the new start
    kept = [c for c in changes if start < int(c["t_ns"]) <= end]
    if kept:
        env["display_changes"] = kept
    else:
        env.pop("display_changes")
    return env


def trim_audio_blocks(
    blocks: list[dict[str, Any]], s0: int, s1: int, start: int, end: int, ns_per_sample: Fraction
) -> list[dict[str, Any]]:
    """The logged audio blocks re-based to the kept samples [s0, s1): first_sample, samples, gap clipped."""
    out = []
    for b in blocks:
        f, n, g = int(b["first_sample"]), int(b["samples"]), int(b.get("gap_samples", 0))
        a, z = max(f, s0), min(f + n, s1)
        if a >= z:
            continue
        t = int(b["t_ns"]) + round((a - f) * ns_per_sample)
        out.append(
            {
                "t_ns": min(max(t, start), end),
                "first_sample": a - s0,
                "samples": z - a,
                "gap_samples": max(0, f - max(f - g, s0)) if f >= s0 else 0,
            }
        )
    return out
