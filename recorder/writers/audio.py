"""Live voiceover: blocks of samples, each stamped with its first sample's session-clock time, appended
to a FLAC file. Lost audio (a device overflow, a stall) becomes silence of the right length, counted,
so that sample index and session time stay in step for the whole recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from trajrec.format import AudioBlock

# Silence is inserted when a block arrives later than expected by more than this.
GAP_THRESHOLD_NS = 20_000_000
DRIFT_FIT_MIN_NS = 10_000_000_000  # the fitted clock is used once about this much audio is in
MAX_DRIFT = 0.005  # a fit further from the nominal rate than 0.5 % is ignored


class AudioWriter:
    def __init__(self, path: Path, sample_rate: int, channels: int = 1) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self._file = sf.SoundFile(
            str(path), "w", samplerate=sample_rate, channels=channels, format="FLAC", subtype="PCM_16"
        )
        self.first_sample_t_ns: int | None = None
        self.samples = 0
        self.gap_samples = 0
        self.gaps = 0
        # Online line fit of (sample index, stamp): the device clock's drift (a few hundred ppm) must not
        # grow into a false gap after a few minutes. Welford-style, numerically stable.
        self._n = 0
        self._mean_x = self._mean_y = self._cxy = self._cxx = 0.0

    def expected_t_ns(self) -> int | None:
        """When the next sample should have been captured, by the clock fitted so far."""
        if self.first_sample_t_ns is None:
            return None
        if self._n >= 2 and self._cxx > 0 and self._mean_y >= DRIFT_FIT_MIN_NS / 2:
            slope = self._cxy / self._cxx  # ns per sample
            if abs(slope * self.sample_rate / 1e9 - 1) < MAX_DRIFT:
                return self.first_sample_t_ns + round(self._mean_y + slope * (self.samples - self._mean_x))
        return self.first_sample_t_ns + self.samples * 1_000_000_000 // self.sample_rate

    def _fit(self, first_sample: int, t_ns: int) -> None:
        assert self.first_sample_t_ns is not None
        x, y = float(first_sample), float(t_ns - self.first_sample_t_ns)
        self._n += 1
        dx = x - self._mean_x
        self._mean_x += dx / self._n
        self._mean_y += (y - self._mean_y) / self._n
        self._cxy += dx * (y - self._mean_y)
        self._cxx += dx * (x - self._mean_x)

    def write(self, t_ns: int, block: np.ndarray) -> AudioBlock:
        """Append `block` (int16 or float in [-1, 1]; shape (n,) or (n, channels)) captured at `t_ns`."""
        gap = 0
        expected = self.expected_t_ns()
        if expected is None:
            self.first_sample_t_ns = t_ns
        elif t_ns - expected > GAP_THRESHOLD_NS:
            gap = (t_ns - expected) * self.sample_rate // 1_000_000_000
            silence = np.zeros((gap, self.channels), dtype=np.int16)
            self._file.write(silence)
            self.samples += gap
            self.gap_samples += gap
            self.gaps += 1
        data = block if block.ndim == 2 else block.reshape(-1, 1)
        first = self.samples
        self._fit(first, t_ns)
        self._file.write(data)
        self.samples += data.shape[0]
        return AudioBlock(t_ns=t_ns, first_sample=first, samples=int(data.shape[0]), gap_samples=int(gap))

    def close(self) -> None:
        self._file.close()
