"""End-to-end sync probe: flash the screen white, beep into the virtual microphone and click, all at the
same instant T, several times, and write what was done (and when) to JSON.

    DISPLAY=:99 PULSE_SERVER=unix:/.../native python tests/helpers/sync_probe.py --flashes 5 --out offsets.json

Every time is CLOCK_MONOTONIC in integer ns (``time.monotonic_ns``), the clock `trajrec record` stamps
with; it is system-wide, so the probe's times and a bundle's times compare directly.

- Screen and click: a full-screen override-redirect X window (no window manager is needed), black. At T
  the probe sends, as one batch, ChangeWindowAttributes (background white) + ClearArea + an XTEST
  ButtonPress of the left button at the screen's centre, then waits for a round trip. The server carries
  out the batch back to back (Xvfb paints while it processes the request), so screen and button change
  within microseconds of each other, somewhere in the bracket [sent_ns, synced_ns]. The ButtonPress event
  our window receives carries the X server time, which on Xvfb is CLOCK_MONOTONIC in whole ms: that narrows
  the bracket to at most 1 ms (``server_ns``; ``t_ns`` is the middle of what is left), which matters on a
  loaded machine where the round trip also holds the X server's and our own scheduling delays.
  ButtonRelease follows at once, black 300 ms later.
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
- Grabs (``--align-fps 30``): a second X connection records other clients' GetImage / ShmGetImage requests
  (X RECORD), i.e. the recorder's screen grabs, stamped on arrival. The grabber ticks on a fixed grid, so
  the probe can put every T half-way between two grabs (then the first white frame is due ~half a frame
  interval after T rather than anywhere in 0..1 interval), and it reports the grabs just before and after
  each flash.

A flash is "valid" when the probe kept time: flash and click done (the latest they can have been carried
out) within --on-time-ms of T, and the beep's block filled before T. Late flashes are kept in the report,
and the probe adds flashes (up to --retries) until --flashes valid ones were made; exit status 1 if it
could not.

Measured here (Debian 12, Xvfb, PulseAudio null sink at 44.1 kHz fed at 48 kHz, 2 cores): flash+click
done 0.3-1.5 ms after T when idle (round trips up to ~15 ms with other load: the X server's scheduling);
planned beep residual within +-10 us; the DAC times fall behind "first + samples written" by ~0.28 ms per
second (this path's 48 kHz runs ~280 ppm fast against CLOCK_MONOTONIC, on capture too), so each beep is
placed by its own block's DAC time; the arrival mapping agrees with the offset mapping to 0.1 ms (median)
but moves by the full length of any stall of the callback thread (GIL held elsewhere), which the offset
mapping does not. Captured by the recorder's AudioSource and timed by each block's own stamp, the beep's
first sample lands 0-5 ms after T (20 beeps over 30 s).

The probe does not know the recorder exists: the test (tests/test_sync_probe.py) compares these times
with what the recorder put in the bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sounddevice as sd  # type: ignore[import-untyped]
from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib.ext import record, xtest  # type: ignore[import-untyped]

SR = 48_000
BLOCK = 480


def now_ns() -> int:
    return time.monotonic_ns()


def wait_until(t_ns: int) -> int:
    """Sleep until 2 ms before `t_ns`, then spin (a deadline, not a fixed sleep: a late wake-up is not added
    to the next wait); returns the first clock reading at or after it."""
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
    `synced_ns`; the server carried the action out in between. For a button press, `server_ns` narrows it
    down: the X server time of the ButtonPress event our window got (Xvfb's server time is CLOCK_MONOTONIC
    in whole ms), i.e. the start of the ms in which the server processed it."""

    sent_ns: int
    synced_ns: int
    server_ns: int | None = None

    def span(self) -> tuple[int, int]:
        """When the server carried the action out: the bracket, narrowed to the server's ms if that fits it."""
        if self.server_ns is not None:
            lo, hi = max(self.sent_ns, self.server_ns), min(self.synced_ns, self.server_ns + 1_000_000)
            if lo <= hi:
                return lo, hi
        return self.sent_ns, self.synced_ns

    @property
    def t_ns(self) -> int:
        """Best estimate of when the server carried the action out."""
        lo, hi = self.span()
        return (lo + hi) // 2


