"""The review's voiceover: played through PortAudio (sounddevice) from the bundle, in step with the player.

A feeder thread reads the voiceover ahead in short chunks (`BundleReader.audio`, on the session clock) into a
bounded queue; the output callback only copies from it and applies the volume (an underrun plays silence, never
blocks). The screen starts it at the player's position, stops it on pause, and starts it again when the player
jumps (a seek, a skipped recording pause) or drifts from it by more than RESYNC_NS. Qt-free.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CHUNK_NS = 200_000_000  # read ahead this much at a time
AHEAD = 5  # chunks queued ahead of the output (1 s)
RESYNC_NS = 150_000_000  # the screen restarts the voice when the player is this far from it


class VoicePlayer:
    def __init__(self, bundle: Path, rate: float, channels: int) -> None:
        self.bundle = bundle
        self.rate = rate
        self.channels = channels
        self.volume = 1.0  # 0 = muted; read by the output callback
        self.muted = False
        self._stream: Any = None
        self._feeder: threading.Thread | None = None
        self._stop = threading.Event()
        self._chunks: queue.Queue[np.ndarray] = queue.Queue(AHEAD)
        self._pending = np.zeros((0, channels), np.int16)
        self._start_ns = 0
        self._start_wall = 0.0
        self.error: str | None = None  # why there is no sound (no output device), once known

    @property
    def playing(self) -> bool:
        return self._stream is not None

    def position(self) -> int:
        """Where the voice is now on the session clock (ns), from when it started (wall clock)."""
        return self._start_ns + int((time.monotonic() - self._start_wall) * 1e9)

    def play(self, t_ns: int, end_ns: int) -> None:
        """Play from session time `t_ns` to `end_ns` (replacing what plays now)."""
        self.stop()
        try:
            sd: Any = importlib.import_module("sounddevice")
            self._stop = threading.Event()
            self._chunks = queue.Queue(AHEAD)
            self._pending = np.zeros((0, self.channels), np.int16)
            self._feeder = threading.Thread(
                target=self._feed, args=(t_ns, end_ns, self._stop, self._chunks), name="voice-feeder", daemon=True
            )
            self._feeder.start()
            stream = sd.OutputStream(
                samplerate=round(self.rate), channels=self.channels, dtype="int16", callback=self._callback
            )
            stream.start()
        except Exception as e:  # no sound system, no output device: review goes on without sound
            self._stop.set()
            self.error = f"no sound: {e}"
            log.info("review voiceover: %s", e)
            return
        self._stream = stream
        self._start_ns, self._start_wall = t_ns, time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        if self._feeder is not None:
            self._feeder.join(2)
            self._feeder = None

    def _feed(self, t_ns: int, end_ns: int, stop: threading.Event, chunks: queue.Queue[np.ndarray]) -> None:
        from trajrec.reader import BundleReader

        try:
            with BundleReader(self.bundle) as reader:
                t = t_ns
                while t < end_ns and not stop.is_set():
                    pcm = reader.audio(t, min(end_ns, t + CHUNK_NS))
                    t += CHUNK_NS
                    while not stop.is_set():
                        try:
                            chunks.put(pcm, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        except Exception as e:
            log.warning("review voiceover stopped: %s", e)

    def _callback(self, out: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        buf = self._pending
        while len(buf) < frames:
            try:
                buf = np.concatenate([buf, self._chunks.get_nowait()])
            except queue.Empty:
                break
        n = min(frames, len(buf))
        gain = 0.0 if self.muted else self.volume
        out[:n] = (buf[:n].astype(np.float32) * gain).clip(-32768, 32767).astype(np.int16)
        out[n:] = 0
        self._pending = buf[n:]
