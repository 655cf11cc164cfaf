"""Writing the edited bundle into its staging directory: a trim rewrites the tables, media, raw log and
manifest from what the plan keeps; a notes-only edit keeps every file as it is and rewrites markers.jsonl.

Either way the manifest is written last, with every file fsynced and checksummed (`commit`).
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import shutil
from pathlib import Path
from typing import Any

from recorder.errors import BundleEditError
from recorder.sealing.commit import anchors_json, commit, session_stats, write_markers, write_table
from recorder.sealing.edit.media import copy_audio, copy_video, kept_samples, video_time_base
from recorder.sealing.edit.plan import Plan
from recorder.sealing.edit.trim import (
    anchor_list,
    trim_anchors,
    trim_audio_blocks,
    trim_environment,
    trim_events,
    trim_markers,
    trim_windows,
)
from recorder.sealing.media import audio_gap_stats
from recorder.sealing.privacy import deny_gaps, masked_of, privacy_section
from recorder.sealing.rawlog import write_raw_log, write_records
from recorder.writers.log import read_live_log
from trajrec import format as fmt
from trajrec.errors import UnsafePathError
from trajrec.manifest import Manifest
from trajrec.paths import member_path, open_member
from trajrec.reader import BundleReader
from trajrec.timeline import Span, pause_spans
from trajrec.topics import Topic


def member_of(src: Path, rel: str) -> Path:
    """A file of the bundle being edited, by the one rule (trajrec.paths): inside it, no link on the way."""
    try:
        return member_path(src, rel)
    except UnsafePathError as e:
        raise BundleEditError(f"{src}: {rel}: {e.reason}; nothing was changed") from e


def copy_member(src: Path, rel: str, dst: Path, *, link: bool) -> None:
    """`rel` of `src` to `dst`: a hard link to the file itself (never to a link's target) when `link`, else a
    copy read without following links."""
    if link:
        try:
            os.link(member_of(src, rel), dst, follow_symlinks=False)
            return
        except OSError:
            pass  # another file system, or links refused: copy
    try:
        with open_member(src, rel) as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
    except UnsafePathError as e:
        raise BundleEditError(f"{src}: {rel}: {e.reason}; nothing was changed") from e


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def write_notes_only(manifest: Manifest, src: Path, stage: Path, plan: Plan, *, link: bool) -> None:
    """Every file as it is (hard links when the old bundle is about to go), markers.jsonl rewritten, and the
    raw log rewritten with the new markers: a note edited away survives nowhere in the bundle."""
    rewritten = {fmt.MARKERS, fmt.RAW_LOG} if plan.changed_notes else {fmt.MARKERS}
    for entry in manifest["files"]:
        rel = entry["path"]
        if rel in rewritten:
            continue
        dst = stage / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        copy_member(src, rel, dst, link=link)
    write_markers(stage / fmt.MARKERS, plan.markers)
    if plan.changed_notes:
        recs = read_live_log(member_of(src, fmt.RAW_LOG)).records
        write_records(stage / fmt.RAW_LOG, recs, marker=plan.markers)
    m = copy.deepcopy(manifest)
    if plan.changed_notes:
        m.setdefault("edits", []).append(
            {"kind": "marker_notes", "at_utc": now_utc(), "count": len(plan.changed_notes)}
        )
    commit(stage, m)


def write_trimmed(reader: BundleReader, src: Path, stage: Path, plan: Plan) -> None:
    """The bundle cut to the plan's span: every table, the media, the raw log and the manifest rewritten."""
    m = copy.deepcopy(reader.manifest)
    start, end = plan.start_ns, plan.end_ns
    old_end = int(m["clock"]["end_ns"])
    anchors, paused_at_start = trim_anchors(anchor_list(m["clock"]["anchors"]), old_end, start, end)
    pauses = pause_spans(anchors, end)
    recs = read_live_log(member_of(src, fmt.RAW_LOG)).records

    # screen
    frame_rows: list[dict[str, Any]] = []
    if reader.has_screen:
        table = reader.frames()
        t_all = [int(x) for x in table.column("t_ns").to_pylist()]
        disp = [int(x) for x in table.column("display_id").to_pylist()]
        t_kept = t_all[plan.first_frame : plan.stop_frame]
        nxt = t_all[plan.stop_frame] if plan.stop_frame < len(t_all) else end
        video = member_of(src, fmt.VIDEO)
        got = copy_video(video, stage / fmt.VIDEO, plan.first_frame, t_kept, min(nxt, end) - t_kept[-1])
        frame_rows = [
            {"frame_index": i, "pts": p, "t_ns": t, "display_id": disp[plan.first_frame + i], "keyframe": k}
            for i, ((p, k), t) in enumerate(zip(got, t_kept, strict=True))
        ]
        write_table(stage / fmt.FRAMES, fmt.records_to_table(frame_rows, fmt.FRAMES_SCHEMA))
        screen = m["streams"]["screen"]
        screen["time_base"] = video_time_base(stage / fmt.VIDEO)
        screen["t0_ns"] = t_kept[0]
        screen["frames"] = len(frame_rows)

    # input, context, markers
    events = trim_events(reader.events().to_pylist(), start, end)
    write_table(stage / fmt.EVENTS, fmt.records_to_table(events, fmt.EVENTS_SCHEMA))
    windows = trim_windows(reader.windows().to_pylist(), start, end)
    write_table(stage / fmt.WINDOWS, fmt.records_to_table(windows, fmt.WINDOWS_SCHEMA))
    markers = trim_markers(plan.markers, start, end, paused_at_start)
    write_markers(stage / fmt.MARKERS, markers)
    elements: list[dict[str, Any]] = []
    if m["streams"].get("elements", {}).get("present"):
        elements = [e for e in reader.elements().to_pylist() if start <= int(e["t_ns"]) <= end]
        write_table(stage / fmt.ELEMENTS, fmt.records_to_table(elements, fmt.ELEMENTS_SCHEMA))
        m["streams"]["elements"]["records"] = len(elements)
    if "privacy" in m:
        old = m["privacy"]
        guards = [{"accessibility": old["accessibility"], "deny_list": old["deny_list"], **masked_of(old)}]
        m["privacy"] = privacy_section(guards, [dict(s) for s in old["spans"]], events, Span(start, end))

    # audio
    audio = m["streams"]["audio"]
    audio_blocks: list[dict[str, Any]] = []
    gap_ns = gaps = 0
    if audio["present"]:
        s0, s1, ns_per_sample = kept_samples(audio, start, end)
        if s1 > s0:
            voice = member_of(src, fmt.AUDIO)
            copy_audio(voice, stage / fmt.AUDIO, s0, s1, int(audio["sample_rate"]), int(audio["channels"]))
            audio["first_sample_t_ns"] = int(audio["first_sample_t_ns"]) + round(s0 * ns_per_sample)
            audio["samples"] = s1 - s0
            audio_blocks = trim_audio_blocks(recs.get(Topic.AUDIO, []), s0, s1, start, end, ns_per_sample)
            gap_ns, gaps = audio_gap_stats(audio_blocks, int(audio["sample_rate"]), s1 - s0, pauses)
        else:
            m["streams"]["audio"] = {"present": False, "reason": "the trim kept none of the voiceover"}

    # the log: only what was kept, as the tables describe it
    dropped = [d for d in recs.get(Topic.DROPPED, []) if start <= int(d["t_ns"]) <= end]
    layouts = [c for c in recs.get(Topic.LAYOUT, []) if start <= int(c["t_ns"]) <= end]
    write_raw_log(
        stage / fmt.RAW_LOG,
        [
            (Topic.ANCHOR, anchors_json(anchors)),
            (Topic.LAYOUT, layouts),
            (Topic.WINDOW, windows),
            (Topic.MARKER, markers),
            (Topic.FRAME, [{k: v for k, v in r.items() if k != "pts"} for r in frame_rows]),  # the log has no pts
            (Topic.EVENT, events),
            (Topic.AUDIO, audio_blocks),
            (Topic.DROPPED, dropped),
            (Topic.GUARDS, [{**g, "t_ns": max(int(g["t_ns"]), start)} for g in recs.get(Topic.GUARDS, [])[:1]]),
            (Topic.ELEMENT, elements),
            (Topic.PRIVACY, [dict(s) for s in m.get("privacy", {}).get("spans", [])]),
        ],
    )

    # the manifest
    clock = m["clock"]
    clock["start_ns"], clock["end_ns"], clock["anchors"] = start, end, anchors_json(anchors)
    m["environment"] = trim_environment(m["environment"], start, end)
    m["streams"]["input"]["events"] = len(events)
    m["streams"]["context"]["records"] = len(windows)
    m["streams"]["markers"]["count"] = len(markers)
    m["stats"].update(
        session_stats(
            Span(start, end),
            pauses,
            [int(r["t_ns"]) for r in frame_rows],
            dropped,
            (gap_ns, gaps),
            len(events),
            deny_gaps([dict(s) for s in m.get("privacy", {}).get("spans", [])]),
        )
    )
    at = now_utc()
    edits = m.setdefault("edits", [])
    edits.append(
        {
            "kind": "trim",
            "at_utc": at,
            "start_ns": start,
            "end_ns": end,
            "requested_start_ns": plan.requested_start_ns,
            "requested_end_ns": plan.requested_end_ns,
        }
    )
    if plan.changed_notes:
        edits.append({"kind": "marker_notes", "at_utc": at, "count": len(plan.changed_notes)})
    commit(stage, m)
