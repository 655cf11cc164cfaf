"""The review screen's edits: trim the start and/or end of a sealed bundle and edit markers' notes.

A sealed bundle is never changed in place: `edit_bundle` writes a new sealed bundle (tables, media,
log, then the manifest last, every file fsynced and checksummed) and only then swaps it in.

Trim semantics (also in schemas/README.md, "Edited bundles"):

- The kept span is ``[start, end]`` on the session clock. ``start_ns`` is snapped FORWARD to the grab
  time of the first keyframe at or after it, so the video starts decodable and nothing grabbed
  before the requested start survives (privacy: the expert cut it). ``end_ns`` is kept as asked;
  frames grabbed after it are dropped. Values outside the session are clamped to it; a start at or
  before the session start (or None) trims nothing there, and is not snapped.
- Video: the kept packets are copied (never re-encoded) into a new MP4; their pts are recomputed
  from the grab times as the recorder does (``(t_ns - t0_ns)`` in whole ms, +1 ms on a tie), so the
  first kept frame has pts 0 and ``streams.screen.t0_ns`` is its grab time. ``frames.parquet`` is
  filtered and re-indexed from 0. Decoded images are identical to the source's.
- Events, window records and markers with ``start <= t_ns <= end`` are kept; event ``seq`` is
  renumbered 0..n-1. A release (``up``/``key_up``) whose press was cut is dropped too: it would name
  a key typed in the cut part, and the validator accepts its absence. A press whose release was cut
  at the end is kept (a key held at the stop, which the format allows).
- The window record in effect at ``start`` (the latest one at or before it) is re-emitted at
  ``start`` when it lies in the cut part, so ``BundleReader.window_at`` answers the same for every
  kept time. Likewise the display layout in effect at ``start`` becomes ``environment.displays``.
- Clock: a ``start`` anchor at the new start, and the ``stop`` anchor (when the source has one) at the
  new end, with UTC extrapolated from the anchor before (so ``utc_ns(t)`` is unchanged for every kept
  ``t``). A pause cut in two keeps its kept part: a pause running at the new start gets a ``pause``
  anchor and marker there; one running at the new end loses its resume and lasts until the end.
- Audio: the FLAC samples whose times (``first_sample_t_ns + i * 1e9 / clock_rate_hz``) lie in the
  span are copied bit-exactly; ``first_sample_t_ns`` moves to the first kept sample and
  ``clock_rate_hz`` is kept, so every kept sample keeps its time (to 0.5 ns).
- ``raw/session.mcap`` is rewritten (with the recorder's own log writer) holding only the kept
  records, as the tables and manifest describe them: trimmed content survives nowhere in the bundle.
  Audio block records are re-based to the new FLAC (``first_sample``, clipped ``gap_samples``).
- Stats are recomputed with the sealer's helpers; ``status``, ``notes``, ``created_utc``, ``task`` and
  the format version are kept. Each edit appends to the manifest's ``edits`` list.

Marker notes: ``marker_notes`` maps an index into the source bundle's marker list, as
``BundleReader.markers()`` returns it (the 0-based line number in ``markers.jsonl``, which is sorted by
``t_ns``), to the marker's new text. Indices are those of the bundle before this edit's trim; a marker
the same call trims away is accepted and has no effect. Only ``step`` and ``note`` markers have text.
A notes-only edit rewrites ``markers.jsonl`` and the manifest; every other file is byte-identical
(``raw/session.mcap`` keeps the texts as recorded).

In place (``out=None``): the new bundle is written to ``.<name>.edit-partial`` beside the bundle, then
``<name>`` is renamed to ``.<name>.edit-old``, the new one to ``<name>``, and the old one deleted. A
failure at any step leaves the old bundle in place; a crash leaves one whole bundle under one of
those names, which `finish_interrupted_edit` (run at the start of every in-place edit) puts back.
"""

from __future__ import annotations

import copy
import datetime as _dt
import errno
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import soundfile as sf

from recorder.errors import BundleError
from recorder.sealing.seal import (
    audio_gap_stats,
    checksum_files,
    fsync_dir,
    max_frame_gap,
    paused_spans,
    write_manifest_last,
    write_table,
)
from recorder.writers.log import LiveLog, read_live_log
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.topics import Topic
from trajrec.validation import validate_bundle

log = logging.getLogger(__name__)

