"""The voiceover source against a real PulseAudio virtual microphone: what is played into the sink `vsink`
comes back through PortAudio, with its level, its timing on the session clock, pauses and errors."""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recorder.capture.audio import AudioSource, list_input_devices, resolve_device
from recorder.capture.base import AudioChunk
from recorder.clock import SessionClock
from recorder.errors import CaptureError, UsageError
from tests.helpers.harness import Microphone

SR = 48000
BLOCK = 480
BLOCK_NS = BLOCK * 1_000_000_000 // SR
clock = SessionClock.now_ns


def write_raw(path: Path, signal: np.ndarray) -> Path:
    """Mono float signal in [-1, 1] -> raw s16le file for pacat."""
    np.round(signal * 32767).astype("<i2").tofile(path)
    return path


def tone(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return amplitude * np.sin(2 * np.pi * freq * t)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SR))


def play(mic: Microphone, raw: Path) -> None:
    """Play a raw file into the virtual speaker and wait until it has been played (pacat drains)."""
    subprocess.run(
        [
            "pacat",
            "-p",
            "-d",
            mic.sink,
            "--latency-msec=10",
            "--raw",
            "--format=s16le",
            f"--rate={SR}",
            "--channels=1",
            str(raw),
        ],
        env={**os.environ, **mic.env},
        check=True,
        timeout=10,
    )


def collector() -> tuple[list[AudioChunk], Callable[[object], None]]:
    chunks: list[AudioChunk] = []

    def emit(record: object) -> None:
        assert isinstance(record, AudioChunk)
        chunks.append(record)

    return chunks, emit


