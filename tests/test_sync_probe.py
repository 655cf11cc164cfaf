"""The issue's end-to-end sync probe: `trajrec record --fps 30` runs on the real Xvfb display and PulseAudio
virtual microphone while tests/helpers/sync_probe.py, several times, turns the whole screen white, plays a beep into
the microphone's sink and injects a left click at the same instant T. In the sealed bundle, for each flash:

- frame: t_ns of the first frame whose mean brightness crosses 50 % (a frame's t_ns is its grab time);
- beep:  the session time (BundleReader.sample_time_ns) of the first voiceover sample above 0.1 of full
  scale after T - 100 ms (the 0.5 sine at 1 kHz crosses 0.1 within 32 us of its first sample);
- click: the t_ns of the "down" event of the left button.

What "agree within one frame interval (33 ms at 30 fps)" means here. The beep and the click are stamped in
continuous time, so for them it means what it says: |beep - click| <= 33 ms. A frame is a sample taken every
33.3 ms: the first white frame is the first grab after the flash, so even with perfect stamps it comes
0..33.3 ms after the click, depending on where T falls between two grabs. So for the frame, agreement means
0 <= frame - click <= 33 ms (it may not show the flash before it happened, and it must be the grab due
within one frame interval after it), and |frame - beep| <= 33 ms. To keep that from being a coin flip at the
frame boundary (T just after a grab leaves a correct recording 33.0-33.3 ms of lag plus the grabber's
wake-up jitter), the probe watches the recorder's grab requests through X RECORD and puts every T half-way
between two grabs: a correct recording then shows the flash ~16.7 ms after the click, and the bound has
~16 ms of room for a late grab or a wrong stamp, which is what the test is after. The grabs it watched also
split the frame lag into sampling (first grab after the flash - flash) and stamp error (frame t_ns - that
grab), printed with the offsets.

A flash counts only if the probe itself was on time: flash and click done within 5 ms of T and the beep's
block filled before T (else the stimulus was not simultaneous and a disagreement would be the probe's, not
the recorder's, and T was no longer half-way between grabs); the probe adds flashes until 5 count (at most
5 extra, else it fails). Late ones are printed, not asserted. The table of offsets (ms) per flash, with
median and max, is printed for the issue's closing note (and kept as offsets.txt next to the probe's JSON).

Reading a failure: "beep-planned" (voiceover onset - the DAC time the probe planned) jumping by 20-60 ms
from one flash on, with "recorder audio gaps 1" in the table, is the recorder, not the probe: one audio
block stamped late (AudioSource._callback maps the ADC time from the callback's arrival, so any stall of
that thread moves the stamp) made AudioWriter.write insert that much silence, and every later sample stays
shifted. Seen here under disk-write load and while another benchmark ran; not with CPU-bound load alone.
"""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers.harness import Display, Microphone
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

pytestmark = [pytest.mark.x11, pytest.mark.audio, pytest.mark.slow]

PROBE = Path(__file__).parent / "helpers" / "sync_probe.py"
FPS = 30
BOUND_MS = 33.0  # one frame interval at 30 fps, as the issue rounds it (1/30 s = 33.3 ms)
FLASHES = 5
INTERVAL_S = 1.2
FLASH_MS = 300
RETRIES = 5  # extra flashes the probe may add to replace ones it could not do on time (at most 12 s in all)
SEARCH_BEFORE_NS = 100_000_000  # look for the flash, beep and click from T - 100 ms
BEEP_THRESHOLD = round(0.1 * 32768)


@dataclass
class Flash:
    """One flash as found in the bundle (ns, session clock) next to what the probe did."""

    t: int  # T, the probe's chosen instant
    valid: bool  # the probe did all three on time
    frame: int
    beep: int
    click: int
    probe: dict[str, Any]

    def pairs(self) -> tuple[int, int, int]:
        return self.frame - self.click, self.beep - self.click, self.frame - self.beep

    def diagnostics(self) -> tuple[float, ...]:
        """Sampling lag and frame stamp error (from the grabs the probe saw), click stamp - injection, beep
        onset - planned DAC time: where each stream's offset comes from."""
        grab = self.probe.get("grabs", {}).get("after_ns")
        nan = float("nan")
        return (
            nan if grab is None else grab - self.probe["flash"]["t_ns"],
            nan if grab is None else self.frame - grab,
            self.click - self.probe["click"]["t_ns"],
            self.beep - self.probe["beep"]["dac_ns"],
        )


def _start_recorder(out: Path, env: dict[str, str], timeout: float = 20) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder.cli", "record", "--consent", "--fps", str(FPS), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], timeout)
    line = proc.stderr.readline() if ready else ""
    if not line.startswith("recording "):  # "recording <id> ...": capture is running from here on
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"trajrec record did not start within {timeout} s: {line}{err}")
    return proc


def _stop_recorder(proc: subprocess.Popen[str], timeout: float = 60) -> Path:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return Path(out.strip().splitlines()[-1])


