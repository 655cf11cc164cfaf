"""Redactions after recording (review, and the Python API for labs): hide a span, cover a box, mute the voiceover.

    from recorder.sealing.edit import Box, Hide, Mute, redact_bundle
    redact_bundle(bundle, [Hide(t0, t1), Box(t2, t3, (x, y, w, h)), Mute(t4, t5)])

- `Hide(start_ns, end_ns)`: frames grabbed inside become a privacy gap (none kept), input events, window and
  element records, step and note markers inside are dropped (with the other half of a press/release pair that
  straddles the span), the voiceover inside is silenced; the manifest gets a privacy span of kind "expert". The
  frames after the span up to the next keyframe are re-encoded (their references are gone); the rest is copied.
- `Box(start_ns, end_ns, box, style="blur")`: the box (x, y, w, h in video pixels) is blurred beyond reading or
  filled black in every frame of each GOP the span touches: the span is widened to whole GOPs (at most a keyframe
  interval, 2 s, each side) so that those GOPs are re-encoded whole and every other frame is a copied packet,
  decoded bit-identically to before. The widened span is what the manifest records.
- `Mute(start_ns, end_ns)`: the voiceover's samples inside are set to zero; every other sample is bit-exact.

Each call writes one new sealed bundle through the crash-safe swap of `swap.py` (old files deleted, never kept
aside), with every table and the raw log rewritten from what is kept; `edits[]` gets one entry per redaction
(kind, span, box, style, reason: never the content). Spans are on the session clock, clamped to the session.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from recorder.errors import BundleEditError
from recorder.sealing.commit import commit, session_stats, write_markers, write_table
from recorder.sealing.edit.media import kept_samples, video_time_base
from recorder.sealing.edit.regop import Cover, gops, silence_audio, write_video
from recorder.sealing.edit.trim import anchor_list
from recorder.sealing.edit.write import copy_member, member_of
from recorder.sealing.media import audio_gap_stats
from recorder.sealing.privacy import deny_gaps, masked_of, privacy_section
from recorder.sealing.rawlog import write_records
from recorder.writers.log import read_live_log
from trajrec import format as fmt
from trajrec.manifest import EditJSON, Manifest
from trajrec.reader import BundleReader
from trajrec.timeline import Span, pause_spans
from trajrec.topics import Topic

MAX_REDACTIONS = 1000
_PAIRED = {"down": "up", "key_down": "key_up"}


@dataclass(frozen=True)
class Hide:
    start_ns: int
    end_ns: int
    reason: str = "expert"


@dataclass(frozen=True)
class Box:
    start_ns: int
    end_ns: int
    box: tuple[int, int, int, int]  # x, y, w, h in video pixels
    style: Literal["blur", "fill"] = "blur"
    reason: str = "expert"  # or the detector whose suggestion this is


@dataclass(frozen=True)
class Mute:
    start_ns: int
    end_ns: int
    reason: str = "expert"


Redaction = Hide | Box | Mute


def check_redactions(m: Manifest, redactions: Sequence[Redaction]) -> list[Redaction]:
    """The redactions clamped to the session; BundleEditError (one line) for one that cannot be made."""
    if not redactions:
        raise BundleEditError("no redaction asked for")
    if len(redactions) > MAX_REDACTIONS:
        raise BundleEditError(f"{len(redactions)} redactions in one edit: at most {MAX_REDACTIONS}")
    lo, hi = int(m["clock"]["start_ns"]), int(m["clock"]["end_ns"])
    screen = m["streams"]["screen"]
    out: list[Redaction] = []
    for n, r in enumerate(redactions, start=1):
        if not isinstance(r, Hide | Box | Mute):
            raise BundleEditError(f"redaction {n} is a {type(r).__name__}: use Hide, Box or Mute")
        start, end = max(int(r.start_ns), lo), min(int(r.end_ns), hi)
        if start > end:
            raise BundleEditError(f"redaction {n}: its span lies outside the session or ends before it starts")
        if not isinstance(r.reason, str) or not 0 < len(r.reason) <= 200:
            raise BundleEditError(f"redaction {n}: the reason must be a short text (1 to 200 characters)")
        if isinstance(r, Box):
            if not screen["present"]:
                raise BundleEditError(f"redaction {n}: the bundle has no video to draw a box on")
            x, y, w, h = (int(v) for v in r.box)
            width, height = int(screen["width"]), int(screen["height"])
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            if x1 <= x0 or y1 <= y0:
                raise BundleEditError(f"redaction {n}: the box {r.box} lies outside the {width}x{height} video")
            if r.style not in ("blur", "fill"):
                raise BundleEditError(f"redaction {n}: style {r.style!r}: use 'blur' or 'fill'")
            out.append(Box(start, end, (x0, y0, x1 - x0, y1 - y0), r.style, r.reason))
        elif isinstance(r, Mute) and not m["streams"]["audio"]["present"]:
            raise BundleEditError(f"redaction {n}: the bundle has no voiceover to mute")
        else:
            out.append(type(r)(start, end, r.reason))
    return out


def write_redacted(reader: BundleReader, src: Path, stage: Path, redactions: Sequence[Redaction], now_utc: str) -> None:
    """The bundle with `redactions` (checked) applied, written into `stage`, the manifest last."""
    m = copy.deepcopy(reader.manifest)
    hides = [Span(r.start_ns, r.end_ns) for r in redactions if isinstance(r, Hide)]
    edits: list[EditJSON] = []
    recs = read_live_log(member_of(src, fmt.RAW_LOG)).records

    def hidden(t: int) -> bool:
        return any(s.start_ns <= t <= s.end_ns for s in hides)

    # screen
    frame_rows: list[dict[str, Any]] = []
    boxes = [r for r in redactions if isinstance(r, Box)]
    if reader.has_screen:
        table = reader.frames().to_pylist()
        t = [int(r["t_ns"]) for r in table]
        key = [bool(r["keyframe"]) for r in table]
        keep = [not hidden(x) for x in t]
        redo = [False] * len(t)
        covers: list[Cover] = []
        groups = gops(key)
        for b in boxes:
            touched = [(a, z) for a, z in groups if t[a] <= b.end_ns and t[z - 1] >= b.start_ns]
            if not touched:
                continue
            first, stop = touched[0][0], touched[-1][1]
            covers.append(Cover(first, stop, b.box, b.style))
            redo[first:stop] = [True] * (stop - first)
            edits.append(_edit("box", now_utc, t[first], t[stop - 1], b.reason, b))
        for a, z in groups:  # a GOP's frames after a dropped one lost their references: re-encoded
            lost = False
            for i in range(a, z):
                lost = lost or not keep[i]
                if lost and keep[i]:
                    redo[i] = True
        if any(keep) and (any(redo) or not all(keep)):
            settings = dict(m["streams"]["screen"])
            got = write_video(
                member_of(src, fmt.VIDEO),
                stage / fmt.VIDEO,
                t,
                key,
                keep,
                redo,
                covers,
                settings,
            )
            kept_rows = [r for r, k in zip(table, keep, strict=True) if k]
            frame_rows = [
                {**r, "frame_index": i, "pts": p, "keyframe": kf}
                for i, (r, (p, kf)) in enumerate(zip(kept_rows, got, strict=True))
            ]
            screen = m["streams"]["screen"]
            screen["time_base"] = video_time_base(stage / fmt.VIDEO)
            screen["t0_ns"], screen["frames"] = int(frame_rows[0]["t_ns"]), len(frame_rows)
        elif not any(keep):
            raise BundleEditError("hiding these spans would leave no video frame: trim the recording instead")
        else:
            frame_rows = table
        write_table(stage / fmt.FRAMES, fmt.records_to_table(frame_rows, fmt.FRAMES_SCHEMA))

    # input, context, markers
    events = _events_outside(reader.events().to_pylist(), hidden)
    write_table(stage / fmt.EVENTS, fmt.records_to_table(events, fmt.EVENTS_SCHEMA))
    end = int(m["clock"]["end_ns"])
    windows = _windows_outside(reader.windows().to_pylist(), hides, end)
    write_table(stage / fmt.WINDOWS, fmt.records_to_table(windows, fmt.WINDOWS_SCHEMA))
    markers = [
        mk.to_json()
        for mk in reader.markers()
        if not (mk.kind in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE) and hidden(mk.t_ns))
    ]
    write_markers(stage / fmt.MARKERS, markers)
    elements: list[dict[str, Any]] = []
    if m["streams"].get("elements", {}).get("present"):
        elements = [e for e in reader.elements().to_pylist() if not hidden(int(e["t_ns"]))]
        write_table(stage / fmt.ELEMENTS, fmt.records_to_table(elements, fmt.ELEMENTS_SCHEMA))
        m["streams"]["elements"]["records"] = len(elements)
    for h in (r for r in redactions if isinstance(r, Hide)):
        edits.append(_edit("hide", now_utc, h.start_ns, h.end_ns, h.reason))
    session = Span(int(m["clock"]["start_ns"]), end)
    old = m.get("privacy")
    guards = [{"accessibility": old["accessibility"], "deny_list": old["deny_list"], **masked_of(old)}] if old else []
    spans = [dict(s) for s in old["spans"]] if old else []
    spans += [{"start_ns": s.start_ns, "end_ns": s.end_ns, "kind": fmt.PrivacyKind.EXPERT.value} for s in hides]
    m["privacy"] = privacy_section(guards, spans, events, session)

    # audio
    audio = m["streams"]["audio"]
    mutes = [r for r in redactions if isinstance(r, Mute)]
    silent = [Span(r.start_ns, r.end_ns) for r in mutes] + hides
    if audio["present"] and silent:
        ranges = []
        for s in silent:
            s0, s1, _ = kept_samples(audio, s.start_ns, s.end_ns)
            if s1 > s0:  # and the sample on each side: a reader rounding the span's ends to samples hears silence
                ranges.append((max(0, s0 - 1), s1 + 1))
        silence_audio(
            member_of(src, fmt.AUDIO),
            stage / fmt.AUDIO,
            ranges,
            int(audio["sample_rate"]),
            int(audio["channels"]),
        )
    edits += [_edit("mute", now_utc, r.start_ns, r.end_ns, r.reason) for r in mutes]

    # files not redacted are copied as they are
    written = {fmt.FRAMES, fmt.EVENTS, fmt.WINDOWS, fmt.MARKERS, fmt.ELEMENTS, fmt.RAW_LOG, fmt.MANIFEST}
    written |= {p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()}
    for entry in m["files"]:
        if entry["path"] not in written:
            (stage / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
            copy_member(src, entry["path"], stage / entry["path"], link=False)

    # the raw log: what the tables hold
    frames_log = [{k: v for k, v in r.items() if k != "pts"} for r in frame_rows] if reader.has_screen else []
    write_records(
        stage / fmt.RAW_LOG,
        recs,
        frame=frames_log,
        event=events,
        window=windows,
        marker=markers,
        element=elements,
        privacy=[dict(s) for s in m["privacy"]["spans"]],
    )

    # the manifest
    m["streams"]["input"]["events"] = len(events)
    m["streams"]["context"]["records"] = len(windows)
    m["streams"]["markers"]["count"] = len(markers)
    anchors = anchor_list(m["clock"]["anchors"])
    pauses = pause_spans(anchors, end)
    gap = (int(m["stats"]["audio_gaps_ns"]), int(m["stats"]["audio_gaps"]))
    if audio["present"]:
        gap = audio_gap_stats(recs.get(Topic.AUDIO, []), int(audio["sample_rate"]), int(audio["samples"]), pauses)
    m["stats"].update(
        session_stats(
            session,
            pauses,
            [int(r["t_ns"]) for r in frame_rows],
            recs.get(Topic.DROPPED, []),
            gap,
            len(events),
            deny_gaps([dict(s) for s in m["privacy"]["spans"]]),
        )
    )
    m.setdefault("edits", []).extend(edits)
    commit(stage, m)


def _edit(kind: str, at: str, start: int, end: int, reason: str, box: Box | None = None) -> EditJSON:
    e: dict[str, Any] = {"kind": kind, "at_utc": at, "start_ns": start, "end_ns": end, "reason": reason}
    if box is not None:
        e.update(box=list(box.box), style=box.style, requested_start_ns=box.start_ns, requested_end_ns=box.end_ns)
    return e  # type: ignore[return-value]


def _events_outside(rows: list[dict[str, Any]], hidden: Any) -> list[dict[str, Any]]:
    """Events outside the hidden spans, minus the other half of each press/release pair cut by one; seq renumbered."""
    drop = {i for i, r in enumerate(rows) if hidden(int(r["t_ns"]))}
    held: dict[tuple[Any, ...], int] = {}
    for i, r in enumerate(rows):
        kind = r["kind"]
        which: tuple[Any, ...] = (
            ("button", r["button"]) if kind in ("down", "up") else ("key", r["scancode"], r["key"], r["redacted"])
        )
        if kind in _PAIRED:
            held[which] = i
        elif kind in ("up", "key_up") and which in held:
            press = held.pop(which)
            if (press in drop) != (i in drop):
                drop |= {press, i}
    kept = [r for i, r in enumerate(rows) if i not in drop]
    return [{**r, "seq": n} for n, r in enumerate(kept)]


def _windows_outside(rows: list[dict[str, Any]], hides: list[Span], end: int) -> list[dict[str, Any]]:
    """Window records outside the hidden spans; the one in effect at a span's end is re-emitted just after it, so
    that the window known after the span stays the one that had the focus then."""
    out = [r for r in rows if not any(s.start_ns <= int(r["t_ns"]) <= s.end_ns for s in hides)]
    for s in hides:
        inside = [r for r in rows if s.start_ns <= int(r["t_ns"]) <= s.end_ns]
        after = s.end_ns + 1
        if inside and after <= end and not any(int(r["t_ns"]) == after for r in out):
            out.append({**inside[-1], "t_ns": after})
    return sorted(out, key=lambda r: int(r["t_ns"]))
