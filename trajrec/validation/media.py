"""Checks of the media files: the video against the manifest and the frames table (codec, size, time
base, frame count, pts, keyframe flags), and the voiceover against the manifest and the session span.

Quick mode reads the video's packet index and the audio header; deep mode decodes every video frame and
every audio sample (and checks for cancellation as it goes).
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import pyarrow as pa
import soundfile as sf

from trajrec import format as fmt
from trajrec.errors import Cancelled, TrajrecError
from trajrec.manifest import AudioStreamJSON, ScreenStreamJSON
from trajrec.validation.context import Context, SessionSpan, secs
from trajrec.validation.report import Code


def check_video(ctx: Context, meta: ScreenStreamJSON, frames: pa.Table) -> None:
    """The video matches the manifest, and its packets the frames table row for row."""
    path = fmt.VIDEO
    pts = frames.column("pts").to_numpy()
    keyframe = frames.column("keyframe").to_numpy(zero_copy_only=False)
    try:
        with ctx.open_member(path) as f, av.open(f, "r") as container:
            if not container.streams.video:
                ctx.add(Code.VIDEO_UNREADABLE, path, "no video stream")
                return
            vs = container.streams.video[0]
            cc = vs.codec_context
            if cc.name != "h264":
                ctx.add(Code.VIDEO_CODEC, path, f"codec {cc.name}, expected h264")
            if (cc.width, cc.height) != (meta["width"], meta["height"]):
                ctx.add(
                    Code.VIDEO_SIZE, path, f"{cc.width}x{cc.height}, manifest says {meta['width']}x{meta['height']}"
                )
            tb = vs.time_base
            if tb is None or [tb.numerator, tb.denominator] != meta["time_base"]:
                ctx.add(Code.VIDEO_TIME_BASE, path, f"time base {tb}, manifest says {meta['time_base']}")
            if vs.frames and vs.frames != len(pts):
                ctx.add(
                    Code.VIDEO_FRAME_COUNT, path, f"{vs.frames} frames in the video, {len(pts)} rows in {fmt.FRAMES}"
                )
                return
            if ctx.deep:
                got = _decode_pts(ctx, container, vs)
            else:
                got = [(p.pts, bool(p.is_keyframe)) for p in container.demux(vs) if p.pts is not None and p.size]
    except Cancelled:
        raise  # a TrajrecError too, but not a finding
    except (av.FFmpegError, OSError, ValueError, TrajrecError) as e:
        ctx.add(Code.VIDEO_DECODE if ctx.deep else Code.VIDEO_UNREADABLE, path, f"{str(e)[:300]}")
        return
    if len(got) != len(pts):
        ctx.add(Code.VIDEO_FRAME_COUNT, path, f"{len(got)} frames in the video, {len(pts)} rows in {fmt.FRAMES}")
        return
    got_pts = np.array([p for p, _ in got], dtype=np.int64)
    if not np.array_equal(got_pts, pts):
        i = int(np.flatnonzero(got_pts != pts)[0])
        ctx.add(
            Code.VIDEO_PTS, path, f"frame {i} has pts {int(got_pts[i])} in the video, {int(pts[i])} in {fmt.FRAMES}"
        )
    got_key = np.array([k for _, k in got], dtype=bool)
    if not np.array_equal(got_key, keyframe):
        i = int(np.flatnonzero(got_key != keyframe)[0])
        ctx.add(
            Code.VIDEO_KEYFRAMES,
            path,
            f"frame {i} keyframe={bool(got_key[i])} in the video, {bool(keyframe[i])} in {fmt.FRAMES}",
        )


def _decode_pts(ctx: Context, container: Any, vs: Any) -> list[tuple[int, bool]]:
    """Decode every frame; return each packet's (pts, keyframe flag), the flags seeking relies on."""
    packets: list[tuple[int, bool]] = []
    decoded = 0
    for packet in container.demux(vs):
        ctx.check_cancel()
        if packet.pts is not None and packet.size:
            packets.append((int(packet.pts), bool(packet.is_keyframe)))
        decoded += len(packet.decode())  # the flush packet at the end returns the delayed frames
    if decoded != len(packets):
        raise TrajrecError(f"{decoded} of {len(packets)} frames decoded")
    return packets


def check_audio(ctx: Context, meta: AudioStreamJSON, span: SessionSpan) -> None:
    """The voiceover has the manifest's format and sample count, and covers the session within the
    tolerance at each end (time from `clock_rate_hz`, the rate measured on the session clock)."""
    path = fmt.AUDIO
    if not meta["present"] or not ctx.usable(path):
        return
    try:
        with ctx.open_member(path) as f, sf.SoundFile(f) as snd:
            if (snd.samplerate, snd.channels) != (meta["sample_rate"], meta["channels"]):
                ctx.add(
                    Code.AUDIO_FORMAT,
                    path,
                    f"{snd.samplerate} Hz x{snd.channels}, manifest says {meta['sample_rate']} Hz x{meta['channels']}",
                )
                return
            frames = snd.frames
            if ctx.deep:
                frames = 0
                for block in snd.blocks(blocksize=1 << 16, dtype="int16"):
                    frames += len(block)
                    ctx.check_cancel()
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        ctx.add(Code.AUDIO_DECODE if ctx.deep else Code.AUDIO_UNREADABLE, path, str(e)[:300])
        return
    if frames != meta["samples"]:
        ctx.add(Code.AUDIO_SAMPLES, path, f"{frames} samples in the file, manifest says {meta['samples']}")
        return
    start, end = span.start, span.end
    a0 = meta["first_sample_t_ns"]
    a1 = a0 + round(frames * 1e9 / (meta.get("clock_rate_hz") or meta["sample_rate"]))
    tol = fmt.AUDIO_SPAN_TOLERANCE_NS
    if abs(a0 - start) > tol or abs(end - a1) > tol:
        ctx.add(
            Code.AUDIO_DURATION,
            path,
            f"audio covers {secs(a0 - start)} to {secs(a1 - start)} of a {secs(end - start)} session "
            f"(tolerance {secs(tol)} at each end)",
        )
