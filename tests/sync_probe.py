"""End-to-end sync probe: flash the screen white, beep into the virtual microphone and click, all at the
same instant T, several times, and write what was done (and when) to JSON.

    DISPLAY=:99 PULSE_SERVER=unix:/.../native python tests/sync_probe.py --flashes 5 --out offsets.json

Every time is CLOCK_MONOTONIC in integer ns (``time.monotonic_ns``), the clock `trajrec record` stamps
with; it is system-wide, so the probe's times and a bundle's times compare directly.

- Screen: a full-screen override-redirect X window (no window manager is needed), black; at T its
  background turns white (ChangeWindowAttributes + ClearArea + a round trip), back to black later.
  Xvfb paints during request processing, so the screen is white somewhere in the bracket
  [sent_ns, synced_ns] of that round trip.
- Click: XTEST ButtonPress (+ round trip) right after the flash, ButtonRelease after the next round trip;
  bracketed the same way.
- Beep: a sounddevice OutputStream on the PulseAudio-backed PortAudio device. Its callback knows, from
  ``time_info.outputBufferDacTime``, when the block it fills will be played; PortAudio's time base here is
  the wall clock (the ALSA status time stamp), so it is mapped to CLOCK_MONOTONIC by an offset measured
  as ``stream.time - time.monotonic()`` (tightest of several back-to-back reads, re-measured before every
  flash). The beep's first sample is put at the sample of the block whose DAC time is T, so the planned
  residual is under one sample (21 us at 48 kHz) unless the block was already past T (``late_ns``). What
  "DAC time" means on this path is the pulse ALSA plugin's latency estimate (client buffer + sink
  latency): for a null sink, the moment the sink renders the sample, which is when its monitor (the
  virtual microphone) captures it. The residual of that estimate is reported as ``dac_wander_ns``: how
  far the DAC times reported block by block stray from "first DAC time + samples written", and
  ``arrival_mapping_diff_ns``: the DAC time mapped the other way (callback arrival + DAC - currentTime,
  as the recorder maps its ADC times) minus the offset mapping.

The probe does not know the recorder exists: the test (tests/test_sync_probe.py) compares these times
with what the recorder put in the bundle.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sounddevice as sd
from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest

SR = 48_000
BLOCK = 480


def now_ns() -> int:
    return time.monotonic_ns()


def wait_until(t_ns: int) -> int:
    """Sleep until 2 ms before `t_ns`, then spin: returns the first clock reading at or after it."""
    while True:
        left = t_ns - now_ns()
        if left <= 2_000_000:
            break
        time.sleep((left - 1_500_000) / 1e9)
    while (t := now_ns()) < t_ns:
        pass
    return t


@dataclass
class Bracket:
    """An X action: requests sent at `sent_ns`, the server's reply to the following round trip read at
    `synced_ns`; the server carried the action out in between."""

    sent_ns: int
    synced_ns: int

    @property
    def t_ns(self) -> int:
        return (self.sent_ns + self.synced_ns) // 2


@dataclass
class BeepPlan:
    """Where the callback put the beep's first sample, on the stream's sample count and in time."""

    first_sample: int  # index among all samples written to the stream
    dac_ns: int  # planned DAC time of that sample (offset mapping)
    arrival_dac_ns: int  # the same, mapped from the callback's arrival time instead
    late_ns: int  # > 0 when the block that should have carried T was already being played


@dataclass
class StreamLog:
    """What the output callback saw, for the residual report."""

    blocks: int = 0
    underflows: int = 0
    first_dac_ns: int | None = None
    samples: int = 0
    wander: list[int] = field(default_factory=list)  # DAC time - (first DAC time + samples written / rate)


class BeepScheduler:
    """PortAudio output callback that plays `beep` so that its first sample reaches the sink at each T."""

    def __init__(self, beep: np.ndarray) -> None:
        self.beep = beep.astype(np.float32)
        self.targets: tuple[int, ...] = ()  # set by the main thread (one atomic assignment)
        self.offset_ns = 0  # PortAudio time - monotonic time; set before the stream starts
        self.plans: dict[int, BeepPlan] = {}
        self.log = StreamLog()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def __call__(self, out: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        arrival = now_ns()
        try:
            self._fill(out, frames, time_info, status, arrival)
        except BaseException as e:  # keep it for the main thread; play silence
            out.fill(0)
            self.error = self.error or e
            raise sd.CallbackAbort from e

    def _fill(self, out: np.ndarray, frames: int, time_info: Any, status: Any, arrival: int) -> None:
        out.fill(0)
        log = self.log
        base = log.samples
        dac_pa = float(time_info.outputBufferDacTime)
        dac_ns = round(dac_pa * 1e9) - self.offset_ns
        arrival_dac_ns = arrival + round((dac_pa - float(time_info.currentTime)) * 1e9)
        log.blocks += 1
        if status.output_underflow:
            log.underflows += 1
        if dac_pa > 0:
            if log.first_dac_ns is None:
                log.first_dac_ns = dac_ns
            log.wander.append(dac_ns - (log.first_dac_ns + base * 1_000_000_000 // SR))
        with self.lock:
            for target in self.targets:
                if target in self.plans or dac_pa <= 0:
                    continue
                first = base + round((target - dac_ns) * SR / 1e9)
                if first >= base + frames:
                    continue  # a later block carries it
                late = 0
                if first < base:  # this block is already after T: play it now and say how late
                    late = (base - first) * 1_000_000_000 // SR
                    first = base
                offset = (first - base) * 1_000_000_000 // SR
                self.plans[target] = BeepPlan(first, dac_ns + offset, arrival_dac_ns + offset, late)
            for plan in self.plans.values():
                a, b = max(plan.first_sample, base), min(plan.first_sample + len(self.beep), base + frames)
                if a < b:
                    out[a - base : b - base, 0] = self.beep[a - plan.first_sample : b - plan.first_sample]
        log.samples = base + frames


def stream_offset_ns(stream: sd.OutputStream, tries: int = 5) -> tuple[int, int]:
    """(PortAudio stream time - monotonic time, bracket width) from the tightest of `tries` reads."""
    best: tuple[int, int] | None = None
    for _ in range(tries):
        m0 = now_ns()
        pa = stream.time
        m1 = now_ns()
        if best is None or m1 - m0 < best[1]:
            best = (round(pa * 1e9) - (m0 + m1) // 2, m1 - m0)
    assert best is not None
    return best


class Screen:
    """A full-screen override-redirect window, black or white, and XTEST clicks at one point."""

    def __init__(self) -> None:
        self.d = xdisplay.Display()
        if not self.d.has_extension("XTEST"):
            raise SystemExit("sync_probe: the X server lacks XTEST")
        s = self.d.screen()
        self.width, self.height = int(s.width_in_pixels), int(s.height_in_pixels)
        self.black, self.white = int(s.black_pixel), int(s.white_pixel)
        self.win = s.root.create_window(
            0,
            0,
            self.width,
            self.height,
            0,
            s.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=self.black,
            override_redirect=True,
            event_mask=X.ButtonPressMask | X.ButtonReleaseMask,
        )
        self.win.map()
        self.win.raise_window()
        self.point = (self.width // 2, self.height // 2)
        xtest.fake_input(self.d, X.MotionNotify, x=self.point[0], y=self.point[1])
        self.d.sync()

    def paint(self, white: bool) -> Bracket:
        t0 = now_ns()
        self.win.change_attributes(background_pixel=self.white if white else self.black)
        self.win.clear_area(0, 0, self.width, self.height)
        self.d.sync()
        return Bracket(t0, now_ns())

    def button(self, press: bool) -> Bracket:
        t0 = now_ns()
        xtest.fake_input(self.d, X.ButtonPress if press else X.ButtonRelease, 1)
        self.d.sync()
        return Bracket(t0, now_ns())

    def close(self) -> None:
        self.win.destroy()
        self.d.sync()
        self.d.close()


def tone(ms: float, freq: float, amplitude: float) -> np.ndarray:
    k = np.arange(round(SR * ms / 1000))
    return amplitude * np.sin(2 * np.pi * freq * k / SR)


def run(args: argparse.Namespace) -> dict[str, Any]:
    scheduler = BeepScheduler(tone(args.beep_ms, args.freq, args.amplitude))
    screen = Screen()
    stream = sd.OutputStream(
        device=args.device,
        samplerate=SR,
        channels=1,
        dtype="float32",
        blocksize=BLOCK,
        latency="low",
        callback=scheduler,
    )
    try:
        scheduler.offset_ns, _ = stream_offset_ns(stream)
        stream.start()
        deadline = now_ns() + 3_000_000_000
        while scheduler.log.first_dac_ns is None:  # the first block with a DAC time: the stream runs
            if now_ns() > deadline or scheduler.error is not None:
                raise SystemExit(f"sync_probe: the audio stream did not start ({scheduler.error})")
            time.sleep(0.005)
        offset, width = stream_offset_ns(stream)
        scheduler.offset_ns = offset
        start = now_ns() + round(args.lead * 1e9)
        targets = tuple(start + round(i * args.interval * 1e9) for i in range(args.flashes))
        with scheduler.lock:
            scheduler.targets = targets
        flashes: list[dict[str, Any]] = []
        offsets: list[tuple[int, int]] = [(offset, width)]
        for target in targets:
            # keep the wall-to-monotonic mapping fresh (a wall clock step would move PortAudio's times)
            wait_until(target - 150_000_000)
            offset, width = stream_offset_ns(stream)
            offsets.append((offset, width))
            if abs(offset - scheduler.offset_ns) > 1_000_000:
                scheduler.offset_ns = offset
            reached = wait_until(target)
            flash = screen.paint(True)
            down = screen.button(True)
            up = screen.button(False)
            wait_until(target + round(args.flash_ms * 1e6))
            black = screen.paint(False)
            flashes.append(
                {
                    "t_ns": target,
                    "reached_ns": reached,
                    "flash": asdict(flash) | {"t_ns": flash.t_ns},
                    "click": asdict(down) | {"t_ns": down.t_ns},
                    "release": asdict(up),
                    "black": asdict(black),
                }
            )
        wait_until(targets[-1] + round((args.beep_ms + 200) * 1e6))  # the last beep has been played
        if scheduler.error is not None:
            raise SystemExit(f"sync_probe: the audio callback failed: {scheduler.error!r}")
        latency = float(stream.latency)
    finally:
        stream.stop(ignore_errors=True)
        stream.close(ignore_errors=True)
        screen.close()
    log = scheduler.log
    for f in flashes:
        plan = scheduler.plans.get(f["t_ns"])
        if plan is None:
            raise SystemExit(f"sync_probe: the beep for T={f['t_ns']} was never scheduled")
        f["beep"] = asdict(plan) | {
            "residual_ns": plan.dac_ns - f["t_ns"],
            "arrival_mapping_diff_ns": plan.arrival_dac_ns - plan.dac_ns,
        }
    wander = log.wander[10:] or log.wander  # the first blocks prime the buffer
    return {
        "clock": "CLOCK_MONOTONIC ns (time.monotonic_ns)",
        "screen": {"width": screen.width, "height": screen.height, "click_at": list(screen.point)},
        "audio": {
            "device": args.device,
            "samplerate": SR,
            "blocksize": BLOCK,
            "latency_s": latency,
            "beep": {"ms": args.beep_ms, "freq_hz": args.freq, "amplitude": args.amplitude},
            "blocks": log.blocks,
            "underflows": log.underflows,
            "stream_minus_monotonic_ns": [o for o, _ in offsets],
            "offset_bracket_ns": max(w for _, w in offsets),
            "dac_wander_ns": {"min": min(wander), "median": int(statistics.median(wander)), "max": max(wander)},
        },
        "flashes": flashes,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--flashes", type=int, default=5)
    p.add_argument("--out", type=Path, required=True, help="write the JSON report here")
    p.add_argument("--interval", type=float, default=1.2, help="seconds between flashes (default 1.2)")
    p.add_argument("--lead", type=float, default=0.8, help="seconds from setup to the first flash (default 0.8)")
    p.add_argument("--flash-ms", type=float, default=300, help="how long the screen stays white (default 300)")
    p.add_argument("--beep-ms", type=float, default=60)
    p.add_argument("--freq", type=float, default=1000)
    p.add_argument("--amplitude", type=float, default=0.5)
    p.add_argument("--device", default="pulse", help="PortAudio output device (default: pulse)")
    args = p.parse_args(argv)
    if args.flashes < 1 or args.interval * 1000 < args.flash_ms + 200 or args.lead < 0.3:
        p.error("need --flashes >= 1, --interval at least --flash-ms + 200 ms, --lead >= 0.3 s")
    report = run(args)
    args.out.write_text(json.dumps(report, indent=2))
    for f in report["flashes"]:
        t = f["t_ns"]
        print(
            f"T={t}: flash +{(f['flash']['t_ns'] - t) / 1e6:.2f} ms, click +{(f['click']['t_ns'] - t) / 1e6:.2f} "
            f"ms, beep residual {f['beep']['residual_ns'] / 1e3:.1f} us (late {f['beep']['late_ns'] / 1e6:.1f} ms)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
