"""The media at sealing: the live MKV remuxed into screen/video.mp4, the live FLAC finished into
audio/voiceover.flac, the voiceover's clock fitted to the session clock, and its gap statistics.

Each reads its live file up to a torn tail (a crash) and keeps what survived, reporting every cut through
`cut(note)`; writing must never fail silently, so each output is read back and a short one is an OSError.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf

from recorder.errors import SealError
from recorder.writers.audio import GAP_THRESHOLD_NS
from trajrec import format as fmt
from trajrec.manifest import AudioStreamJSON
from trajrec.timeline import Span, lost_outside_pauses

AUDIO_READ_BLOCK = 1 << 16
AUDIO_FIT_MIN_NS = 5_000_000_000  # shorter voiceovers keep the nominal sample rate
AUDIO_RATE_MAX_DEVIATION = 0.005  # a fit further off than 0.5 % is not a clock drift: ignore it

Note = Callable[[str], None]


def remux_video(
    src: Path, dst: Path, frame_records: list[dict[str, Any]], cut: Note
) -> tuple[list[fmt.Frame], tuple[int, int]]:
    """Copy the live MKV's packets into screen/video.mp4 and pair each with its logged grab time.

    Returns the frames and the MP4's time base."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    frame_records = sorted(frame_records, key=lambda r: int(r["frame_index"]))
    copied = 0
    time_base = (1, 1000)
    try:
        inp = av.open(str(src), "r")
    except (av.FFmpegError, OSError) as e:
        cut(f"live video unreadable ({e}); no frames kept")
        return [], time_base
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
                cut(f"live video torn after {copied} frames ({e})")
    finally:
        inp.close()
    if copied == 0:  # no packet to keep: the MP4 muxer writes no file at all
        dst.unlink(missing_ok=True)
        if frame_records:
            cut(f"the live video holds none of the {len(frame_records)} logged frames; no frames kept")
        return [], time_base
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
        cut(f"{len(frame_records) - len(pts)} logged frames missing from the live video (crash); dropped")
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
    return frames, time_base


def finish_audio(
    src: Path,
    dst: Path,
    setup: dict[str, Any],
    blocks: list[dict[str, Any]],
    pauses: Sequence[Span],
    cut: Note,
    note: Note,
) -> tuple[AudioStreamJSON, int, int]:
    """Re-encode the live FLAC into audio/voiceover.flac (reading up to a torn tail).

    Returns the manifest's `streams.audio`, stats.audio_gaps_ns and stats.audio_gaps."""
    rate, channels = int(setup["sample_rate"]), int(setup["channels"])
    logged = max((int(b["first_sample"]) + int(b["samples"]) for b in blocks), default=0)
    if not blocks:
        return {"present": False, "reason": "no audio was captured"}, 0, 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        live = sf.SoundFile(str(src))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        cut(f"live audio unreadable ({e}); no audio kept")
        return {"present": False, "reason": "audio lost in a crash"}, 0, 0
    # Reading may stop at a torn tail (kept up to there); writing must never fail silently.
    try:
        with (
            live,
            sf.SoundFile(str(dst), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out,
        ):
            while written < logged:
                try:
                    block = live.read(min(AUDIO_READ_BLOCK, logged - written), dtype="int16", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as e:
                    cut(f"live audio torn after {written} samples ({e})")
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
        cut(f"{logged - written} logged audio samples missing from the live audio (crash); dropped")
    gap_ns, gaps = audio_gap_stats(blocks, rate, written, pauses)
    first_t, clock_rate = fit_audio_clock(blocks, rate, written, note)
    meta: AudioStreamJSON = {
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


def audio_gap_stats(blocks: list[dict[str, Any]], rate: int, written: int, pauses: Sequence[Span]) -> tuple[int, int]:
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
        lost = lost_outside_pauses(Span(g0, g1), pauses)
        if lost > GAP_THRESHOLD_NS:
            gap_ns += lost
            gaps += 1
    return gap_ns, gaps


def fit_audio_clock(
    blocks: list[dict[str, Any]], rate: int, written: int, note: Note | None = None
) -> tuple[int, float]:
    """Fit the session-clock time of every sample: (time of sample 0, samples per session-clock second).

    A sound card's clock runs a little fast or slow (280 ppm was measured here: 33 ms off after two
    minutes), and each block's stamp jitters by a few ms; a line through all blocks' (first sample,
    stamp) pairs corrects both. Sessions shorter than AUDIO_FIT_MIN_NS keep the nominal rate, and so
    does a fit too far off to be a drift (`note` says so).
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
        if note is not None:
            note(f"audio clock fit gave {clock_rate:.1f} Hz for a {rate} Hz device; kept the nominal rate")
        return t0, float(rate)
    return t0 + round(intercept), round(float(clock_rate), 4)
