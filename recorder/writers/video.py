"""Live screen video: H.264 (libx264 via PyAV) in Matroska with 1 s clusters.

A crash loses at most the cluster being written; the file is remuxed to MP4 at seal. Frames carry
their own capture time (variable frame rate); the caller only sends frames that changed, and this
writer forces an IDR frame whenever KEYFRAME_INTERVAL_NS has passed since the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from recorder.errors import VideoWriteError
from trajrec.format import KEYFRAME_INTERVAL_NS

__all__ = ["LIVE_TIME_BASE", "VideoSettings", "VideoWriteError", "VideoWriter"]

# Matroska timestamps are milliseconds; pts in the live file are ms since the first frame.
LIVE_TIME_BASE = Fraction(1, 1000)
_NS_PER_TICK = 1_000_000


@dataclass(frozen=True)
class VideoSettings:
    width: int
    height: int
    crf: int = 23
    preset: str = "veryfast"
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise VideoWriteError(
                f"video size {self.width}x{self.height} must be positive and even: pick an even region"
            )
        if self.pix_fmt not in ("yuv420p", "yuv444p"):
            raise VideoWriteError(f"pixel format {self.pix_fmt!r} is not supported: use yuv420p or yuv444p")


class VideoWriter:
    """Encode BGR/BGRA frames, each with its capture time, into the live Matroska file."""

    def __init__(self, path: Path, settings: VideoSettings) -> None:
        import cv2  # desktop extra: colour conversion is 15x cheaper in OpenCV than in PyAV

        self._cv2 = cv2
        self.settings = settings
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(
            str(path), "w", format="matroska", options={"cluster_time_limit": "1000", "flush_packets": "1"}
        )
        stream = self._container.add_stream(
            "libx264",
            options={
                "preset": settings.preset,
                "crf": str(settings.crf),
                "bf": "0",
                "forced-idr": "1",
                # No lookahead or frame threads: with variable frame rate an idle desktop sends a frame
                # every 2 s, and a 10-frame encoder delay would hold 20 s of video in memory.
                "tune": "zerolatency",
            },
        )
        stream.width = settings.width
        stream.height = settings.height
        stream.pix_fmt = settings.pix_fmt
        stream.time_base = LIVE_TIME_BASE
        cc = stream.codec_context
        cc.time_base = LIVE_TIME_BASE
        cc.max_b_frames = 0
        # cv2's I420 conversion yields limited ("tv") range, its 4:4:4 conversion full ("pc") range
        self._color_range = 1 if settings.pix_fmt == "yuv420p" else 2
        cc.color_range = self._color_range
        cc.colorspace = 6  # BT.601 (smpte170m), cv2's matrix
        self._stream = stream
        self._t0_ns: int | None = None
        self._last_pts = -1
        self._last_key_ns: int | None = None
        self.frames = 0

    @property
    def t0_ns(self) -> int | None:
        """Capture time of the first frame (pts 0)."""
        return self._t0_ns

    def keyframe_due(self, t_ns: int) -> bool:
        return self._last_key_ns is None or t_ns - self._last_key_ns >= KEYFRAME_INTERVAL_NS

    def write(self, t_ns: int, image: np.ndarray) -> bool:
        """Encode one frame grabbed at `t_ns`; return True when it was encoded as a keyframe."""
        s = self.settings
        if image.shape[0] != s.height or image.shape[1] != s.width:
            raise VideoWriteError(f"frame is {image.shape[1]}x{image.shape[0]}, expected {s.width}x{s.height}")
        if self._t0_ns is None:
            self._t0_ns = t_ns
        pts = (t_ns - self._t0_ns) // _NS_PER_TICK
        if pts <= self._last_pts:
            pts = self._last_pts + 1  # two grabs within one ms: keep pts strictly increasing
        self._last_pts = pts
        frame = self._to_frame(image)
        frame.pts = pts
        frame.time_base = LIVE_TIME_BASE
        key = self.keyframe_due(t_ns)
        if key:
            frame.pict_type = av.video.frame.PictureType.I
            self._last_key_ns = t_ns
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1
        return key

    def _to_frame(self, image: np.ndarray) -> av.VideoFrame:
        cv2 = self._cv2
        channels = 1 if image.ndim == 2 else image.shape[2]
        if self.settings.pix_fmt == "yuv420p":
            code = cv2.COLOR_BGRA2YUV_I420 if channels == 4 else cv2.COLOR_BGR2YUV_I420
            yuv = cv2.cvtColor(image, code)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            bgr = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if channels == 4 else image
            yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)  # full-range BT.601 planes
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(yuv.transpose(2, 0, 1)), format="yuv444p")
        frame.color_range = self._color_range
        return frame

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