STAGE_SUFFIX = ".edit-partial"
BACKUP_SUFFIX = ".edit-old"
MAX_NOTE_CHARS = 10_000  # marker.schema.json: text maxLength
AUDIO_COPY_BLOCK = 1 << 16
_NS = 1_000_000_000
_MS = 1_000_000
_PRESSES = frozenset({"down", "key_down"})
_RELEASES = frozenset({"up", "key_up"})


class BundleEditError(BundleError):
    """A bundle could not be edited as asked; the bundle itself is unchanged."""


@dataclass(frozen=True)
class _Plan:
    start_ns: int  # the kept span, start snapped to a keyframe
    end_ns: int
    trim: bool  # the span is shorter than the session
    requested_start_ns: int | None
    requested_end_ns: int | None
    first_frame: int  # kept frames: [first_frame, stop_frame) of the source
    stop_frame: int
    markers: list[dict[str, Any]]  # every source marker, notes applied
    changed_notes: frozenset[int]  # source indices whose text changes


def stage_path(bundle: Path) -> Path:
    """Where an in-place edit of `bundle` writes the new bundle before swapping it in."""
    return bundle.parent / f".{bundle.name}{STAGE_SUFFIX}"


def backup_path(bundle: Path) -> Path:
    """Where an in-place edit moves the old bundle during the swap (deleted right after)."""
    return bundle.parent / f".{bundle.name}{BACKUP_SUFFIX}"


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


# --- public API -------------------------------------------------------------------------------------
def edit_bundle(
    src: Path,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    marker_notes: dict[int, str] | None = None,
    out: Path | None = None,
) -> Path:
    """Trim `src` to [start_ns, end_ns] (session clock) and/or set markers' texts; return the edited bundle.

    `marker_notes` maps a marker's index in `BundleReader(src).markers()` to its new text. With
    `out=None` the edited bundle replaces `src` atomically; otherwise it is written to `out` (which
    must not exist) and `src` is left as it is. An edit that changes nothing returns `src` untouched
    (in place) or a byte-identical copy (`out`). Raises BundleEditError (one line) and leaves `src`
    unchanged when the edit cannot be made.
    """
    src = Path(src)
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise BundleEditError(f"trim start {start_ns} is not before its end {end_ns}: nothing would be kept")
    if out is None:
        try:
            finish_interrupted_edit(src)
        except OSError as e:
            raise BundleEditError(
                f"{src}: cannot clean up after an earlier interrupted edit ({e.strerror or e}); nothing was changed"
            ) from e
        target = src
    else:
        target = Path(out)
        if target.exists() or target.is_symlink():
            raise BundleEditError(f"{target} already exists: choose a new path for the edited bundle")
    _check_source(src)
    with BundleReader(src) as reader:
        plan = _plan(reader, start_ns, end_ns, marker_notes)
        if out is None and not plan.trim and not plan.changed_notes:
            return src
        stage = stage_path(target)
        try:
            if stage.exists():
                shutil.rmtree(stage)
            stage.mkdir(parents=True)
            if plan.trim:
                _write_trimmed(reader, src, stage, plan)
            else:
                _write_notes_only(reader.manifest, src, stage, plan, link=out is None)
            _check_result(stage, src)
        except BaseException as e:
            shutil.rmtree(stage, ignore_errors=True)
            if isinstance(e, OSError | av.FFmpegError | sf.LibsndfileError):
                raise _failed(src, e) from e
            raise
    if out is None:
        _swap(stage, src)
    else:
        try:
            os.replace(stage, target)
            fsync_dir(target.parent)
        except OSError as e:
            shutil.rmtree(stage, ignore_errors=True)
            raise _failed(src, e) from e
    return target


def trim_span(src: Path, start_ns: int | None = None, end_ns: int | None = None) -> tuple[int, int]:
    """The span a trim of `src` to [start_ns, end_ns] would keep (start snapped to a keyframe).

    For a preview; raises BundleEditError as `edit_bundle` would for a span that keeps nothing.
    """
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise BundleEditError(f"trim start {start_ns} is not before its end {end_ns}: nothing would be kept")
    with BundleReader(src) as reader:
        plan = _plan(reader, start_ns, end_ns, None)
    return plan.start_ns, plan.end_ns


