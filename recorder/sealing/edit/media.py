"""Cutting a bundle's media to the kept span: video packets copied (never re-encoded) into a new MP4 with
their pts recomputed from the grab times, and the voiceover's samples in the span copied bit-exactly.

Each output is read back; one that holds less than was written is an OSError (a full disk).
"""

from __future__ import annotations

import errno
import math
from fractions import Fraction
from pathlib import Path

import av
import soundfile as sf

from recorder.errors import BundleEditError
from trajrec.manifest import AudioStreamJSON

AUDIO_COPY_BLOCK = 1 << 16
_NS = 1_000_000_000
_MS = 1_000_000


def pts_ms(t_ns: list[int]) -> list[int]:
    """Frames' pts in ms from their grab times, as the recorder stamps them: time since the first, +1 on a tie."""
    out: list[int] = []
    for t in t_ns:
        p = (t - t_ns[0]) // _MS
        out.append(p if not out or p > out[-1] else out[-1] + 1)
    return out


def copy_video(src: Path, dst: Path, first: int, t_ns: list[int], last_duration_ns: int) -> list[tuple[int, bool]]:
    """Copy the packets of frames [first, first + len(t_ns)) of `src` into `dst`, never re-encoding.

    `t_ns` are the kept frames' grab times; pts are recomputed from them in ms as the recorder does,
    so the first has pts 0. Returns the (pts, keyframe) pairs the MP4 muxer stored, read back.
    """
    ms = Fraction(1, 1000)
    pts = pts_ms(t_ns)
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
                packet.pts = packet.dts = pts[i]
                packet.duration = pts[i + 1] - pts[i] if i + 1 < len(t_ns) else max(1, last_duration_ns // _MS)
                out.mux(packet)
                copied += 1
    return read_back(src, dst, copied, len(t_ns))


def read_back(src: Path, dst: Path, written: int, wanted: int) -> list[tuple[int, bool]]:
    """The (pts, keyframe) of each frame of the video just written to `dst`: BundleEditError when fewer than
    `wanted` frames were found in `src`, OSError when `dst` holds fewer than were written (a full disk)."""
    if written != wanted:
        raise BundleEditError(f"{src}: the video holds {written} of the {wanted} frames to keep")
    with av.open(str(dst), "r") as check:
        vs = check.streams.video[0]
        got = [(int(p.pts), bool(p.is_keyframe)) for p in check.demux(vs) if p.pts is not None and p.size]
    if len(got) != written:
        raise OSError(errno.EIO, f"the new video holds {len(got)} of {written} frames; is the disk full?")
    return got


def video_time_base(path: Path) -> list[int]:
    with av.open(str(path), "r") as c:
        tb = c.streams.video[0].time_base
        assert tb is not None
        return [tb.numerator, tb.denominator]


def kept_samples(audio: AudioStreamJSON, start: int, end: int) -> tuple[int, int, Fraction]:
    """The voiceover's samples [s0, s1) whose times lie in [start, end], and the ns per sample.

    A sample's time is `first_sample_t_ns + i * 1e9 / clock_rate_hz` (the nominal rate when no clock
    was fitted); s1 <= s0 when the span holds none."""
    rate = Fraction(audio.get("clock_rate_hz") or audio["sample_rate"])
    first_t, n = int(audio["first_sample_t_ns"]), int(audio["samples"])
    s0 = max(0, math.ceil(Fraction(start - first_t) * rate / _NS))
    s1 = min(n, math.floor(Fraction(end - first_t) * rate / _NS) + 1)
    return s0, s1, _NS / rate


def copy_audio(src: Path, dst: Path, s0: int, s1: int, rate: int, channels: int) -> None:
    """Copy samples [s0, s1) of the FLAC `src` into a new FLAC `dst`, bit-exactly."""
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
