"""Seal a live session directory into a bundle: derive the tables, remux the video, finish the audio,
checksum every file, write the manifest last, and move the whole bundle into place atomically.

`seal` is also the repair path: with a crashed live directory it keeps everything that survived and
marks the bundle `recovered`, with notes saying what was cut. The media steps live in `media`, the
durable writing (tables, checksums, the manifest last) in `commit`.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import av
import pyarrow as pa
import soundfile as sf

from recorder.errors import SealError
from recorder.privacy.identity import scrub
from recorder.sealing.commit import anchors_json, commit, fsync_dir, session_stats, write_markers, write_table
from recorder.sealing.intake import check_live_files, load_session, sound_records
from recorder.sealing.media import finish_audio, remux_video
from recorder.sealing.privacy import deny_gaps, privacy_section, seal_elements
from recorder.sealing.rawlog import write_records
from recorder.sealing.secrets import redact_typed_secrets
from recorder.writers.log import read_live_log
from trajrec import __version__
from trajrec import format as fmt
from trajrec.manifest import AudioStreamJSON, EnvironmentJSON, Manifest, RecorderJSON, RegionJSON, ScreenStreamJSON
from trajrec.secrets import compiled
from trajrec.timeline import Span, pause_spans
from trajrec.topics import Topic

# What damaged input makes the decoders, Arrow and the arithmetic raise: sealing turns it into a SealError.
DAMAGE = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    ArithmeticError,
    RecursionError,
    MemoryError,
    EOFError,
    av.FFmpegError,
    pa.ArrowException,
    sf.SoundFileError,
)
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

# Screen settings a session may record, copied into `streams.screen` as they are.
SCREEN_SETTINGS = ("fps_target", "crf", "preset", "display_ids", "cursor_drawn")


@dataclass
class _Sealing:
    live: Path
    stage: Path
    session: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    recovered: bool = False

    def cut(self, note: str) -> None:
        self.notes.append(note)
        self.recovered = True


@dataclass
class _Tables:
    """The records sealed into the bundle's tables and markers.jsonl, in the order they were written."""

    frames: list[fmt.Frame]
    events: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    markers: list[dict[str, Any]]


def _environment(env: EnvironmentJSON, layouts: list[dict[str, Any]]) -> EnvironmentJSON:
    """The environment at start, plus every display layout change that happened while recording."""
    if not layouts:
        return env
    changes = sorted(layouts, key=lambda c: int(c["t_ns"]))
    return {**env, "display_changes": [{"t_ns": int(c["t_ns"]), "displays": c["displays"]} for c in changes]}


def _screen(s: _Sealing, frame_records: list[dict[str, Any]]) -> tuple[list[fmt.Frame], ScreenStreamJSON]:
    """screen/video.mp4 and screen/frames.parquet, and the manifest's `streams.screen`."""
    setup = s.session.get("screen")
    if not setup:
        return [], {"present": False, "reason": "the screen was not recorded"}
    frames, time_base = remux_video(s.live / fmt.LIVE_VIDEO, s.stage / fmt.VIDEO, frame_records, s.cut)
    if not frames:
        return [], {"present": False, "reason": "no video frame survived"}
    size = [int(setup["width"]), int(setup["height"])]
    region: RegionJSON = setup.get("region") or RegionJSON(origin=[0, 0], size_px=size)
    meta: ScreenStreamJSON = {
        "present": True,
        "path": fmt.VIDEO,
        "frames_path": fmt.FRAMES,
        "codec": "h264",
        "width": int(setup["width"]),
        "height": int(setup["height"]),
        "pix_fmt": cast(Literal["yuv420p", "yuv444p"], str(setup["pix_fmt"])),
        "time_base": list(time_base),
        "t0_ns": frames[0].t_ns,
        "frames": len(frames),
        "region": region,
    }
    meta.update(cast(ScreenStreamJSON, {key: setup[key] for key in SCREEN_SETTINGS if key in setup}))
    write_table(s.stage / fmt.FRAMES, fmt.records_to_table(frames, fmt.FRAMES_SCHEMA))
    return frames, meta


def _audio(s: _Sealing, blocks: list[dict[str, Any]], pauses: list[Span]) -> tuple[AudioStreamJSON, int, int]:
    """audio/voiceover.flac, the manifest's `streams.audio`, and the audio lost (ns, count)."""
    setup = s.session.get("audio")
    if not setup:
        return {"present": False, "reason": str(s.session.get("audio_absent_reason") or "no audio")}, 0, 0
    return finish_audio(s.live / fmt.LIVE_AUDIO, s.stage / fmt.AUDIO, setup, blocks, pauses, s.cut, s.notes.append)


