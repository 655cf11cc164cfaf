"""Voiceover source: a PortAudio input stream (python-sounddevice) whose blocks are stamped on the session
clock, copied and handed to `emit` as AudioChunk records.

The PortAudio callback runs on a real-time thread, so it only stamps, copies, enqueues (emit never blocks)
and counts; anything else happens downstream (recorder.writers.audio fills gaps by timestamp).

Timestamps. Each block is stamped with the session-clock time of its first sample, mapped from the
device's ADC capture time: ``t_ns = inputBufferAdcTime + offset``, where `offset` maps PortAudio's stream
time (on ALSA it is CLOCK_REALTIME-like) to the session clock. The offset is ``clock() - currentTime``
taken at the callback that ran with the least delay within the last two seconds (a running minimum):
the Python callback can run tens of ms after PortAudio read `currentTime` (it waits for the GIL, or for
the CPU under disk load), and stamping by arrival (``clock() - (currentTime - adc)``) moved single
blocks by 36-58 ms there, which the writer then took for lost audio. The minimum filter is immune to
late callbacks and still follows a slewing wall clock. When PortAudio gives no usable
times (zero, negative or at least 1 s apart) the block is stamped ``clock() - frames / samplerate``
(the arrival time minus the block's duration) and `fallback_timestamps` counts it.

What we measured here (Debian 12, PortAudio V19.6.0 ALSA host API -> ALSA ``pulse`` plugin -> PulseAudio
null-sink monitor, 48 kHz mono, blocksize 480, latency "low"): ADC times are present on every block and
usable; no fallback stamp occurred. currentTime - inputBufferAdcTime is 8-17 ms, a sawtooth that follows
how full the buffer is. Callbacks arrive with about 1.1 ms of jitter (0.03-13 ms apart), while the
ADC-mapped stamps step 10.00 ms on average with 0.2-0.7 ms spread; single steps occasionally range 2-18 ms
(the pulse plugin reports its delay in coarse steps), and over 20 s the stamps wander up to about 9 ms
from "first stamp + samples counted", without drift: below the writer's 20 ms gap threshold.
A 1 kHz burst played into the sink with pacat was stamped 5-15 ms (median 8 ms, 30 bursts) after the
session-clock time at which pacat was launched: pacat's start-up plus PulseAudio's playback path. Stamping
the same bursts by arrival time instead gave 7-15 ms (8 bursts): the callback thread's jitter. With two
CPU-bound processes on the 2 cores the ADC-mapped offset was 10-27 ms (median 12, 9 bursts).
tests/test_capture_audio.py prints the offsets it measures.

PortAudio enumerates devices once, when sounddevice is first imported; a device plugged in later is seen
only by a new process.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from recorder.capture.base import AudioChunk, Clock, Emit, Source
from recorder.errors import AudioDeviceError, CaptureError, FirstError

__all__ = [
    "PULSE_PREFIX",
    "AudioDeviceError",
    "AudioSource",
    "RunningMin",
    "list_input_devices",
    "pulse_sources",
    "resolve_device",
]

# ADC times further than this behind the callback's current time are not trusted.
MAX_ADC_LAG_S = 1.0
OFFSET_WINDOW_NS = 2_000_000_000  # the stream-time offset is the least delay seen within this long


class RunningMin:
    """Minimum of the values seen in the last `window_ns` (two buckets; O(1), no allocation per call)."""

    def __init__(self, window_ns: int) -> None:
        self.half = window_ns // 2
        self.bucket_start = 0
        self.current: int | None = None
        self.previous: int | None = None

    def update(self, now_ns: int, value: int) -> int:
        if self.current is None or now_ns - self.bucket_start >= self.half:
            self.previous, self.current, self.bucket_start = self.current, value, now_ns
        elif value < self.current:
            self.current = value
        return self.current if self.previous is None else min(self.current, self.previous)


def _sounddevice() -> ModuleType:
    """Import python-sounddevice lazily: it loads libportaudio2 at import time."""
    try:
        return importlib.import_module("sounddevice")
    except ImportError as e:
        raise CaptureError(
            f"python-sounddevice is not installed ({e}): pip install 'trajectory-recorder[desktop]'"
        ) from e
    except OSError as e:  # sounddevice raises OSError('PortAudio library not found')
        raise CaptureError(f"PortAudio is not available ({e}): install it (apt install libportaudio2)") from e


def _default_input(sd: ModuleType) -> int | None:
    try:
        index = int(sd.default.device[0])
    except (TypeError, ValueError, IndexError):
        return None
    return index if index >= 0 else None


def list_input_devices() -> list[dict[str, Any]]:
    """Every device with input channels: index, name, channels, default_samplerate, is_default."""
    sd = _sounddevice()
    default = _default_input(sd)
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as e:
        raise CaptureError(f"cannot list audio devices ({e}): check that the sound system is running") from e
    return [
        {
            "index": int(d["index"]),
            "name": str(d["name"]),
            "channels": int(d["max_input_channels"]),
            "default_samplerate": float(d["default_samplerate"]),
            "is_default": int(d["index"]) == default,
        }
        for d in devices
        if int(d["max_input_channels"]) > 0
    ]


def _describe(inputs: list[dict[str, Any]]) -> str:
    if not inputs:
        return "none (is the sound system running? on Linux, is PULSE_SERVER or the ALSA config right?)"
    return ", ".join(f"{d['index']} '{d['name']}'" + (" (default)" if d["is_default"] else "") for d in inputs)


PULSE_PREFIX = "pulse:"  # a device spec naming a PulseAudio source: "pulse:<source name>"
_chosen_source: list[str] = []  # the PULSE_SOURCE this process set (it is process-wide)


def pulse_sources() -> list[tuple[str, str]]:
    """(source name, its description) of each PulseAudio (or PipeWire-Pulse) input that is not a monitor of an
    output, from `pactl`; [] where there is no Pulse server or no pactl. Blocks up to 3 s."""
    import json
    import shutil
    import subprocess

    if shutil.which("pactl") is None:
        return []
    try:
        done = subprocess.run(
            ["pactl", "-f", "json", "list", "sources"], capture_output=True, text=True, timeout=3, check=True
        )
        sources = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    out = []
    for src in sources if isinstance(sources, list) else []:
        if not isinstance(src, dict) or not isinstance(src.get("name"), str):
            continue
        raw_props = src.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        if src.get("monitor_source_of_sink", src.get("monitor_of_sink", "n/a")) not in ("n/a", None, ""):
            continue
        if props.get("device.class") == "monitor":
            continue
        out.append((src["name"], str(src.get("description") or src["name"])))
    return out


def resolve_device(spec: str | int | None) -> int:
    """The PortAudio index of an input device given by index, by (case-insensitive) name or name part, or
    None for the default input. An exact name wins over a partial one; an ambiguous part is refused.
    "pulse:<source>" records that PulseAudio source through PortAudio's "pulse" device (PULSE_SOURCE)."""
    if isinstance(spec, str) and spec.startswith(PULSE_PREFIX):
        source = spec[len(PULSE_PREFIX) :]
        if source not in {name for name, _ in pulse_sources()}:
            raise AudioDeviceError(f"no PulseAudio input {source!r}: choose another microphone")
        index = resolve_device("pulse")
        os.environ["PULSE_SOURCE"] = source  # read by the ALSA pulse plugin when the stream opens
        _chosen_source.append(source)
        return index
    if _chosen_source and os.environ.get("PULSE_SOURCE") == _chosen_source[-1]:
        del os.environ["PULSE_SOURCE"]  # a source chosen earlier must not stick to the default device
    sd = _sounddevice()
    inputs = list_input_devices()
    if spec is None:
        default = _default_input(sd)
        if default is None or all(d["index"] != default for d in inputs):
            raise AudioDeviceError(
                f"there is no default audio input: choose one of: {_describe(inputs)} (or record with --no-audio)"
            )
        return default
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec.strip())
    if isinstance(spec, int):
        for d in inputs:
            if d["index"] == spec:
                return spec
        try:
            name = str(sd.query_devices(spec)["name"])
        except (sd.PortAudioError, ValueError):
            raise AudioDeviceError(f"no audio device {spec}: choose an input from: {_describe(inputs)}") from None
        raise AudioDeviceError(
            f"audio device {spec} '{name}' has no input channels: choose one of: {_describe(inputs)}"
        )
    wanted = spec.strip().casefold()
    exact = [d for d in inputs if d["name"].casefold() == wanted]
    if len(exact) == 1:
        return int(exact[0]["index"])
    partial = [d for d in inputs if wanted in d["name"].casefold()]
    if len(partial) == 1:
        return int(partial[0]["index"])
    if len(partial) > 1:
        raise AudioDeviceError(
            f"audio device '{spec}' is ambiguous, it matches {_describe(partial)}: give more of the name or the index"
        )
    outputs_only = [str(d["name"]) for d in sd.query_devices() if wanted in str(d["name"]).casefold()]
    if outputs_only:
        raise AudioDeviceError(
            f"audio device '{outputs_only[0]}' has no input channels: choose one of: {_describe(inputs)}"
        )
    raise AudioDeviceError(f"no audio input device matches '{spec}': choose one of: {_describe(inputs)}")


