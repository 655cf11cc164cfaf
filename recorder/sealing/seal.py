"""Seal a live session directory into a bundle: derive the tables, remux the video, finish the audio,
checksum every file, write the manifest last, and move the whole bundle into place atomically.

`seal` is also the repair path: with a crashed live directory it keeps everything that survived and
marks the bundle `recovered`, with notes saying what was cut.
"""

from __future__ import annotations

import datetime as _dt
import errno
import itertools
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq
import soundfile as sf

from recorder.errors import SealError
from recorder.writers.audio import GAP_THRESHOLD_NS
from recorder.writers.log import read_live_log
from trajrec import __version__
from trajrec import format as fmt
from trajrec.hashing import sha256_stream
from trajrec.manifest import dump_manifest
from trajrec.topics import Topic

AUDIO_READ_BLOCK = 1 << 16
AUDIO_FIT_MIN_NS = 5_000_000_000  # shorter voiceovers keep the nominal sample rate
AUDIO_RATE_MAX_DEVIATION = 0.005  # a fit further off than 0.5 % is not a clock drift: ignore it


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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


_fsync_dir = fsync_dir  # the old private names, kept working
_fsync_file = fsync_file


def _load_session(live: Path) -> dict[str, Any]:
    path = live / fmt.LIVE_SESSION
    try:
        session = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SealError(f"{live}: no {fmt.LIVE_SESSION}: not a live session directory") from e
    except (OSError, ValueError) as e:
        raise SealError(f"{path}: unreadable ({e}); the session cannot be sealed") from e
    if not isinstance(session, dict) or "session_id" not in session:
        raise SealError(f"{path}: not a session description (no session_id)")
    fmt.check_format_version(session.get("format_version"))
    return session


def _remux_video(s: _Sealing, frame_records: list[dict[str, Any]]) -> tuple[list[fmt.Frame], dict[str, Any]]:
    """Copy the live MKV's packets into screen/video.mp4 and pair each with its logged grab time."""
    src = s.live / fmt.LIVE_VIDEO
    dst = s.stage / fmt.VIDEO
    dst.parent.mkdir(parents=True, exist_ok=True)
    frame_records = sorted(frame_records, key=lambda r: int(r["frame_index"]))
    copied = 0
    time_base = (1, 1000)
    try:
        inp = av.open(str(src), "r")
    except (av.FFmpegError, OSError) as e:
        s.cut(f"live video unreadable ({e}); no frames kept")
        return [], {"time_base": time_base}
    try:
        in_stream = inp.streams.video[0]
        limit = len(frame_records)
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            out_stream = out.add_stream_from_template(in_stream)
            try:
                for packet in inp.demux(in_stream):
                    if packet.dts is None or packet.size == 0:
                        continue
                    if copied >= limit:
                        break  # a frame the log never recorded (crash between encode and log)
                    packet.stream = out_stream
                    out.mux(packet)
                    copied += 1
            except av.FFmpegError as e:
                s.cut(f"live video torn after {copied} frames ({e})")
    finally:
        inp.close()
    # Read back the pts the MP4 muxer actually stored (it picks its own time base). A file that does not
    # read back was not written whole (a full disk can surface only here).
    try:
        check = av.open(str(dst), "r")
    except av.FFmpegError as e:
        raise OSError(errno.EIO, f"the remuxed video does not read back ({e}); is the disk full?") from e
    with check:
        vs = check.streams.video[0]
        tb = vs.time_base
        assert tb is not None
        time_base = (tb.numerator, tb.denominator)
        pts = [(p.pts, bool(p.is_keyframe)) for p in check.demux(vs) if p.pts is not None and p.size]
    if len(pts) != copied:
        raise SealError(f"{dst}: remux wrote {len(pts)} of {copied} frames; disk full or failing?")
    if len(pts) < len(frame_records):
        s.cut(f"{len(frame_records) - len(pts)} logged frames missing from the live video (crash); dropped")
    frames = [
        fmt.Frame(
            frame_index=i,
            pts=p,
            t_ns=int(rec["t_ns"]),
            display_id=int(rec.get("display_id", -1)),
            keyframe=key,
        )
        for i, ((p, key), rec) in enumerate(zip(pts, frame_records, strict=False))
    ]
    if not frames:
        dst.unlink()
    return frames, {"time_base": time_base}


