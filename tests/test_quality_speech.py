"""The voiceover's speech spans and levels (trajrec.quality.speech) on real synthesised speech (espeak-ng), placed
at known times in quiet noise with keyboard clicks between the phrases."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from trajrec.quality.speech import SILENT_DBFS, SpeechRules, analyse

S = 1_000_000_000
T0 = 7 * S  # the first sample's session time
PHRASES = ((1.0, "Now I open the settings and pick the second entry."), (7.0, "Then I save the file."))

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by scripts/setup.sh")


def _voice(tmp_path: Path, words: str, rate: int) -> np.ndarray:
    wav = tmp_path / "w.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(wav), words], check=True, capture_output=True)
    data, sr = sf.read(wav, dtype="float64")
    n = int(len(data) * rate / sr)
    return np.interp(np.arange(n) * sr / rate, np.arange(len(data)), data)


def _recording(tmp_path: Path, rate: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """12 s at `rate`: noise at -70 dBFS, the two phrases at -12 dBFS peak, three 15 ms keyboard clicks at 4-5 s."""
    rng = np.random.default_rng(1)
    out = rng.normal(0, 10, 12 * rate)
    truth = []
    for at, words in PHRASES:
        v = _voice(tmp_path, words, rate)
        v = v / np.abs(v).max() * 8000
        i = int(at * rate)
        out[i : i + len(v)] += v
        loud = np.flatnonzero(np.abs(v) > 300)
        truth.append((at + loud[0] / rate, at + loud[-1] / rate))
    for at in (4.0, 4.4, 4.9):
        i = int(at * rate)
        out[i : i + int(0.015 * rate)] += rng.normal(0, 1500, int(0.015 * rate))
    return np.clip(out, -32768, 32767).astype(np.int16).reshape(-1, 1), truth


@pytest.mark.parametrize("rate", [48000, 44100])
def test_speech_spans_follow_the_phrases_not_the_clicks(tmp_path: Path, rate: int) -> None:
    pcm, truth = _recording(tmp_path, rate)
    blocks = (pcm[i : i + 4096] for i in range(0, len(pcm), 4096))  # odd block sizes: frames straddle them
    v = analyse(blocks, sample_rate=rate, clock_rate_hz=rate, first_sample_t_ns=T0)
    got = [((a - T0) / S, (b - T0) / S) for a, b in v.spans]
    assert len(got) == len(truth), got
    for (a, b), (ta, tb) in zip(got, truth, strict=True):
        assert abs(a - ta) < 0.25 and tb - 0.1 < b < tb + 0.6, (got, truth)
    assert v.samples == len(pcm) and v.clipped == 0
    assert -20 < v.peak_dbfs < -10 and len(v.level_dbfs) == 120
    assert 0.3 < v.silent_share() < 0.8  # the noise is under SILENT_DBFS, the phrases are not
    assert min(v.level_dbfs) < SILENT_DBFS < max(v.level_dbfs)


def test_the_device_clock_places_spans_and_clipping_is_counted(tmp_path: Path) -> None:
    pcm, truth = _recording(tmp_path, 16000)
    loud = np.clip(pcm.astype(np.int32) * 8, -32768, 32767).astype(np.int16)
    fast = analyse([loud], sample_rate=16000, clock_rate_hz=16000 * 1.01, first_sample_t_ns=T0)
    assert fast.clipped > 100 and fast.peak_dbfs > -0.1
    (a, _), (b, _) = fast.spans
    assert abs((a - T0) / S - truth[0][0] / 1.01) < 0.25 and abs((b - T0) / S - truth[1][0] / 1.01) < 0.25


def test_silence_and_the_rules(tmp_path: Path) -> None:
    quiet = np.zeros((48000 * 3, 2), np.int16)
    v = analyse([quiet], sample_rate=48000, clock_rate_hz=48000, first_sample_t_ns=0)
    assert v.spans == [] and v.silent_share() == 1.0 and v.rms_dbfs < -100
    pcm, _ = _recording(tmp_path, 16000)
    strict = analyse([pcm], sample_rate=16000, clock_rate_hz=16000, first_sample_t_ns=0,
                     rules=SpeechRules(hangover_ns=30_000_000))  # fmt: skip
    assert len(strict.spans) > 2  # without the hangover, pauses between words split the phrases
