"""LiveWriter: the crash-safe session directory written while recording, sealed into a bundle at stop.

It owns the three live files (MCAP log, Matroska video, FLAC voiceover) and `session.json`, which is
written atomically at start. Everything a bundle holds is derivable from this directory, so a crash
at any moment leaves something `seal(..., recover=True)` can turn into a valid bundle.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from recorder.errors import RecorderError
from recorder.writers.audio import AudioWriter
from recorder.writers.log import LiveLog
from recorder.writers.video import VideoSettings, VideoWriter
from trajrec import __version__
from trajrec.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    LIVE_AUDIO,
    LIVE_LOG,
    LIVE_SESSION,
    LIVE_VIDEO,
    Anchor,
    AudioBlock,
    DisplayLayout,
    ElementRecord,
    Frame,
    InputEvent,
    Marker,
    PrivacySpan,
    WindowRecord,
)
from trajrec.topics import Topic


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _row(record: Any) -> dict[str, Any]:
    d = dataclasses.asdict(record)
    return {k: (list(v) if isinstance(v, tuple) else str(v) if hasattr(v, "value") else v) for k, v in d.items()}


class LiveWriter:
    def __init__(
        self,
        live_dir: Path,
        *,
        session_id: str,
        task: dict[str, Any],
        environment: dict[str, Any],
        video: VideoSettings | None,
        screen: dict[str, Any] | None = None,
        audio_rate: int | None = None,
        audio_channels: int = 1,
        audio_device: str | None = None,
        audio_absent_reason: str | None = None,
    ) -> None:
        if live_dir.exists() and any(live_dir.iterdir()):
            raise RecorderError(f"{live_dir} already holds a session: choose an empty directory")
        self.dir = live_dir
        self.session_id = session_id
        live_dir.mkdir(parents=True, exist_ok=True)
        screen_setup = None
        if video is not None:
            screen_setup = {
                **(screen or {}),
                "width": video.width,
                "height": video.height,
                "pix_fmt": video.pix_fmt,
                "crf": video.crf,
                "preset": video.preset,
            }
        audio_setup = None
        if audio_rate is not None:
            audio_setup = {
                "sample_rate": audio_rate,
                "channels": audio_channels,
                "device": audio_device or "",
            }
        write_json_atomic(
            live_dir / LIVE_SESSION,
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "session_id": session_id,
                "recorder": {"name": "trajectory-recorder", "version": __version__},
                "task": task,
                "environment": environment,
                "screen": screen_setup,
                "audio": audio_setup,
                "audio_absent_reason": None if audio_setup else (audio_absent_reason or "recorded without audio"),
            },
        )
        self.log = LiveLog(live_dir / LIVE_LOG)
        self.video = VideoWriter(live_dir / LIVE_VIDEO, video) if video is not None else None
        self.audio_writer = (
            AudioWriter(live_dir / LIVE_AUDIO, audio_rate, audio_channels) if audio_rate is not None else None
        )
        self._seq = 0
        self.frames = 0
        self.dropped = 0
        self._closed = False

    def anchor(self, anchor: Anchor) -> None:
        self.log.write(Topic.ANCHOR, anchor.mono_ns, _row(anchor))

    def frame(self, t_ns: int, image: np.ndarray, display_id: int = -1) -> None:
        if self.video is None:
            raise RecorderError("this session records no screen")
        key = self.video.write(t_ns, image)
        rec = Frame(frame_index=self.frames, pts=-1, t_ns=t_ns, display_id=display_id, keyframe=key)
        self.frames += 1
        self.log.write(Topic.FRAME, t_ns, {k: v for k, v in _row(rec).items() if k != "pts"})

    def dropped_frames(self, t_ns: int, count: int) -> None:
        self.dropped += count
        self.log.write(Topic.DROPPED, t_ns, {"t_ns": t_ns, "count": count})

    def event(self, event: InputEvent) -> None:
        """Log an input event; `seq` is assigned here in arrival order."""
        rec = dataclasses.replace(event, seq=self._seq)
        self._seq += 1
        self.log.write(Topic.EVENT, rec.t_ns, _row(rec))

    def window(self, record: WindowRecord) -> None:
        self.log.write(Topic.WINDOW, record.t_ns, _row(record))

    def layout(self, layout: DisplayLayout) -> None:
        self.log.write(Topic.LAYOUT, layout.t_ns, layout.to_json())

    def marker(self, marker: Marker) -> None:
        self.log.write(Topic.MARKER, marker.t_ns, marker.to_json())

    def element(self, record: ElementRecord) -> None:
        self.log.write(Topic.ELEMENT, record.t_ns, _row(record))

    def privacy_span(self, span: PrivacySpan) -> None:
        self.log.write(Topic.PRIVACY, span.start_ns, _row(span))

    def guards(self, t_ns: int, guards: dict[str, Any]) -> None:
        """Which privacy guards run (accessibility, deny-list), once they started."""
        self.log.write(Topic.GUARDS, t_ns, {"t_ns": t_ns, **guards})

    def audio(self, t_ns: int, block: np.ndarray) -> AudioBlock:
        if self.audio_writer is None:
            raise RecorderError("this session records no audio")
        rec = self.audio_writer.write(t_ns, block)
        self.log.write(Topic.AUDIO, t_ns, _row(rec))
        return rec

    def close(self, stop: Anchor | None = None) -> None:
        """Finish every file; `stop` (the stop anchor) marks a clean end."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.video is not None:
                self.video.close()
            if self.audio_writer is not None:
                self.audio_writer.close()
            if stop is not None:
                self.anchor(stop)
        finally:
            self.log.close()