class AudioSource(Source):
    """Voiceover from a PortAudio input device, as int16 AudioChunks stamped on the session clock."""

    name = "audio"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[AudioChunk],
        *,
        device: str | int | None = None,
        samplerate: int = 48000,
        channels: int = 1,
        blocksize: int = 480,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        if samplerate <= 0 or channels <= 0 or blocksize <= 0:
            raise AudioDeviceError(
                f"audio samplerate {samplerate}, channels {channels}, blocksize {blocksize}: all must be positive"
            )
        self.clock = clock
        self.emit = emit
        self.device = device
        self.samplerate = samplerate
        self.channels = channels
        self.blocksize = blocksize
        self.paused = paused
        self.device_index: int | None = None  # resolved by start()
        self.device_name: str | None = None
        self._stream: Any = None
        self._abort: type[Exception] = Exception  # sounddevice.CallbackAbort, set by start()
        self._stopping = False
        self._errors = FirstError()  # raised inside the callback, or the stream ending on its own
        self._chunks = 0
        self._overflows = 0
        self._fallbacks = 0
        self._offset = RunningMin(OFFSET_WINDOW_NS)
        self._paused_blocks = 0

    # -- counters (written only by the callback thread) -------------------------------------------------
    @property
    def chunks(self) -> int:
        """Chunks handed to emit."""
        return self._chunks

    @property
    def overflows(self) -> int:
        """Blocks for which the device reported lost input (counted whether paused or not)."""
        return self._overflows

    @property
    def fallback_timestamps(self) -> int:
        """Blocks stamped from their arrival time because PortAudio gave no usable ADC time."""
        return self._fallbacks

    @property
    def paused_blocks(self) -> int:
        """Blocks dropped because paused() was true."""
        return self._paused_blocks

    @property
    def error(self) -> BaseException | None:
        """The first exception raised inside the callback (the stream was aborted); stop() re-raises it."""
        return self._errors.error

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._stream is not None:
            raise CaptureError("the audio source is already started: stop() it first")
        sd = _sounddevice()
        index = resolve_device(self.device)
        info = next(d for d in list_input_devices() if d["index"] == index)
        if self.channels > info["channels"]:
            raise AudioDeviceError(
                f"audio device {index} '{info['name']}' has {info['channels']} input channel(s), "
                f"{self.channels} asked: ask for at most {info['channels']}"
            )
        self._stopping = False
        self._errors.take()  # a new stream: what an earlier one left was reported by its stop()
        self._abort = sd.CallbackAbort
        try:
            stream = sd.InputStream(
                device=index,
                samplerate=self.samplerate,
                channels=self.channels,
                blocksize=self.blocksize,
                dtype="int16",
                latency="low",
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (sd.PortAudioError, ValueError) as e:
            raise CaptureError(
                f"cannot open audio device {index} '{info['name']}' at {self.samplerate} Hz, {self.channels} ch "
                f"({e}): try another device, rate or channel count"
            ) from e
        try:
            stream.start()
        except sd.PortAudioError as e:
            stream.close(ignore_errors=True)
            raise CaptureError(f"cannot start audio device {index} '{info['name']}' ({e}): try another device") from e
        self.device_index = index
        self.device_name = str(info["name"])
        self._stream = stream

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's real-time thread: stamp, copy, emit, count; nothing that can block."""
        now = self.clock()
        try:
            if status.input_overflow:
                self._overflows += 1
            if self.paused():
                self._paused_blocks += 1
                return
            current, adc = time_info.currentTime, time_info.inputBufferAdcTime
            lag = current - adc
            if current and adc and 0.0 <= lag < MAX_ADC_LAG_S:
                t_ns = round(adc * 1e9) + self._offset.update(now, now - round(current * 1e9))
            else:
                t_ns = now - frames * 1_000_000_000 // self.samplerate
                self._fallbacks += 1
            self.emit(AudioChunk(t_ns, indata.copy(), overflow=bool(status.input_overflow)))
            self._chunks += 1
        except BaseException as e:  # kept for stop(); a failing callback must not vanish into stderr
            self._errors.keep(e)
            raise self._abort from e

    def _finished(self) -> None:
        """Called by PortAudio when the stream ends: after stop(), an abort, or the device going away."""
        if not self._stopping:  # kept only if nothing failed before (keep() holds the first)
            self._errors.keep(
                CaptureError(
                    "the audio input stopped on its own (device unplugged or sound server gone?): "
                    "check the microphone and start a new recording"
                )
            )

    def stop(self) -> None:
        """Stop and close the stream; re-raise (as CaptureError) an error raised inside the callback."""
        stream, self._stream = self._stream, None
        if stream is not None:
            self._stopping = True
            try:
                stream.stop(ignore_errors=True)
            finally:
                stream.close(ignore_errors=True)
        self._errors.raise_first("the audio callback", passthrough=CaptureError)