def _write_records(s: _Sealing, recs: dict[str, list[dict[str, Any]]], frames: list[fmt.Frame]) -> _Tables:
    """input/events.parquet, context/windows.parquet, markers.jsonl and raw/session.mcap (the live log)."""
    # Sources (mouse, keyboard) stamp on their own threads: order by time, then number in that order.
    events = sorted(recs.get(Topic.EVENT, []), key=lambda e: (int(e["t_ns"]), int(e["seq"])))
    for i, e in enumerate(events):
        e["seq"] = i
    write_table(
        s.stage / fmt.EVENTS,
        fmt.records_to_table(events, fmt.EVENTS_SCHEMA) if events else fmt.EVENTS_SCHEMA.empty_table(),
    )
    windows = sorted(recs.get(Topic.WINDOW, []), key=lambda w: int(w["t_ns"]))
    write_table(
        s.stage / fmt.WINDOWS,
        fmt.records_to_table(windows, fmt.WINDOWS_SCHEMA) if windows else fmt.WINDOWS_SCHEMA.empty_table(),
    )
    markers = sorted(recs.get(Topic.MARKER, []), key=lambda m: int(m["t_ns"]))
    write_markers(s.stage / fmt.MARKERS, markers)
    (s.stage / fmt.RAW_LOG).parent.mkdir(parents=True, exist_ok=True)
    if any(p["kind"] == fmt.PrivacyKind.TYPED_SECRET for p in recs.get(Topic.PRIVACY, [])):
        write_records(s.stage / fmt.RAW_LOG, recs)  # the log as the tables hold it: typed secrets redacted
    else:
        shutil.copyfile(s.live / fmt.LIVE_LOG, s.stage / fmt.RAW_LOG)
    return _Tables(frames, events, windows, markers)


def _redact_secrets(s: _Sealing, recs: dict[str, list[dict[str, Any]]]) -> None:
    """Typed secrets redacted in the events (before any file is written), a typed-secret span each."""
    patterns = []
    for p in s.session["task"].get("secret_patterns") or []:
        try:
            compiled([p])
            patterns.append(p)
        except ValueError as e:
            s.notes.append(f"{e}: it was not applied")
    events = recs.setdefault(Topic.EVENT, [])
    events.sort(key=lambda e: (int(e["t_ns"]), int(e["seq"])))
    spans = redact_typed_secrets(events, recs.get(Topic.WINDOW, []), recs.get(Topic.ELEMENT, []), patterns)
    recs.setdefault(Topic.PRIVACY, []).extend(dict(span) for span in spans)


