"""End-to-end sync probe (draft)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recorder.bundle import format as fmt
from recorder.bundle.reader import BundleReader
from recorder.bundle.validate import validate_bundle
from tests.harness import Display, Microphone

PROBE = Path(__file__).with_name("sync_probe.py")
FPS = 30
FRAME_NS = 1_000_000_000 // FPS
BOUND_NS = 33_000_000
FLASHES = 5
INTERVAL_S = 1.2


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
    if not ready:
        proc.kill()
        pytest.fail(f"trajrec record did not start within {timeout} s")
    line = proc.stderr.readline()
    if not line.startswith("recording "):
        proc.kill()
        pytest.fail(line + proc.stderr.read())
    return proc


def _stop_recorder(proc: subprocess.Popen[str], timeout: float = 60) -> Path:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return Path(out.strip().splitlines()[-1])


def test_flash_beep_and_click_agree(
    x_display: Display, microphone: Microphone, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, **x_display.env, **microphone.env}
    report_path = tmp_path / "offsets.json"
    t0 = time.monotonic()
    rec = _start_recorder(tmp_path / "bundles", env)
    t1 = time.monotonic()
    try:
        probe = subprocess.run(
            [
                sys.executable,
                str(PROBE),
                "--flashes",
                str(FLASHES),
                "--interval",
                str(INTERVAL_S),
                "--out",
                str(report_path),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        t2 = time.monotonic()
        bundle = _stop_recorder(rec)
    t3 = time.monotonic()
    assert probe.returncode == 0, probe.stderr
    report: dict[str, Any] = json.loads(report_path.read_text())
    findings = validate_bundle(str(bundle), deep=True).findings
    assert findings == [], findings
    rows = []
    with BundleReader(bundle) as b:
        ft = b.frame_times()
        voice = b.audio()[:, 0]
        first = int(b.manifest["streams"]["audio"]["first_sample_t_ns"])
        rate = int(b.manifest["streams"]["audio"]["sample_rate"])
        downs = [e for e in b.event_records() if e.kind == fmt.EventKind.DOWN and e.button == "left"]
        for f in report["flashes"]:
            T = f["t_ns"]
            idx = [i for i in range(len(ft)) if T - 100_000_000 <= ft[i] < T + 600_000_000]
            white = next(i for i in idx if b.frame(i).mean() > 127.5)
            frame_t = int(ft[white])
            i0 = max(0, -(-(T - 100_000_000 - first) * rate // 1_000_000_000))
            j = int(np.argmax(np.abs(voice[i0:].astype(np.int32)) > 3277))
            beep_t = b.sample_time_ns(i0 + j)
            click_t = min((e.t_ns for e in downs), key=lambda t: abs(t - T))
            rows.append(
                (
                    frame_t - click_t,
                    beep_t - click_t,
                    frame_t - beep_t,
                    frame_t - f["flash"]["t_ns"],
                    beep_t - T,
                    click_t - f["click"]["t_ns"],
                )
            )
    with capsys.disabled():
        print(f"\nstart {t1 - t0:.1f}s probe {t2 - t1:.1f}s stop {t3 - t2:.1f}s")
        print("frame-click beep-click frame-beep | frame-flash beep-T click-inject (ms)")
        for r in rows:
            print("  ".join(f"{v / 1e6:7.2f}" for v in r))
    for r in rows:
        assert all(abs(v) <= BOUND_NS for v in r[:3]), rows