def _find(b: BundleReader, flashes: list[dict[str, Any]]) -> list[Flash]:
    times = b.frame_times()
    meta = b.manifest["streams"]["audio"]
    first, rate = int(meta["first_sample_t_ns"]), int(meta["sample_rate"])
    loud = np.abs(b.audio()[:, 0].astype(np.int32)) > BEEP_THRESHOLD
    downs = [e for e in b.event_records() if e.kind == fmt.EventKind.DOWN and e.button == "left"]
    found = []
    for f in flashes:
        t = f["t_ns"]
        lo, hi = t - SEARCH_BEFORE_NS, t + FLASH_MS * 1_000_000
        candidates = [i for i in range(len(times)) if lo <= times[i] < hi]
        white = next((i for i in candidates if b.frame(i).mean() > 127.5), None)
        assert white is not None, f"no white frame for the flash at T={t}: frames {[int(times[i]) for i in candidates]}"
        assert white > 0 and b.frame(white - 1).mean() < 127.5, f"the screen was not dark before the flash at T={t}"
        i0 = max(0, -(-(lo - first) * rate // 1_000_000_000))  # first sample at or after T - 100 ms
        hits = np.flatnonzero(loud[i0 : i0 + rate])
        assert len(hits), f"no beep within 1 s after T - 100 ms for the flash at T={t}"
        clicks = [e.t_ns for e in downs if lo <= e.t_ns < hi]
        assert len(clicks) == 1, f"expected one left-button press for the flash at T={t}, found {clicks}"
        found.append(Flash(t, bool(f["valid"]), int(times[white]), b.sample_time_ns(i0 + int(hits[0])), clicks[0], f))
    return found


def _table(found: list[Flash], report: dict[str, Any], stats: dict[str, Any]) -> str:
    ms = 1e6
    lines = [
        f"sync probe: {sum(f.valid for f in found)} on-time flashes of {len(found)}; offsets in ms "
        f"(frame - click must be 0..33, the others within +-33)",
        "  #  on-time  frame-click  beep-click  frame-beep |  lag(grab-flash)  frame-grab  click-inject  beep-planned",
    ]
    for k, f in enumerate(found):
        p, d = f.pairs(), f.diagnostics()
        lines.append(
            f"{k:3d}  {'yes' if f.valid else 'NO ':7s}"
            + "".join(f"{v / ms:12.2f}" for v in p)
            + "  |"
            + "".join(f"{v / ms:14.2f}" for v in d)
        )
    valid = [f.pairs() for f in found if f.valid] or [f.pairs() for f in found]
    for name, k in (("frame-click", 0), ("beep-click", 1), ("frame-beep", 2)):
        values = [p[k] / ms for p in valid]
        lines.append(f"  {name:12s} median {statistics.median(values):7.2f}  max |.| {max(map(abs, values)):6.2f}")
    a = report["audio"]
    lines.append(
        f"  audio: probe output underflows {a['underflows']}, DAC estimate wander "
        f"{a['dac_wander_ns']['min'] / ms:.2f}..{a['dac_wander_ns']['max'] / ms:.2f} ms; recorder audio gaps "
        f"{stats.get('audio_gaps')} ({stats.get('audio_gaps_ns', 0) / ms:.1f} ms of silence inserted), "
        f"dropped frames {stats.get('dropped_frames')}"
    )
    return "\n".join(lines)


def test_flash_beep_and_click_agree_within_one_frame_interval(
    x_display: Display, microphone: Microphone, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, **x_display.env, **microphone.env}
    report_path = tmp_path / "offsets.json"
    recorder = _start_recorder(tmp_path / "bundles", env)
    try:
        probe = subprocess.run(
            [
                sys.executable,
                str(PROBE),
                "--flashes",
                str(FLASHES),
                "--retries",
                str(RETRIES),
                "--interval",
                str(INTERVAL_S),
                "--flash-ms",
                str(FLASH_MS),
                "--align-fps",
                str(FPS),
                "--out",
                str(report_path),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        bundle = _stop_recorder(recorder)
    assert probe.returncode == 0, probe.stderr
    report: dict[str, Any] = json.loads(report_path.read_text())
    assert report["grabs"]["aligned"], f"the probe did not see the recorder's grabs: {report['grabs']}"

    findings = validate_bundle(str(bundle), deep=True).findings
    assert findings == [], findings
    with BundleReader(bundle) as b:
        found = _find(b, report["flashes"])
        stats = b.manifest["stats"]
    table = _table(found, report, stats)
    (tmp_path / "offsets.txt").write_text(table + "\n")
    with capsys.disabled():
        print("\n" + table)

    for f in found:
        if not f.valid:
            continue
        frame_click, beep_click, frame_beep = (v / 1e6 for v in f.pairs())
        assert 0 <= frame_click <= BOUND_MS, f"T={f.t}: first white frame {frame_click:.2f} ms after the click\n{table}"
        assert abs(beep_click) <= BOUND_MS, f"T={f.t}: beep onset {beep_click:.2f} ms after the click\n{table}"
        assert abs(frame_beep) <= BOUND_MS, f"T={f.t}: first white frame {frame_beep:.2f} ms after the beep\n{table}"
