"""Redacting a bundle's media: video frames dropped or covered by re-encoding only the groups of pictures (GOPs)
they touch and copying every other packet as it is, and voiceover samples silenced bit-exactly elsewhere.

A GOP starts at a keyframe (an IDR picture, decodable alone) and runs to the next. A re-encoded run of frames
starts with a new keyframe, is encoded by libx264 with the recording's settings (crf, preset, no B-frames) and
carries its own parameter sets in-band, so the copied packets around it decode exactly as before: their GOPs
never refer to a re-encoded picture.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from recorder.errors import BundleEditError
from recorder.sealing.edit.media import AUDIO_COPY_BLOCK, pts_ms, read_back

_MS = 1_000_000
BLUR_BLOCK = 16  # px: the mosaic a blurred box is reduced to before it is smoothed


@dataclass(frozen=True)
class Cover:
    """A box drawn over frames [first, stop) of the source video (indices), blurred or filled."""

    first: int
    stop: int
    box: tuple[int, int, int, int]  # x, y, w, h in video pixels
    style: str  # "blur" | "fill"


def gops(keyframes: Sequence[bool]) -> list[tuple[int, int]]:
    """The [first, stop) frame indices of each GOP."""
    starts = [i for i, k in enumerate(keyframes) if k or i == 0]
    return [(a, b) for a, b in zip(starts, [*starts[1:], len(keyframes)], strict=True)]


def write_video(
    src: Path,
    dst: Path,
    t_ns: Sequence[int],
    keyframes: Sequence[bool],
    keep: Sequence[bool],
    redo: Sequence[bool],
    covers: Sequence[Cover],
    settings: dict[str, object],
) -> list[tuple[int, bool]]:
    """The video with frame i dropped unless `keep[i]`, re-encoded when `redo[i]` (covers applied), else copied.

    `redo` must start a new run only where a GOP starts or right after a dropped frame, and hold whole tails of
    GOPs (a copied frame never follows a re-encoded or dropped one inside a GOP). pts are recomputed from the
    kept frames' grab times in ms as the recorder does. Returns the (pts, keyframe) pairs read back."""
    kept_t = [t for t, k in zip(t_ns, keep, strict=True) if k]
    if not kept_t:
        raise BundleEditError("the redaction would leave no video frame: trim the recording instead")
    pts = pts_ms(kept_t)
    decode = [False] * len(t_ns)  # every frame of a GOP with a re-encoded frame: they are its references
    for a, b in gops(keyframes):
        if any(redo[a:b]):
            decode[a:b] = [True] * (b - a)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ms = Fraction(1, 1000)
    written = 0
    with av.open(str(src), "r") as inp:
        in_stream = inp.streams.video[0]
        decoder = in_stream.codec_context
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            out_stream = out.add_stream_from_template(in_stream)
            encoder: _Run | None = None
            index = -1
            for packet in inp.demux(in_stream):
                if packet.dts is None or packet.size == 0:
                    continue
                index += 1
                if index >= len(t_ns):
                    break
                images = decoder.decode(packet) if decode[index] else []
                if not keep[index]:
                    encoder = None
                    continue
                if not redo[index]:
                    encoder = None
                    data, key = bytes(packet), bool(packet.is_keyframe)
                else:
                    if len(images) != 1:
                        raise BundleEditError(f"{src}: frame {index} did not decode; the video cannot be redacted")
                    if encoder is None:
                        encoder = _Run(images[0], settings)
                    data, key = encoder.encode(_covered(images[0], index, covers), bool(packet.is_keyframe))
                out_packet = av.Packet(data)
                out_packet.stream = out_stream
                out_packet.time_base = ms
                out_packet.pts = out_packet.dts = pts[written]
                nxt = pts[written + 1] if written + 1 < len(pts) else None
                out_packet.duration = (nxt - pts[written]) if nxt is not None else max(1, int(packet.duration or 1))
                out_packet.is_keyframe = key
                out.mux(out_packet)
                written += 1
    return read_back(src, dst, written, len(kept_t))