def finish_interrupted_edit(bundle: Path) -> None:
    """Clean up after an in-place edit of `bundle` that crashed; a no-op when there is nothing to do.

    After a crash between the two renames `bundle` is missing: the new bundle is put in place when it
    was complete (its manifest written), else the old one is put back. Leftover staging and backup
    directories are then deleted. Run by `edit_bundle` before every in-place edit.
    """
    bundle = Path(bundle)
    stage, backup = stage_path(bundle), backup_path(bundle)
    if not bundle.exists() and backup.is_dir():
        if (stage / fmt.MANIFEST).is_file():
            os.replace(stage, bundle)
            log.warning("%s: finished an interrupted edit (the edited bundle is in place)", bundle)
        else:
            os.replace(backup, bundle)
            log.warning("%s: undid an interrupted edit (the original bundle is back)", bundle)
        fsync_dir(bundle.parent)
    for leftover in (backup, stage):
        if leftover.exists() and bundle.is_dir():
            shutil.rmtree(leftover)


# --- checks and planning ----------------------------------------------------------------------------
def _check_source(src: Path) -> None:
    if not (src / fmt.MANIFEST).is_file():
        raise BundleEditError(f"{src}: not a sealed bundle directory (no {fmt.MANIFEST})")
    report = validate_bundle(str(src))
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        f = errors[0]
        where = f" {f.path}" if f.path else ""
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        message = " ".join(f.message.split())
        raise BundleEditError(
            f"{src}: not a valid sealed bundle ({f.code}{where}: {message}){more}; nothing was changed"
        )
    if any(f.code == "format-newer" for f in report.findings):
        raise BundleEditError(
            f"{src}: format {_format_version(src)} was written by a newer recorder: "
            "upgrade trajectory-recorder to edit it"
        )


def _format_version(src: Path) -> str:
    try:
        return str(json.loads((src / fmt.MANIFEST).read_text(encoding="utf-8")).get("format_version"))
    except (OSError, ValueError):
        return "?"


def _check_result(stage: Path, src: Path) -> None:
    """The new bundle must validate before it replaces anything."""
    report = validate_bundle(str(stage))
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        f = errors[0]
        raise BundleEditError(
            f"editing {src.name} produced an invalid bundle ({f.code} {f.path}: {' '.join(f.message.split())}); "
            "nothing was changed (please report)"
        )


def _plan(reader: BundleReader, start_ns: int | None, end_ns: int | None, marker_notes: dict[int, str] | None) -> _Plan:
    m = reader.manifest
    old_start, old_end = int(m["clock"]["start_ns"]), int(m["clock"]["end_ns"])
    start = old_start if start_ns is None else max(int(start_ns), old_start)
    end = old_end if end_ns is None else min(int(end_ns), old_end)
    if start >= end:
        raise BundleEditError(
            f"the trim keeps nothing: {_s(start - old_start)} to {_s(end - old_start)} of a "
            f"{_s(old_end - old_start)} session"
        )
    first, stop = 0, 0
    if reader.has_screen:
        frames = reader.frames()
        t = [int(x) for x in frames.column("t_ns").to_pylist()]
        key = [bool(x) for x in frames.column("keyframe").to_pylist()]
        if start > old_start:
            first = next((i for i, (ti, k) in enumerate(zip(t, key, strict=True)) if ti >= start and k), len(t))
            if first == len(t) or t[first] > end:
                raise BundleEditError(
                    f"no keyframe between {_s(start - old_start)} and {_s(end - old_start)}: the video cannot start "
                    "there; choose an earlier start or a later end"
                )
            start = t[first]
        stop = first
        while stop < len(t) and t[stop] <= end:
            stop += 1
        if stop == first:
            raise BundleEditError(
                f"no video frame between {_s(start - old_start)} and {_s(end - old_start)}: choose a later end"
            )
    markers = [mk.to_json() for mk in reader.markers()]
    changed: set[int] = set()
    for index, text in (marker_notes or {}).items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(markers):
            raise BundleEditError(
                f"unknown marker index {index!r}: the bundle has {len(markers)} markers"
                + (f" (0..{len(markers) - 1})" if markers else "")
            )
        mk = markers[index]
        if mk["kind"] not in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE):
            raise BundleEditError(f"marker {index} is a {mk['kind']} marker, which has no text to edit")
        if not isinstance(text, str) or len(text) > MAX_NOTE_CHARS:
            raise BundleEditError(f"marker {index}: the text must be a string of at most {MAX_NOTE_CHARS} characters")
        if mk["text"] != text:
            markers[index] = {**mk, "text": text}
            changed.add(index)
    trim = start > old_start or end < old_end
    if trim:
        changed = {i for i in changed if start <= int(markers[i]["t_ns"]) <= end}
    return _Plan(
        start_ns=start,
        end_ns=end,
        trim=trim,
        requested_start_ns=start_ns,
        requested_end_ns=end_ns,
        first_frame=first,
        stop_frame=stop,
        markers=markers,
        changed_notes=frozenset(changed),
    )