def _end_ns(start_ns: int, tables: _Tables, audio: AudioStreamJSON) -> int:
    """Where a session without a stop anchor ends: the last thing that survived the crash."""
    last = [
        start_ns,
        *(f.t_ns for f in tables.frames),
        *(int(e["t_ns"]) for e in tables.events),
        *(int(w["t_ns"]) for w in tables.windows),
        *(int(m["t_ns"]) for m in tables.markers),
    ]
    if audio["present"]:
        last.append(audio["first_sample_t_ns"] + audio["samples"] * 1_000_000_000 // audio["sample_rate"])
    return max(last)


def seal(live: Path, out_dir: Path, *, recover: bool = False) -> Path:
    """Seal `live` into `out_dir/<session_id>/` and return that path.

    The live directory is only read; if sealing fails (a full disk), the partial bundle is removed and
    the error says how to retry.
    """
    sid = str(load_session(live)["session_id"])
    try:
        return _seal(live, out_dir, recover=recover)
    except BaseException as e:
        shutil.rmtree(out_dir / f".{sid}.partial", ignore_errors=True)
        if isinstance(e, OSError) and (e.errno in NO_ROOM or not isinstance(e, DAMAGE)):
            raise SealError(
                f"sealing {sid} failed: {e.strerror or e}; the recording is intact in {live}: "
                f"free some disk space, then run `trajrec repair {live}`"
            ) from e
        if isinstance(e, DAMAGE):
            raise SealError(
                f"{live}: damaged beyond repair ({type(e).__name__}: {str(e)[:200]}); nothing was sealed "
                "and the live directory is unchanged"
            ) from e
        raise


def _seal(live: Path, out_dir: Path, *, recover: bool = False) -> Path:
    """Seal `live` into `out_dir/<session_id>/` and return that path.

    A live directory without a clean stop is refused unless `recover` is set, in which case whatever
    survived is sealed with status `recovered`.
    """
    session = load_session(live)
    check_live_files(live)
    sid = str(session["session_id"])
    final = out_dir / sid
    if final.exists():
        raise SealError(f"{final} already exists: this session was sealed before")
    log = read_live_log(live / fmt.LIVE_LOG)
    recs, damaged = sound_records(log)
    anchors = sorted(
        (
            fmt.Anchor(int(a["mono_ns"]), int(a["utc_ns"]), fmt.AnchorEvent(a["event"]))
            for a in recs.get(Topic.ANCHOR, [])
        ),
        key=lambda a: a.mono_ns,
    )
    stopped = bool(anchors) and anchors[-1].event == fmt.AnchorEvent.STOP
    if not anchors or anchors[0].event != fmt.AnchorEvent.START:
        raise SealError(f"{live}: the live log has no start anchor; nothing can be sealed")
    if not (stopped and not log.truncated) and not recover:
        raise SealError(f"{live}: the session did not stop cleanly; run `trajrec repair {live}` to recover it")

    out_dir.mkdir(parents=True, exist_ok=True)
    stage = out_dir / f".{sid}.partial"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    s = _Sealing(live=live, stage=stage, session=session)
    if log.truncated:
        s.cut(f"live log torn at the end ({log.error})")
    if not stopped:
        s.cut("no stop anchor: the recorder did not stop cleanly")
    if damaged:
        s.cut(
            f"{sum(damaged.values())} damaged records left out of the live log ("
            + ", ".join(f"{topic}: {n}" for topic, n in sorted(damaged.items()))
            + ")"
        )

    _redact_secrets(s, recs)
    frames, screen_meta = _screen(s, recs.get(Topic.FRAME, []))
    audio_meta, audio_gap_ns, audio_gaps = _audio(
        s, recs.get(Topic.AUDIO, []), pause_spans(anchors, anchors[-1].mono_ns)
    )
    tables = _write_records(s, recs, frames)

    # the span: start anchor to stop anchor, or to the last thing that survived a crash
    start_ns = anchors[0].mono_ns
    end_ns = anchors[-1].mono_ns if stopped else _end_ns(start_ns, tables, audio_meta)
    pauses = pause_spans(anchors, end_ns)
    manifest: Manifest = {
        "format": fmt.FORMAT_NAME,
        "format_version": fmt.FORMAT_VERSION,
        "session_id": sid,
        "status": fmt.Status.RECOVERED.value if s.recovered else fmt.Status.COMPLETE.value,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "clock": {
            "unit": "ns",
            "source": fmt.CLOCK_SOURCE,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "anchors": anchors_json(anchors),
        },
        "recorder": session.get("recorder") or RecorderJSON(name="trajectory-recorder", version=__version__),
        "task": session["task"],
        "environment": _environment(session["environment"], recs.get(Topic.LAYOUT, [])),
        "streams": {
            "screen": screen_meta,
            "input": {"path": fmt.EVENTS, "events": len(tables.events)},
            "context": {"path": fmt.WINDOWS, "records": len(tables.windows)},
            "markers": {"path": fmt.MARKERS, "count": len(tables.markers)},
            "audio": audio_meta,
            "elements": seal_elements(stage, recs.get(Topic.ELEMENT, []), recs.get(Topic.GUARDS, [])),
        },
        "stats": session_stats(
            Span(start_ns, end_ns),
            pauses,
            [f.t_ns for f in frames],
            recs.get(Topic.DROPPED, []),
            (audio_gap_ns, audio_gaps),
            len(tables.events),
            deny_gaps(recs.get(Topic.PRIVACY, [])),
        ),
        "files": [],
    }
    manifest["privacy"] = privacy_section(
        recs.get(Topic.GUARDS, []), recs.get(Topic.PRIVACY, []), tables.events, Span(start_ns, end_ns)
    )
    if s.notes:
        notes = [scrub(n) for n in s.notes]  # they may name the recordings folder: no home, user or host
        manifest["notes"] = [n if len(n) <= 1000 else n[:997] + "..." for n in notes][:100]

    # checksums, then the manifest last, then one rename publishes the bundle
    commit(stage, manifest)
    os.replace(stage, final)
    fsync_dir(out_dir)
    return final
