"""The setup screen's devices, Qt-free: monitor thumbnails (mss + OpenCV) and the microphone's level meter.

Both are plain Python the screen drives: `grab_thumbnails` blocks (run it off the GUI thread), the meter's
sounddevice callback only stores a number that the screen's timer reads.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

THUMB_SIZE = (220, 124)  # (width, height) of a monitor's thumbnail
SIGNAL_DBFS = -45.0  # a level above this for a moment counts as "we hear you"


def grab_thumbnails() -> list[tuple[int, str, np.ndarray]]:
    """(monitor number, "W x H", RGB thumbnail) of each monitor: blocking, run it off the GUI thread."""
    import cv2
    import mss

    out = []
    with mss.MSS() as sct:
        for i, m in enumerate(sct.monitors[1:], start=1):
            shot = np.asarray(sct.grab(m))[:, :, :3]
            scale = min(THUMB_SIZE[0] / m["width"], THUMB_SIZE[1] / m["height"])
            size = (max(1, int(m["width"] * scale)), max(1, int(m["height"] * scale)))
            small = cv2.resize(shot, size, interpolation=cv2.INTER_AREA)
            out.append((i, f"{m['width']} x {m['height']}", cv2.cvtColor(small, cv2.COLOR_BGR2RGB)))
    return out


def microphone_choices() -> list[tuple[str, str | None]]:
    """(text, device) of the microphone menu: the system default (""), each input by the sound server's name
    for it ("pulse:<source>") or else by its PortAudio index, and recording without a microphone (None).
    Listing failures leave the default and "none" (logged)."""
    from recorder.capture.audio import PULSE_PREFIX, list_input_devices, pulse_sources

    out: list[tuple[str, str | None]] = [("System default microphone", "")]
    sources = pulse_sources()  # the sound server's own names ("Built-in Audio Analog Stereo"), not "pulse"
    if sources:
        out += [(description, PULSE_PREFIX + name) for name, description in sources]
    else:
        try:
            out += [(str(d["name"]), str(d["index"])) for d in list_input_devices()]
        except Exception as e:
            log.warning("no audio inputs: %s", e)
    out.append(("No microphone (no narration)", None))
    return out


class LevelMeter:
    """A microphone level (dBFS) from a sounddevice input stream; the callback only stores a number."""

    def __init__(self) -> None:
        self.level_db = -120.0
        self.peak_db = -120.0
        self._stream: Any = None
        self._lock = threading.Lock()

    def open(self, device: str | None) -> None:
        from recorder.capture.audio import resolve_device

        sd: Any = importlib.import_module("sounddevice")

        self.close()
        index = resolve_device(device or None)

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            rms = float(np.sqrt(np.mean(np.square(indata.astype(np.float32) / 32768.0)))) if frames else 0.0
            db = 20 * np.log10(max(rms, 1e-6))
            with self._lock:
                self.level_db = db
                self.peak_db = max(self.peak_db, db)

        stream = sd.InputStream(device=index, channels=1, samplerate=48_000, dtype="int16", callback=callback)
        stream.start()
        self._stream = stream

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()

    def read(self) -> tuple[float, float]:
        with self._lock:
            return self.level_db, self.peak_db


__all__ = ["SIGNAL_DBFS", "THUMB_SIZE", "LevelMeter", "grab_thumbnails", "microphone_choices"]