def _finish_audio(
    s: _Sealing, blocks: list[dict[str, Any]], paused: list[tuple[int, int]]
) -> tuple[dict[str, Any], int, int]:
    """Re-encode the live FLAC into audio/voiceover.flac (reading up to a torn tail)."""
    setup = s.session.get("audio")
    assert setup is not None
    rate, channels = int(setup["sample_rate"]), int(setup["channels"])
    logged = max((int(b["first_sample"]) + int(b["samples"]) for b in blocks), default=0)
    if not blocks:
        return {"present": False, "reason": "no audio was captured"}, 0, 0
    dst = s.stage / fmt.AUDIO
    dst.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        src = sf.SoundFile(str(s.live / fmt.LIVE_AUDIO))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        s.cut(f"live audio unreadable ({e}); no audio kept")
        return {"present": False, "reason": "audio lost in a crash"}, 0, 0
    # Reading may stop at a torn tail (kept up to there); writing must never fail silently.
    try:
        with (
            src,
            sf.SoundFile(str(dst), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out,
        ):
            while written < logged:
                try:
                    block = src.read(min(AUDIO_READ_BLOCK, logged - written), dtype="int16", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as e:
                    s.cut(f"live audio torn after {written} samples ({e})")
                    break
                if not len(block):
                    break
                out.write(block)
                written += len(block)
        with sf.SoundFile(str(dst)) as check:
            if check.frames != written:
                raise OSError(errno.EIO, f"{check.frames} of {written} samples reached {dst}")
    except (sf.LibsndfileError, RuntimeError) as e:
        raise OSError(errno.EIO, f"writing {dst}: {e}") from e
    if written < logged:
        s.cut(f"{logged - written} logged audio samples missing from the live audio (crash); dropped")
    gap_ns, gaps = audio_gap_stats(blocks, rate, written, paused)
    first_t, clock_rate = fit_audio_clock(blocks, rate, written, s)
    meta = {
        "present": True,
        "path": fmt.AUDIO,
        "codec": "flac",
        "sample_rate": rate,
        "channels": channels,
        "first_sample_t_ns": first_t,
        "clock_rate_hz": clock_rate,
        "samples": written,
        "device": str(setup.get("device", "")),
    }
    return meta, gap_ns, gaps


def audio_gap_stats(
    blocks: list[dict[str, Any]], rate: int, written: int, paused: list[tuple[int, int]]
) -> tuple[int, int]:
    """(stats.audio_gaps_ns, stats.audio_gaps) from the logged audio blocks of a voiceover of `written` samples.

    Silence also covers pauses (so that sample index and time stay in step); only the part of a gap
    outside a pause, when longer than GAP_THRESHOLD_NS, is audio lost.
    """
    gap_ns = gaps = 0
    for blk in blocks:
        if int(blk.get("gap_samples", 0)) <= 0 or int(blk["first_sample"]) > written:
            continue
        g1 = int(blk["t_ns"])
        g0 = g1 - int(blk["gap_samples"]) * 1_000_000_000 // rate
        lost = (g1 - g0) - sum(max(0, min(g1, p1) - max(g0, p0)) for p0, p1 in paused)
        if lost > GAP_THRESHOLD_NS:
            gap_ns += lost
            gaps += 1
    return gap_ns, gaps


def fit_audio_clock(
    blocks: list[dict[str, Any]], rate: int, written: int, s: _Sealing | None = None
) -> tuple[int, float]:
    """Fit the session-clock time of every sample: (time of sample 0, samples per session-clock second).

    A sound card's clock runs a little fast or slow (280 ppm was measured here: 33 ms off after two
    minutes), and each block's stamp jitters by a few ms; a line through all blocks' (first sample,
    stamp) pairs corrects both. Sessions shorter than AUDIO_FIT_MIN_NS keep the nominal rate.
    """
    kept = [b for b in blocks if int(b["first_sample"]) < written]
    t0 = int(kept[0]["t_ns"])
    x = np.array([int(b["first_sample"]) for b in kept], dtype=np.float64)
    y = np.array([int(b["t_ns"]) - t0 for b in kept], dtype=np.float64)
    if len(kept) < 50 or y[-1] < AUDIO_FIT_MIN_NS:
        return t0, float(rate)
    slope, intercept = np.polyfit(x, y, 1)  # ns per sample, ns
    clock_rate = 1e9 / slope
    if abs(clock_rate / rate - 1) > AUDIO_RATE_MAX_DEVIATION:
        if s is not None:
            s.notes.append(f"audio clock fit gave {clock_rate:.1f} Hz for a {rate} Hz device; kept the nominal rate")
        return t0, float(rate)
    return t0 + round(intercept), round(float(clock_rate), 4)


def paused_spans(anchors: list[fmt.Anchor], end_ns: int) -> list[tuple[int, int]]:
    """The (pause, resume) spans of time-ordered anchors; a pause never resumed lasts until `end_ns`."""
    spans, start = [], None
    for a in anchors:
        if a.event == fmt.AnchorEvent.PAUSE and start is None:
            start = a.mono_ns
        elif a.event == fmt.AnchorEvent.RESUME and start is not None:
            spans.append((start, a.mono_ns))
            start = None
    if start is not None:
        spans.append((start, end_ns))
    return spans


_paused_spans = paused_spans


def max_frame_gap(t_ns: list[int], paused: list[tuple[int, int]]) -> int:
    """Longest interval between consecutive frames that does not overlap a pause."""
    best = 0
    for a, b in itertools.pairwise(t_ns):
        if any(p0 < b and a < p1 for p0, p1 in paused):
            continue
        best = max(best, b - a)
    return best


def _environment(env: dict[str, Any], layouts: list[dict[str, Any]]) -> dict[str, Any]:
    """The environment at start, plus every display layout change that happened while recording."""
    if not layouts:
        return env
    changes = sorted(layouts, key=lambda c: int(c["t_ns"]))
    return {**env, "display_changes": [{"t_ns": int(c["t_ns"]), "displays": c["displays"]} for c in changes]}


def write_table(path: Path, table: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path), compression="zstd")


_write_table = write_table


def checksum_files(stage: Path) -> list[dict[str, Any]]:
    """fsync every file under `stage` and return the manifest's `files` entries, sorted by path."""
    files = []
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        fsync_file(path)
        with open(path, "rb") as data:
            digest, size = sha256_stream(data)
        files.append({"path": path.relative_to(stage).as_posix(), "bytes": size, "sha256": digest})
    return files


def write_manifest_last(stage: Path, manifest: dict[str, Any]) -> None:
    """The commit point: fsync the directories, then write `manifest.json` (temporary name, fsync, rename)."""
    for d in sorted({p.parent for p in stage.rglob("*")}, reverse=True):
        fsync_dir(d)
    tmp = stage / f".{fmt.MANIFEST}.tmp"
    with open(tmp, "wb") as out:
        out.write(dump_manifest(manifest))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, stage / fmt.MANIFEST)
    fsync_dir(stage)