def timeline(chunks: list[AudioChunk]) -> tuple[np.ndarray, np.ndarray]:
    """Every captured sample (float, first channel) with its session-clock time."""
    values = np.concatenate([c.samples[:, 0] for c in chunks]).astype(np.float64) / 32768
    times = np.concatenate([c.t_ns + np.arange(len(c.samples), dtype=np.int64) * 1_000_000_000 // SR for c in chunks])
    return values, times


def test_tone_level_and_steady_timestamps(microphone: Microphone, tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "tone.raw", tone(440, 1.2, 0.5))
    chunks, emit = collector()
    src = AudioSource(clock, emit, samplerate=SR, blocksize=BLOCK)
    src.start()
    try:
        time.sleep(0.1)
        play(microphone, raw)
        time.sleep(0.15)
    finally:
        src.stop()

    assert src.chunks == len(chunks) > 100
    assert src.overflows == 0
    # On this path PortAudio gives an ADC time with every block (see recorder/capture/audio.py).
    assert src.fallback_timestamps == 0
    assert all(c.samples.dtype == np.int16 and c.samples.shape == (BLOCK, 1) for c in chunks)
    assert not any(c.overflow for c in chunks)

    # Level: RMS over the blocks that carry the tone, without its first and last few blocks.
    rms = [float(np.sqrt(np.mean((c.samples[:, 0] / 32768) ** 2))) for c in chunks]
    loud = [i for i, r in enumerate(rms) if r > 0.05]
    assert len(loud) >= 100, f"only {len(loud)} blocks carry the 1.2 s tone"
    body = np.concatenate([chunks[i].samples[:, 0] for i in loud[3:-3]]) / 32768
    assert float(np.sqrt(np.mean(body**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.10)

    # Timestamps: strictly increasing, one block apart on average. Single steps wander (measured 2-18 ms
    # around 10 ms over 20 s: the pulse plugin reports its delay coarsely), so each step only has to be
    # positive and under two blocks; what matters to the writer is the accumulated deviation from
    # "first stamp + n blocks", which must stay under its 20 ms gap threshold (measured: under 9 ms).
    t = np.array([c.t_ns for c in chunks], dtype=np.int64)
    steps = np.diff(t)
    assert steps.min() > 0 and steps.max() < 2 * BLOCK_NS, f"steps {steps.min() / 1e6}..{steps.max() / 1e6} ms"
    assert abs(float(steps.mean()) - BLOCK_NS) < 0.05 * BLOCK_NS
    drift = t - t[0] - np.arange(len(t)) * BLOCK_NS
    assert np.abs(drift).max() < 15_000_000, f"stamps wander {np.abs(drift).max() / 1e6:.1f} ms from the sample count"


def test_burst_onset_lands_at_the_playback_time(
    microphone: Microphone, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = 0.3
    raw = write_raw(tmp_path / "burst.raw", np.concatenate([silence(lead), tone(1000, 0.05), silence(0.1)]))
    chunks, emit = collector()
    src = AudioSource(clock, emit, samplerate=SR, blocksize=BLOCK)
    starts: list[int] = []
    src.start()
    try:
        time.sleep(0.1)
        for _ in range(3):
            starts.append(clock())  # right before launching the player
            play(microphone, raw)
        time.sleep(0.1)
    finally:
        src.stop()
    assert src.overflows == 0 and src.fallback_timestamps == 0

    values, times = timeline(chunks)
    loud = np.abs(values) > 0.1
    offsets_ms = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else int(times[-1]) + 1
        hits = times[loud & (times >= start - 100_000_000) & (times < end)]
        assert len(hits), f"burst {k} was not heard"
        offsets_ms.append((int(hits[0]) - (start + round(lead * 1e9))) / 1e6)
    with capsys.disabled():
        print(
            f"\naudio onset - playback time (ms): {', '.join(f'{o:.1f}' for o in offsets_ms)}; "
            f"median {statistics.median(offsets_ms):.1f}, max {max(offsets_ms):.1f}"
        )

    # The offset is pacat's start-up plus PulseAudio's playback path. Measured here with ADC-mapped stamps:
    # 5-15 ms, median 8 ms (arrival-time stamps gave 7-15 ms; with both cores kept busy, 10-27 ms). It cannot
    # be negative (a sound is not heard before it is played) beyond the ~2 ms steps in which the pulse
    # plugin reports its delay, hence -5 ms. 60 ms leaves room for a slow pacat start on a loaded 2-core
    # machine (more than twice the worst seen) while still failing a mapping error of several buffers; the
    # printed line is what to quote against the 33 ms sync target. A mapping error shifts every burst alike, so
    # the median is held to that bound; a single pacat start delayed by a loaded machine (108 ms seen once, with
    # the other two at 19 and 45 ms) is not a stamping error, so each burst only has to be heard within 250 ms.
    assert -5 < statistics.median(offsets_ms) < 60, offsets_ms
    assert all(-5 < o < 250 for o in offsets_ms), offsets_ms


def test_paused_drops_blocks(microphone: Microphone) -> None:
    paused = True
    chunks, emit = collector()
    src = AudioSource(clock, emit, paused=lambda: paused)
    src.start()
    try:
        time.sleep(0.3)
        assert src.chunks == 0 and not chunks
        assert src.paused_blocks >= 10
        paused = False
        time.sleep(0.3)
        paused = True
        time.sleep(0.05)  # a block already past the paused() check may still land
        emitted = src.chunks
        time.sleep(0.25)
        assert src.chunks == emitted, "blocks were emitted while paused"
    finally:
        src.stop()
    assert 10 <= emitted == len(chunks) <= 45


def test_input_devices_and_bad_names(microphone: Microphone) -> None:
    inputs = list_input_devices()
    names = [d["name"] for d in inputs]
    assert "pulse" in names and "default" in names
    assert sum(d["is_default"] for d in inputs) == 1
    assert all(d["channels"] > 0 and d["default_samplerate"] > 0 for d in inputs)
    pulse = next(d["index"] for d in inputs if d["name"] == "pulse")
    assert resolve_device("PULSE") == pulse
    assert resolve_device(pulse) == pulse
    assert resolve_device(str(pulse)) == pulse
    assert resolve_device(None) == next(d["index"] for d in inputs if d["is_default"])

    with pytest.raises(CaptureError) as e:
        AudioSource(clock, lambda _: None, device="no-such-microphone").start()
    msg = str(e.value)
    assert isinstance(e.value, UsageError)  # trajrec exits 2: the user asked for a device that is not there
    assert "\n" not in msg
    assert "no-such-microphone" in msg and "'pulse'" in msg and "'default'" in msg

    with pytest.raises(CaptureError, match=r"no audio device 999: choose an input from: .*'pulse'"):
        AudioSource(clock, lambda _: None, device=999).start()


def test_missing_portaudio_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_portaudio(name: str, package: str | None = None) -> object:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_portaudio)
    with pytest.raises(CaptureError, match=r"PortAudio is not available .*apt install libportaudio2"):
        AudioSource(clock, lambda _: None).start()


def test_callback_error_surfaces_from_stop(microphone: Microphone) -> None:
    def emit(_: object) -> None:
        raise ValueError("queue exploded")

    src = AudioSource(clock, emit)
    src.start()
    deadline = time.monotonic() + 2
    while src.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(CaptureError, match="audio callback failed: ValueError: queue exploded") as e:
        src.stop()
    assert isinstance(e.value.__cause__, ValueError)
    assert src.chunks == 0  # the stream was aborted at the first failure
    src.stop()  # the error was handed over once; stopping again is a no-op


def test_running_min_follows_the_least_delay() -> None:
    from recorder.capture.audio import RunningMin

    m = RunningMin(2_000)
    assert m.update(0, 50) == 50
    assert m.update(100, 80) == 50  # a late callback does not move the offset
    assert m.update(200, 40) == 40
    assert m.update(1_100, 45) == 40  # new bucket, the previous one still counts
    assert m.update(2_200, 47) == 45  # the oldest bucket has aged out: a slewing clock is followed


def test_microphones_by_their_sound_server_names_and_the_chosen_one_is_recorded(
    microphone: Microphone, tmp_path: Path
) -> None:
    from recorder.app.setup.devices import microphone_choices

    def pactl(*args: str) -> str:
        env = {**os.environ, **microphone.env}
        return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, check=True).stdout.strip()

    modules = [
        pactl("load-module", "module-null-sink", "sink_name=vsink2"),
        pactl(
            "load-module", "module-remap-source", "master=vsink2.monitor", "source_name=vmic2",
            "source_properties=device.description=SecondMic",
        ),
    ]  # fmt: skip
    try:
        choices = microphone_choices()
        assert ("VirtualMic", "pulse:vmic") in choices and ("SecondMic", "pulse:vmic2") in choices
        assert not {"pulse", "default"} & {text for text, _ in choices}  # no PortAudio aliases
        assert not any("monitor" in (device or "") for _, device in choices)  # outputs' monitors are not inputs
        raw = write_raw(tmp_path / "tone.raw", tone(440, 0.8, 0.5))
        levels = {}
        for device in ("pulse:vmic2", "pulse:vmic"):  # the tone is played into the first microphone's sink only
            chunks, emit = collector()
            src = AudioSource(clock, emit, samplerate=SR, blocksize=BLOCK, device=device)
            src.start()
            try:
                time.sleep(0.1)
                play(microphone, raw)
                time.sleep(0.15)
            finally:
                src.stop()
            levels[device] = max(float(np.sqrt(np.mean((c.samples[:, 0] / 32768) ** 2))) for c in chunks)
        assert levels["pulse:vmic"] > 0.2 and levels["pulse:vmic2"] < 0.01, levels
        with pytest.raises(CaptureError, match="no PulseAudio input 'nope'"):
            AudioSource(clock, lambda _: None, device="pulse:nope").start()
        resolve_device(None)  # the default microphone again: the chosen source does not stick
        assert "PULSE_SOURCE" not in os.environ
    finally:
        for module in reversed(modules):
            pactl("unload-module", module)
        os.environ.pop("PULSE_SOURCE", None)