def _failed(src: Path, e: BaseException) -> BundleEditError:
    reason = (e.strerror if isinstance(e, OSError) else None) or str(e) or type(e).__name__
    hint = ": free some disk space and retry" if isinstance(e, OSError) and e.errno == errno.ENOSPC else ""
    return BundleEditError(f"editing {src.name} failed ({' '.join(reason.split())}); the bundle is unchanged{hint}")


# --- notes only ---------------------------------------------------------------------------------------
def _write_markers(path: Path, markers: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:  # the sealer's serialisation, line for line
        for mk in markers:
            f.write(json.dumps(fmt.marker_from_json(mk).to_json(), ensure_ascii=False) + "\n")


def _write_notes_only(manifest: dict[str, Any], src: Path, stage: Path, plan: _Plan, *, link: bool) -> None:
    """Every file as it is (hard links when the old bundle is about to go), markers.jsonl rewritten."""
    for entry in manifest["files"]:
        rel = entry["path"]
        if rel == fmt.MARKERS:
            continue
        dst = stage / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if link:
            try:
                os.link(src / rel, dst)
                continue
            except OSError:
                pass  # another file system, or links refused: copy
        shutil.copyfile(src / rel, dst)
    _write_markers(stage / fmt.MARKERS, plan.markers)
    m = copy.deepcopy(manifest)
    if plan.changed_notes:
        m.setdefault("edits", []).append(
            {"kind": "marker_notes", "at_utc": _now_utc(), "count": len(plan.changed_notes)}
        )
    m["files"] = checksum_files(stage)
    write_manifest_last(stage, m)


# --- trim -------------------------------------------------------------------------------------------
def _anchor_list(anchors: list[dict[str, Any]]) -> list[fmt.Anchor]:
    return [fmt.Anchor(int(a["mono_ns"]), int(a["utc_ns"]), fmt.AnchorEvent(a["event"])) for a in anchors]


def _utc_at(anchors: list[fmt.Anchor], t_ns: int) -> int:
    best = anchors[0]
    for a in anchors:
        if a.mono_ns <= t_ns:
            best = a
    return best.utc_ns + t_ns - best.mono_ns


def _trim_anchors(anchors: list[fmt.Anchor], old_end: int, start: int, end: int) -> tuple[list[fmt.Anchor], bool]:
    """New anchors for [start, end], and whether the session is paused at `start`."""
    paused_at_start = any(p0 < start < p1 for p0, p1 in paused_spans(anchors, old_end))
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


def _trim_events(rows: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
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


def _trim_windows(rows: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    current = None
    for row in rows:
        if int(row["t_ns"]) <= start:
            current = row
    kept = [r for r in rows if start <= int(r["t_ns"]) <= end]
    if current is not None and int(current["t_ns"]) < start:
        kept.insert(0, {**current, "t_ns": start})  # the window in focus at the new start stays known
    return kept


def _trim_markers(markers: list[dict[str, Any]], start: int, end: int, paused_at_start: bool) -> list[dict[str, Any]]:
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


def _trim_environment(env: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    changes = env.get("display_changes")
    if not changes:
        return env
    env = dict(env)
    for c in changes:
        if int(c["t_ns"]) <= start:
            env["displays"] = c["displays"]  # the layout in effect at the new start
    kept = [c for c in changes if start < int(c["t_ns"]) <= end]
    if kept:
        env["display_changes"] = kept
    else:
        env.pop("display_changes")
    return env


def _copy_video(src: Path, dst: Path, first: int, t_ns: list[int], last_duration_ns: int) -> list[tuple[int, bool]]:
    """Copy the packets of frames [first, first + len(t_ns)) of `src` into `dst`, never re-encoding.

    `t_ns` are the kept frames' grab times; pts are recomputed from them in ms as the recorder does,
    so the first has pts 0. Returns the (pts, keyframe) pairs the MP4 muxer stored, read back.
    """
    ms = Fraction(1, 1000)
    pts_ms: list[int] = []
    for t in t_ns:
        p = (t - t_ns[0]) // _MS
        pts_ms.append(p if not pts_ms or p > pts_ms[-1] else pts_ms[-1] + 1)
    dst.parent.mkdir(parents=True, exist_ok=True)
    copied = 0
    with av.open(str(src), "r") as inp:
        in_stream = inp.streams.video[0]
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            out_stream = out.add_stream_from_template(in_stream)
            index = -1
            for packet in inp.demux(in_stream):
                if packet.dts is None or packet.size == 0:
                    continue
                index += 1
                if index < first:
                    continue
                i = index - first
                if i >= len(t_ns):
                    break
                if i == 0 and not packet.is_keyframe:
                    raise BundleEditError(f"{src}: frame {index} is not a keyframe in the video; cannot start there")
                packet.stream = out_stream
                packet.time_base = ms
                packet.pts = packet.dts = pts_ms[i]
                packet.duration = pts_ms[i + 1] - pts_ms[i] if i + 1 < len(t_ns) else max(1, last_duration_ns // _MS)
                out.mux(packet)
                copied += 1
    if copied != len(t_ns):
        raise BundleEditError(f"{src}: the video holds {copied} of the {len(t_ns)} frames to keep")
    with av.open(str(dst), "r") as check:
        vs = check.streams.video[0]
        got = [(int(p.pts), bool(p.is_keyframe)) for p in check.demux(vs) if p.pts is not None and p.size]
    if len(got) != copied:
        raise OSError(errno.EIO, f"the remuxed video holds {len(got)} of {copied} frames; is the disk full?")
    return got


def _video_time_base(path: Path) -> list[int]:
    with av.open(str(path), "r") as c:
        tb = c.streams.video[0].time_base
        assert tb is not None
        return [tb.numerator, tb.denominator]


def _copy_audio(src: Path, dst: Path, s0: int, s1: int, rate: int, channels: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    want = s1 - s0
    done = 0
    with (
        sf.SoundFile(str(src)) as inp,
        sf.SoundFile(str(dst), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out,
    ):
        inp.seek(s0)
        while done < want:
            block = inp.read(min(AUDIO_COPY_BLOCK, want - done), dtype="int16", always_2d=True)
            if not len(block):
                break
            out.write(block)
            done += len(block)
    with sf.SoundFile(str(dst)) as check:
        if done != want or check.frames != want:
            raise OSError(errno.EIO, f"{check.frames} of {want} audio samples reached {dst}")


def _trim_audio_blocks(
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


def _write_trimmed(reader: BundleReader, src: Path, stage: Path, plan: _Plan) -> None:
    m = copy.deepcopy(reader.manifest)
    start, end = plan.start_ns, plan.end_ns
    old_end = int(m["clock"]["end_ns"])
    anchors, paused_at_start = _trim_anchors(_anchor_list(m["clock"]["anchors"]), old_end, start, end)
    paused = paused_spans(anchors, end)
    live = read_live_log(src / fmt.RAW_LOG)
    recs = live.records

    # screen
    frame_rows: list[dict[str, Any]] = []
    if reader.has_screen:
        table = reader.frames()
        t_all = [int(x) for x in table.column("t_ns").to_pylist()]
        disp = [int(x) for x in table.column("display_id").to_pylist()]
        t_kept = t_all[plan.first_frame : plan.stop_frame]
        nxt = t_all[plan.stop_frame] if plan.stop_frame < len(t_all) else end
        got = _copy_video(src / fmt.VIDEO, stage / fmt.VIDEO, plan.first_frame, t_kept, min(nxt, end) - t_kept[-1])
        frame_rows = [
            {"frame_index": i, "pts": p, "t_ns": t, "display_id": disp[plan.first_frame + i], "keyframe": k}
            for i, ((p, k), t) in enumerate(zip(got, t_kept, strict=True))
        ]
        write_table(stage / fmt.FRAMES, fmt.records_to_table(frame_rows, fmt.FRAMES_SCHEMA))
        screen = m["streams"]["screen"]
        screen.update(time_base=_video_time_base(stage / fmt.VIDEO), t0_ns=t_kept[0], frames=len(frame_rows))

    # input, context, markers
    events = _trim_events(reader.events().to_pylist(), start, end)
    write_table(stage / fmt.EVENTS, fmt.records_to_table(events, fmt.EVENTS_SCHEMA))
    windows = _trim_windows(reader.windows().to_pylist(), start, end)
    write_table(stage / fmt.WINDOWS, fmt.records_to_table(windows, fmt.WINDOWS_SCHEMA))
    markers = _trim_markers(plan.markers, start, end, paused_at_start)
    _write_markers(stage / fmt.MARKERS, markers)

    # audio
    audio = m["streams"]["audio"]
    audio_blocks: list[dict[str, Any]] = []
    gap_ns = gaps = 0
    if audio["present"]:
        rate = Fraction(audio.get("clock_rate_hz") or audio["sample_rate"])
        first_t, n = int(audio["first_sample_t_ns"]), int(audio["samples"])
        s0 = max(0, math.ceil(Fraction(start - first_t) * rate / _NS))
        s1 = min(n, math.floor(Fraction(end - first_t) * rate / _NS) + 1)
        if s1 > s0:
            _copy_audio(src / fmt.AUDIO, stage / fmt.AUDIO, s0, s1, int(audio["sample_rate"]), int(audio["channels"]))
            ns_per_sample = _NS / rate
            audio.update(first_sample_t_ns=first_t + round(s0 * ns_per_sample), samples=s1 - s0)
            audio_blocks = _trim_audio_blocks(recs.get(Topic.AUDIO, []), s0, s1, start, end, ns_per_sample)
            gap_ns, gaps = audio_gap_stats(audio_blocks, int(audio["sample_rate"]), s1 - s0, paused)
        else:
            m["streams"]["audio"] = {"present": False, "reason": "the trim kept none of the voiceover"}

    # the log: only what was kept, as the tables describe it
    dropped = [d for d in recs.get(Topic.DROPPED, []) if start <= int(d["t_ns"]) <= end]
    layouts = [c for c in recs.get(Topic.LAYOUT, []) if start <= int(c["t_ns"]) <= end]
    entries: list[tuple[int, int, str, dict[str, Any]]] = []
    for order, (topic, items) in enumerate(
        (
            (Topic.ANCHOR, [{"mono_ns": a.mono_ns, "utc_ns": a.utc_ns, "event": str(a.event)} for a in anchors]),
            (Topic.LAYOUT, layouts),
            (Topic.WINDOW, windows),
            (Topic.MARKER, markers),
            (Topic.FRAME, [{k: v for k, v in r.items() if k != "pts"} for r in frame_rows]),
            (Topic.EVENT, events),
            (Topic.AUDIO, audio_blocks),
            (Topic.DROPPED, dropped),
        )
    ):
        for item in items:
            t = int(item["mono_ns"] if topic == Topic.ANCHOR else item["t_ns"])
            entries.append((t, order, topic, item))
    entries.sort(key=lambda e: (e[0], e[1]))
    live_log = LiveLog(stage / fmt.RAW_LOG)
    try:
        for t, _order, topic, item in entries:
            live_log.write(topic, t, item)
    finally:
        live_log.close()

    # the manifest
    m["clock"].update(
        start_ns=start,
        end_ns=end,
        anchors=[{"mono_ns": a.mono_ns, "utc_ns": a.utc_ns, "event": str(a.event)} for a in anchors],
    )
    m["environment"] = _trim_environment(m["environment"], start, end)
    m["streams"]["input"]["events"] = len(events)
    m["streams"]["context"]["records"] = len(windows)
    m["streams"]["markers"]["count"] = len(markers)
    m["stats"].update(
        duration_ns=end - start,
        paused_ns=sum(b - a for a, b in paused),
        frames=len(frame_rows),
        dropped_frames=sum(int(d["count"]) for d in dropped),
        max_frame_gap_ns=max_frame_gap([int(r["t_ns"]) for r in frame_rows], paused),
        audio_gaps_ns=gap_ns,
        audio_gaps=gaps,
        events=len(events),
    )
    at = _now_utc()
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
    m["files"] = checksum_files(stage)
    write_manifest_last(stage, m)


# --- the swap ---------------------------------------------------------------------------------------
def _swap(stage: Path, bundle: Path) -> None:
    """Replace `bundle` by the complete bundle in `stage`: old aside, new in, old deleted."""
    backup = backup_path(bundle)
    try:
        os.replace(bundle, backup)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError):
            raise _failed(bundle, e) from e
        raise
    try:
        os.replace(stage, bundle)
    except BaseException as e:
        try:
            os.replace(backup, bundle)
        except OSError as undo:
            raise BundleEditError(
                f"editing {bundle.name} failed ({undo.strerror or undo}) while swapping bundles: the original is "
                f"intact in {backup}; finish_interrupted_edit({str(bundle)!r}) puts a whole bundle back"
            ) from e
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError):
            raise _failed(bundle, e) from e
        raise
    try:
        fsync_dir(bundle.parent)
        shutil.rmtree(backup)
    except OSError as e:
        log.warning(
            "%s: edited, but the old copy %s could not be removed (%s); the next edit removes it", bundle, backup, e
        )