def seal(live: Path, out_dir: Path, *, recover: bool = False) -> Path:
    """Seal `live` into `out_dir/<session_id>/` and return that path.

    The live directory is only read; if sealing fails (a full disk), the partial bundle is removed and
    the error says how to retry.
    """
    sid = str(_load_session(live)["session_id"])
    try:
        return _seal(live, out_dir, recover=recover)
    except BaseException as e:
        shutil.rmtree(out_dir / f".{sid}.partial", ignore_errors=True)
        if isinstance(e, OSError):
            raise SealError(
                f"sealing {sid} failed: {e.strerror or e}; the recording is intact in {live}: "
                f"free some disk space, then run `trajrec repair {live}`"
            ) from e
        raise


def _seal(live: Path, out_dir: Path, *, recover: bool = False) -> Path:
    """Seal `live` into `out_dir/<session_id>/` and return that path.

    A live directory without a clean stop is refused unless `recover` is set, in which case whatever
    survived is sealed with status `recovered`.
    """
    session = _load_session(live)
    sid = str(session["session_id"])
    final = out_dir / sid
    if final.exists():
        raise SealError(f"{final} already exists: this session was sealed before")
    log = read_live_log(live / fmt.LIVE_LOG)
    recs = log.records
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

    # screen
    screen_setup = session.get("screen")
    frames: list[fmt.Frame] = []
    screen_meta: dict[str, Any]
    if screen_setup:
        frames, vinfo = _remux_video(s, recs.get(Topic.FRAME, []))
        if frames:
            screen_meta = {
                "present": True,
                "path": fmt.VIDEO,
                "frames_path": fmt.FRAMES,
                "codec": "h264",
                "width": int(screen_setup["width"]),
                "height": int(screen_setup["height"]),
                "pix_fmt": str(screen_setup["pix_fmt"]),
                "time_base": list(vinfo["time_base"]),
                "t0_ns": frames[0].t_ns,
                "frames": len(frames),
                "region": screen_setup.get("region")
                or {"origin": [0, 0], "size_px": [int(screen_setup["width"]), int(screen_setup["height"])]},
            }
            for key in ("fps_target", "crf", "preset", "display_ids", "cursor_drawn"):
                if key in screen_setup:
                    screen_meta[key] = screen_setup[key]
            write_table(stage / fmt.FRAMES, fmt.records_to_table(frames, fmt.FRAMES_SCHEMA))
        else:
            screen_meta = {"present": False, "reason": "no video frame survived"}
    else:
        screen_meta = {"present": False, "reason": "the screen was not recorded"}

    # audio
    audio_gap_ns = audio_gaps = 0
    audio_meta: dict[str, Any]
    if session.get("audio"):
        audio_meta, audio_gap_ns, audio_gaps = _finish_audio(
            s, recs.get(Topic.AUDIO, []), paused_spans(anchors, anchors[-1].mono_ns)
        )
    else:
        audio_meta = {"present": False, "reason": str(session.get("audio_absent_reason") or "no audio")}

    # input, context, markers
    # Sources (mouse, keyboard) stamp on their own threads: order by time, then number in that order.
    events = sorted(recs.get(Topic.EVENT, []), key=lambda e: (int(e["t_ns"]), int(e["seq"])))
    for i, e in enumerate(events):
        e["seq"] = i
    write_table(
        stage / fmt.EVENTS,
        fmt.records_to_table(events, fmt.EVENTS_SCHEMA) if events else fmt.EVENTS_SCHEMA.empty_table(),
    )
    windows = sorted(recs.get(Topic.WINDOW, []), key=lambda w: int(w["t_ns"]))
    write_table(
        stage / fmt.WINDOWS,
        fmt.records_to_table(windows, fmt.WINDOWS_SCHEMA) if windows else fmt.WINDOWS_SCHEMA.empty_table(),
    )
    markers = sorted(recs.get(Topic.MARKER, []), key=lambda m: int(m["t_ns"]))
    with open(stage / fmt.MARKERS, "w", encoding="utf-8") as f:
        for m in markers:
            f.write(json.dumps(fmt.marker_from_json(m).to_json(), ensure_ascii=False) + "\n")
    (stage / fmt.RAW_LOG).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(live / fmt.LIVE_LOG, stage / fmt.RAW_LOG)

    # the span: start anchor to stop anchor, or to the last thing that survived a crash
    start_ns = anchors[0].mono_ns
    if stopped:
        end_ns = anchors[-1].mono_ns
    else:
        last = [
            start_ns,
            *(f.t_ns for f in frames),
            *(int(e["t_ns"]) for e in events),
            *(int(w["t_ns"]) for w in windows),
            *(int(m["t_ns"]) for m in markers),
        ]
        if audio_meta["present"]:
            last.append(
                audio_meta["first_sample_t_ns"] + audio_meta["samples"] * 1_000_000_000 // audio_meta["sample_rate"]
            )
        end_ns = max(last)
    paused = paused_spans(anchors, end_ns)
    manifest: dict[str, Any] = {
        "format": fmt.FORMAT_NAME,
        "format_version": fmt.FORMAT_VERSION,
        "session_id": sid,
        "status": str(fmt.Status.RECOVERED if s.recovered else fmt.Status.COMPLETE),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "clock": {
            "unit": "ns",
            "source": fmt.CLOCK_SOURCE,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "anchors": [{"mono_ns": a.mono_ns, "utc_ns": a.utc_ns, "event": str(a.event)} for a in anchors],
        },
        "recorder": session.get("recorder") or {"name": "trajectory-recorder", "version": __version__},
        "task": session["task"],
        "environment": _environment(session["environment"], recs.get(Topic.LAYOUT, [])),
        "streams": {
            "screen": screen_meta,
            "input": {"path": fmt.EVENTS, "events": len(events)},
            "context": {"path": fmt.WINDOWS, "records": len(windows)},
            "markers": {"path": fmt.MARKERS, "count": len(markers)},
            "audio": audio_meta,
        },
        "stats": {
            "duration_ns": end_ns - start_ns,
            "paused_ns": sum(b - a for a, b in paused),
            "frames": len(frames),
            "dropped_frames": sum(int(d["count"]) for d in recs.get(Topic.DROPPED, [])),
            "max_frame_gap_ns": max_frame_gap([f.t_ns for f in frames], paused),
            "audio_gaps_ns": audio_gap_ns,
            "audio_gaps": audio_gaps,
            "events": len(events),
        },
        "files": [],
    }
    if s.notes:
        manifest["notes"] = [n if len(n) <= 1000 else n[:997] + "..." for n in s.notes][:100]

    # checksums, then the manifest last, then one rename publishes the bundle
    manifest["files"] = checksum_files(stage)
    write_manifest_last(stage, manifest)
    os.replace(stage, final)
    fsync_dir(out_dir)
    return final