class _Run:
    """One re-encoded run of frames: a fresh libx264 encoder with the recording's settings, its first frame a
    keyframe, one packet out per frame in (no B-frames, no lookahead)."""

    def __init__(self, image: av.VideoFrame, settings: dict[str, object]) -> None:
        enc = av.CodecContext.create("libx264", "w")
        assert isinstance(enc, av.VideoCodecContext)
        enc.width, enc.height = image.width, image.height
        enc.pix_fmt = image.format.name
        enc.time_base = Fraction(1, 1000)
        enc.color_range = image.color_range
        enc.colorspace = image.colorspace
        enc.max_b_frames = 0
        crf = settings.get("crf")
        enc.options = {
            "preset": str(settings.get("preset") or "veryfast"),
            "crf": str(23 if crf is None else crf),
            "bf": "0",
            "forced-idr": "1",
            "tune": "zerolatency",
        }
        self.enc = enc
        self.count = 0

    def encode(self, image: av.VideoFrame, key: bool) -> tuple[bytes, bool]:
        """The frame's packet as length-prefixed NAL units (as MP4 holds them), and whether it is a keyframe: the
        run's first frame is one, and so is every frame that was one (the keyframe interval stays the recording's)."""
        image.pts = self.count
        image.pict_type = av.video.frame.PictureType.I if self.count == 0 or key else av.video.frame.PictureType.NONE
        self.count += 1
        packets = self.enc.encode(image)
        if len(packets) != 1:
            raise BundleEditError(f"the encoder returned {len(packets)} packets for one frame; cannot redact")
        return annexb_to_avcc(bytes(packets[0])), bool(packets[0].is_keyframe)


def annexb_to_avcc(data: bytes) -> bytes:
    """H.264 NAL units from start codes (00 00 01 / 00 00 00 01) to 4-byte big-endian lengths, as MP4 holds them."""
    starts: list[tuple[int, int]] = []  # (start code position, payload position)
    i = 0
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        code = j - 1 if j > 0 and data[j - 1] == 0 else j
        starts.append((code, j + 3))
        i = j + 3
    out = bytearray()
    for n, (_, payload) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(data)
        nal = data[payload:end]
        out += len(nal).to_bytes(4, "big") + nal
    return bytes(out)


def _covered(image: av.VideoFrame, index: int, covers: Sequence[Cover]) -> av.VideoFrame:
    boxes = [c for c in covers if c.first <= index < c.stop]
    fmt_name = image.format.name
    planes = [np.array(p, copy=True) for p in _planes(image)]
    for c in boxes:
        for n, plane in enumerate(planes):
            sx = image.width // plane.shape[1]
            sy = image.height // plane.shape[0]
            x, y, w, h = c.box
            x0, y0 = max(0, x // sx), max(0, y // sy)
            x1, y1 = min(plane.shape[1], -(-(x + w) // sx)), min(plane.shape[0], -(-(y + h) // sy))
            if x1 <= x0 or y1 <= y0:
                continue
            region = plane[y0:y1, x0:x1]
            if c.style == "fill":
                black = 16 if (n == 0 and image.color_range != 2) else (0 if n == 0 else 128)
                region[...] = black
            else:
                region[...] = _blurred(region, max(2, BLUR_BLOCK // sx))
    frame = av.VideoFrame(image.width, image.height, fmt_name)
    for target, data in zip(frame.planes, planes, strict=True):
        _fill_plane(target, data)
    frame.color_range = image.color_range
    frame.colorspace = image.colorspace
    return frame


def _blurred(region: np.ndarray, block: int) -> np.ndarray:
    """Unreadable: every block x block cell becomes its mean, then the mosaic is smoothed."""
    import cv2

    h, w = region.shape
    small = cv2.resize(region, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    out: np.ndarray = cv2.blur(big, (block, block))
    return out


def _planes(image: av.VideoFrame) -> list[np.ndarray]:
    out = []
    for p in image.planes:
        raw = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)
        out.append(raw[:, : p.width])
    return out


def _fill_plane(plane: av.video.plane.VideoPlane, data: np.ndarray) -> None:
    buf = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    buf[:, : plane.width] = data


def silence_audio(src: Path, dst: Path, spans: Sequence[tuple[int, int]], rate: int, channels: int) -> int:
    """Copy the FLAC `src` to `dst` with samples [s0, s1) of each span set to zero, the rest bit-exact; returns
    how many samples were silenced."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    silenced = 0
    done = 0
    with (
        sf.SoundFile(str(src)) as inp,
        sf.SoundFile(str(dst), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out,
    ):
        total = inp.frames
        while True:
            block = inp.read(AUDIO_COPY_BLOCK, dtype="int16", always_2d=True)
            if not len(block):
                break
            for s0, s1 in spans:
                a, z = max(s0 - done, 0), min(s1 - done, len(block))
                if a < z:
                    block[a:z] = 0
                    silenced += z - a
            out.write(block)
            done += len(block)
    with sf.SoundFile(str(dst)) as check:
        if done != total or check.frames != total:
            raise OSError(errno.EIO, f"{check.frames} of {total} audio samples reached {dst}")
    return silenced
