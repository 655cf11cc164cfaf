"""The voiceover's speech and level: where the expert spoke (WebRTC's voice-activity detector) and how loud.

One pass over the samples, block by block (memory flat in the recording's length). The detector is WebRTC's
(`webrtcvad-wheels`): a Gaussian-mixture model compiled into a small C extension, with no model file to download
and no ML runtime to install; it decides per 30 ms frame at about 7,000x real time on one core, so a report over
thousands of hours stays bound by video decoding. Its raw decisions are smoothed the usual way: a span of speech
starts at `min_speech_ns` of voiced frames and ends after `hangover_ns` without one, so a pause between words
does not split a sentence. Times are on the session clock (sample i at first_sample_t_ns + i / clock_rate_hz).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FRAME_MS = 30  # WebRTC's detector takes 10, 20 or 30 ms frames
VAD_RATES = (8000, 16000, 32000, 48000)
LEVEL_WINDOW_NS = 100_000_000  # the level curve: one RMS value per 100 ms
SILENT_DBFS = -50.0  # a level window below this is silence
CLIP = 32_700  # a sample at or beyond this magnitude is clipped (int16 full scale is 32767)


@dataclass(frozen=True)
class SpeechRules:
    aggressiveness: int = 2  # WebRTC's mode 0..3: higher rejects more non-speech (keyboard, fans)
    min_speech_ns: int = 150_000_000
    hangover_ns: int = 400_000_000
    min_dbfs: float = -55.0  # frames quieter than this are never speech (the detector says yes to faint hiss)


@dataclass
class Voiceover:
    """What one pass over the voiceover found. `spans`: speech as (start_ns, end_ns) on the session clock;
    `level_dbfs`: RMS level per LEVEL_WINDOW_NS window from `level_t0_ns`."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    level_t0_ns: int = 0
    level_step_ns: float = LEVEL_WINDOW_NS  # one level window on the session clock (the device's clock may drift)
    level_dbfs: list[float] = field(default_factory=list)
    samples: int = 0
    clipped: int = 0
    peak_dbfs: float = -120.0
    rms_dbfs: float = -120.0

    @property
    def speech_ns(self) -> int:
        return sum(b - a for a, b in self.spans)

    def silent_share(self) -> float:
        return float(np.mean(np.asarray(self.level_dbfs) < SILENT_DBFS)) if self.level_dbfs else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "spans": [list(s) for s in self.spans],
            "speech_ns": self.speech_ns,
            "samples": self.samples,
            "clipped_samples": self.clipped,
            "peak_dbfs": round(self.peak_dbfs, 1),
            "rms_dbfs": round(self.rms_dbfs, 1),
            "silent_share": round(self.silent_share(), 4),
        }


def dbfs(rms: float) -> float:
    return float(20 * np.log10(max(rms, 1e-6) / 32768.0))


def _resample(mono: np.ndarray, rate: int, to: int) -> np.ndarray:
    """Linear resampling to a rate the detector takes (only for unusual device rates)."""
    n = int(len(mono) * to / rate)
    out: np.ndarray = np.interp(np.arange(n) * (rate / to), np.arange(len(mono)), mono.astype(np.float64))
    return out.astype(np.int16)


def analyse(
    blocks: Iterable[np.ndarray],
    *,
    sample_rate: int,
    clock_rate_hz: float,
    first_sample_t_ns: int,
    rules: SpeechRules | None = None,
) -> Voiceover:
    """Speech spans and levels of the voiceover given as consecutive int16 blocks of shape (n, channels)."""
    import webrtcvad

    rules = rules or SpeechRules()
    vad = webrtcvad.Vad(rules.aggressiveness)
    vad_rate = sample_rate if sample_rate in VAD_RATES else 16000
    frame = vad_rate * FRAME_MS // 1000
    level_n = max(1, round(sample_rate * LEVEL_WINDOW_NS / 1e9))
    out = Voiceover(level_t0_ns=first_sample_t_ns, level_step_ns=level_n * 1e9 / clock_rate_hz)
    pending = np.zeros(0, np.int16)  # detector input left over from the last block
    level_rest = np.zeros(0, np.int16)
    voiced: list[bool] = []
    sum_sq, peak = 0.0, 0
    for block in blocks:
        mono = block.mean(axis=1).astype(np.int16) if block.ndim == 2 and block.shape[1] > 1 else block.reshape(-1)
        out.samples += len(mono)
        wide = np.abs(mono.astype(np.int32))
        out.clipped += int(np.count_nonzero(wide >= CLIP))
        peak = max(peak, int(wide.max(initial=0)))
        sum_sq += float(np.square(mono.astype(np.float64)).sum())
        lv = np.concatenate([level_rest, mono])
        whole = len(lv) // level_n * level_n
        if whole:
            rms = np.sqrt(np.square(lv[:whole].astype(np.float64)).reshape(-1, level_n).mean(axis=1))
            out.level_dbfs.extend(round(dbfs(r), 1) for r in rms)
        level_rest = lv[whole:]
        det = np.concatenate([pending, mono if vad_rate == sample_rate else _resample(mono, sample_rate, vad_rate)])
        whole = len(det) // frame * frame
        for chunk in det[:whole].reshape(-1, frame):
            loud = dbfs(float(np.sqrt(np.square(chunk.astype(np.float64)).mean()))) >= rules.min_dbfs
            voiced.append(loud and vad.is_speech(chunk.tobytes(), vad_rate))
        pending = det[whole:]
    if out.samples:
        out.peak_dbfs = dbfs(float(peak))
        out.rms_dbfs = dbfs(float(np.sqrt(sum_sq / out.samples)))
    frame_ns = FRAME_MS * 1_000_000 * sample_rate / clock_rate_hz  # a detector frame on the session clock
    out.spans = _smooth(voiced, frame_ns, first_sample_t_ns, rules)
    return out


def _smooth(voiced: list[bool], frame_ns: float, t0_ns: int, rules: SpeechRules) -> list[tuple[int, int]]:
    """Voiced frames to spans: a run of at least min_speech_ns starts one; it ends hangover_ns after the last voiced
    frame (at that frame's end)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None  # frame index where the current span started
    last = -1  # the last voiced frame of the current span
    run = 0
    need = max(1, round(rules.min_speech_ns / frame_ns))
    hang = max(1, round(rules.hangover_ns / frame_ns))
    for i, v in enumerate(voiced):
        run = run + 1 if v else 0
        if start is None:
            if run >= need:
                start, last = i - run + 1, i
        elif v:
            last = i
        elif i - last >= hang:
            spans.append((start, last + 1))
            start = None
    if start is not None:
        spans.append((start, last + 1))
    return [(t0_ns + round(a * frame_ns), t0_ns + round(b * frame_ns)) for a, b in spans]