def server_time_ns(server_ms: int, near_ns: int) -> int:
    """An X server timestamp (32-bit ms of CLOCK_MONOTONIC) as monotonic ns, unwrapped near `near_ns`."""
    here_ms = near_ns // 1_000_000
    diff = (server_ms - here_ms) % (1 << 32)
    if diff >= 1 << 31:
        diff -= 1 << 32
    return (here_ms + diff) * 1_000_000


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
    arrival_diff: list[int] = field(default_factory=list)  # DAC time mapped from arrival - offset-mapped DAC time


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
            log.arrival_diff.append(arrival_dac_ns - dac_ns)
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


class GrabWatcher:
    """Watch other clients' screen grabs (core GetImage and MIT-SHM ShmGetImage requests) through the X RECORD
    extension, each stamped when its record reaches us (just after the server read the request)."""

    GET_IMAGE = 73  # X_GetImage
    SHM_GET_IMAGE = 4  # X_ShmGetImage (MIT-SHM minor opcode)

    def __init__(self) -> None:
        self.times: list[int] = []
        self._record = xdisplay.Display()
        self._control = xdisplay.Display()
        if not self._record.has_extension("RECORD"):
            raise SystemExit("sync_probe: the X server lacks RECORD (needed by --align-fps)")
        shm = self._record.query_extension("MIT-SHM")
        major = shm.major_opcode if shm is not None else 0
        minor = self.SHM_GET_IMAGE if shm is not None else 0
        self._context = self._record.record_create_context(
            0,
            [record.AllClients],
            [
                {
                    "core_requests": (self.GET_IMAGE, self.GET_IMAGE),
                    "core_replies": (0, 0),
                    "ext_requests": (major, major, minor, minor),
                    "ext_replies": (0, 0, 0, 0),
                    "delivered_events": (0, 0),
                    "device_events": (0, 0),
                    "errors": (0, 0),
                    "client_started": False,
                    "client_died": False,
                }
            ],
        )
        self._thread = threading.Thread(target=self._run, name="grab-watcher", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._record.record_enable_context(self._context, self._on_reply)
        except BaseException as e:  # reported by stop()
            self.error = e

    def _on_reply(self, reply: Any) -> None:
        t = now_ns()
        if reply.category == record.FromClient:
            self.times.append(t)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._control.record_disable_context(self._context)
        self._control.sync()
        self._thread.join(2)
        with contextlib.suppress(Exception):
            self._record.record_free_context(self._context)
        for d in (self._record, self._control):
            with contextlib.suppress(Exception):
                d.close()

    def grid(self, period_ns: int) -> int | None:
        """A time on the grabber's tick grid (ticks every `period_ns`), or None with too few grabs seen.
        The grabber keeps one fixed grid (skipped ticks do not move it); what we see is each tick plus its
        wake-up and request latency, so the median of the folded times marks the grid."""
        times = list(self.times)
        if len(times) < 8:
            return None
        ref = times[-1]
        folded = [(t - ref + period_ns // 2) % period_ns - period_ns // 2 for t in times]
        return ref + int(statistics.median(folded))

    def around(self, sent_ns: int, synced_ns: int) -> tuple[int | None, int | None]:
        """The last grab seen before `sent_ns` and the first seen after `synced_ns`."""
        before = [t for t in self.times if t < sent_ns]
        after = [t for t in self.times if t > synced_ns]
        return (before[-1] if before else None), (after[0] if after else None)


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

    def _paint(self, white: bool) -> None:
        self.win.change_attributes(background_pixel=self.white if white else self.black)
        self.win.clear_area(0, 0, self.width, self.height)

    def flash_and_press(self) -> Bracket:
        """Screen white and left button down, sent as one batch with one round trip: the server carries out
        both back to back (microseconds apart), so they are as simultaneous as X allows whatever its load."""
        t0 = now_ns()
        self._paint(True)
        xtest.fake_input(self.d, X.ButtonPress, 1)
        self.d.sync()
        t1 = now_ns()
        server = None
        while self.d.pending_events():
            event = self.d.next_event()
            if event.type == X.ButtonPress:
                server = server_time_ns(int(event.time), t0)
        return Bracket(t0, t1, server)

    def release(self) -> Bracket:
        t0 = now_ns()
        xtest.fake_input(self.d, X.ButtonRelease, 1)
        self.d.sync()
        return Bracket(t0, now_ns())

    def darken(self) -> Bracket:
        t0 = now_ns()
        self._paint(False)
        self.d.sync()
        return Bracket(t0, now_ns())

    def close(self) -> None:
        self.win.destroy()
        self.d.sync()
        self.d.close()


def tone(ms: float, freq: float, amplitude: float) -> np.ndarray:
    k = np.arange(round(SR * ms / 1000))
    return amplitude * np.sin(2 * np.pi * freq * k / SR)


def _spread(values: list[int]) -> dict[str, int] | None:
    return {"min": min(values), "median": int(statistics.median(values)), "max": max(values)} if values else None


def _aligned(t_ns: int, grid_ns: int | None, period_ns: int) -> int:
    """`t_ns` moved to the next instant half-way between two of the grabber's ticks (unchanged without a grid)."""
    if grid_ns is None:
        return t_ns
    k = -((grid_ns + period_ns // 2 - t_ns) // period_ns)  # ceil((t - grid - period/2) / period)
    return grid_ns + period_ns // 2 + k * period_ns


def run(args: argparse.Namespace) -> dict[str, Any]:
    scheduler = BeepScheduler(tone(args.beep_ms, args.freq, args.amplitude))
    screen = Screen()
    watcher = GrabWatcher() if args.align_fps else None
    period_ns = round(1e9 / args.align_fps) if args.align_fps else 0
    stream = sd.OutputStream(
        device=args.device,
        samplerate=SR,
        channels=1,
        dtype="float32",
        blocksize=BLOCK,
        latency=args.latency,
        callback=scheduler,
    )
    flashes: list[dict[str, Any]] = []
    offsets: list[tuple[int, int]] = []
    grid: int | None = None
    try:
        if watcher is not None:
            watcher.start()
        scheduler.offset_ns, _ = stream_offset_ns(stream)  # PortAudio's ALSA time is the wall clock: valid now
        stream.start()
        deadline = now_ns() + 3_000_000_000
        while scheduler.log.first_dac_ns is None:  # the first block with a DAC time: the stream runs
            if now_ns() > deadline or scheduler.error is not None:
                raise SystemExit(f"sync_probe: the audio stream did not start ({scheduler.error})")
            time.sleep(0.005)
        if watcher is not None:  # 12 grabs at the expected rate, or give up on alignment after 1.5 s
            deadline = now_ns() + 1_500_000_000
            while len(watcher.times) < 12 and now_ns() < deadline:
                time.sleep(0.01)
            grid = watcher.grid(period_ns)
        offsets.append(stream_offset_ns(stream))
        scheduler.offset_ns = offsets[-1][0]
        target = _aligned(now_ns() + round(args.lead * 1e9), grid, period_ns)
        valid = 0
        while valid < args.flashes and len(flashes) < args.flashes + args.retries:
            with scheduler.lock:  # announced >= lead ahead: the callback places the beep when its block comes
                scheduler.targets = (*scheduler.targets, target)
            # keep the wall-to-monotonic mapping fresh (a wall clock step would move PortAudio's times)
            wait_until(target - 150_000_000)
            offsets.append(stream_offset_ns(stream))
            if abs(offsets[-1][0] - scheduler.offset_ns) > 1_000_000:
                scheduler.offset_ns = offsets[-1][0]
            reached = wait_until(target)
            action = screen.flash_and_press()
            up = screen.release()
            with scheduler.lock:
                plan = scheduler.plans.get(target)
            problems = []
            done_by = action.span()[1]  # the latest the server can have done it
            if done_by - target > args.on_time_ms * 1e6:
                problems.append(f"flash and click done {(done_by - target) / 1e6:.1f} ms after T")
            if plan is None or plan.late_ns > 0:
                problems.append("beep late" if plan else "beep not placed by T")
            valid += not problems
            wait_until(target + round(args.flash_ms * 1e6))
            black = screen.darken()
            done = asdict(action) | {"t_ns": action.t_ns, "done_by_ns": done_by}
            flashes.append(
                {
                    "t_ns": target,
                    "valid": not problems,
                    "problems": problems,
                    "reached_ns": reached,
                    "flash": done,
                    "click": done,
                    "release": asdict(up),
                    "black": asdict(black),
                }
            )
            target = _aligned(target + round(args.interval * 1e9), grid, period_ns)
        wait_until(flashes[-1]["t_ns"] + round((args.beep_ms + 200) * 1e6))  # the last beep has been played
        if scheduler.error is not None:
            raise SystemExit(f"sync_probe: the audio callback failed: {scheduler.error!r}")
        latency = float(stream.latency)
    finally:
        stream.stop(ignore_errors=True)
        stream.close(ignore_errors=True)
        if watcher is not None:
            watcher.stop()
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
        if watcher is not None:
            before, after = watcher.around(f["flash"]["sent_ns"], f["flash"]["synced_ns"])
            f["grabs"] = {"before_ns": before, "after_ns": after}
    wander = log.wander[10:] or log.wander  # the first blocks prime the buffer
    grabs: dict[str, Any] = {"watched": watcher is not None}
    if watcher is not None:
        seen = watcher.times
        steps = [b - a for a, b in itertools.pairwise(seen)]
        grabs |= {
            "aligned": grid is not None,
            "period_ns": period_ns,
            "grid_ns": grid,
            "seen": len(seen),
            "step_ns": _spread(steps),
            "error": None if watcher.error is None else repr(watcher.error),
        }
    return {
        "clock": "CLOCK_MONOTONIC ns (time.monotonic_ns)",
        "screen": {"width": screen.width, "height": screen.height, "click_at": list(screen.point)},
        "grabs": grabs,
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
            "dac_wander_ns": _spread(wander),
            "arrival_mapping_diff_ns": _spread(log.arrival_diff),
        },
        "flashes": flashes,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--flashes", type=int, default=5, help="on-time flashes wanted (default 5)")
    p.add_argument("--out", type=Path, required=True, help="write the JSON report here")
    p.add_argument("--interval", type=float, default=1.2, help="seconds between flashes (default 1.2)")
    p.add_argument("--lead", type=float, default=0.5, help="seconds from setup to the first flash (default 0.5)")
    p.add_argument("--flash-ms", type=float, default=300, help="how long the screen stays white (default 300)")
    p.add_argument("--beep-ms", type=float, default=60)
    p.add_argument("--freq", type=float, default=1000)
    p.add_argument("--amplitude", type=float, default=0.5)
    p.add_argument(
        "--on-time-ms",
        type=float,
        default=5.0,
        help="a flash counts only if flash and click were done within this of T and the beep was not late (default 5)",
    )
    p.add_argument("--retries", type=int, default=5, help="extra flashes allowed to replace late ones (default 5)")
    p.add_argument(
        "--latency",
        type=float,
        default=0.1,
        help="output latency asked of PortAudio, s (default 0.1: rides out a loaded machine; the beep is "
        "placed by DAC time whatever the latency)",
    )
    p.add_argument("--device", default="pulse", help="PortAudio output device (default: pulse)")
    p.add_argument(
        "--align-fps",
        type=float,
        default=0,
        help="watch a screen grabber running at this rate (X RECORD) and put each T half-way between "
        "two of its grabs (default: off, T at free instants)",
    )
    args = p.parse_args(argv)
    if args.flashes < 1 or args.interval * 1000 < args.flash_ms + 200 or args.lead < 0.3 or args.align_fps < 0:
        p.error("need --flashes >= 1, --interval at least --flash-ms + 200 ms, --lead >= 0.3 s, --align-fps >= 0")
    report = run(args)
    args.out.write_text(json.dumps(report, indent=2))
    if report["grabs"]["watched"] and not report["grabs"]["aligned"]:
        print(f"sync_probe: saw {report['grabs']['seen']} screen grabs, too few to align to", file=sys.stderr)
    for f in report["flashes"]:
        t = f["t_ns"]
        print(
            f"T={t}: flash +{(f['flash']['t_ns'] - t) / 1e6:.2f} ms, click +{(f['click']['t_ns'] - t) / 1e6:.2f} "
            f"ms, beep residual {f['beep']['residual_ns'] / 1e3:.1f} us (late {f['beep']['late_ns'] / 1e6:.1f} ms)"
            + ("" if f["valid"] else f"; not counted: {', '.join(f['problems'])}"),
            file=sys.stderr,
        )
    valid = sum(f["valid"] for f in report["flashes"])
    if valid < args.flashes:
        print(
            f"sync_probe: only {valid} of {len(report['flashes'])} flashes were on time (flash, click and beep "
            f"within {args.on_time_ms:g} ms of T); wanted {args.flashes}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
