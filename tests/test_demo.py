"""scripts/demo.py headless, for real: a private Xvfb display and virtual microphone, a scripted session in a real
xterm with espeak-ng narration, recorded by `trajrec record`, then validated, uploaded to the embedded store,
downloaded and compared. A second run into the same folder works; Ctrl+C stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import trajrec
from tests.helpers.harness import Display, Microphone
from trajrec import format as fmt

pytestmark = [pytest.mark.x11, pytest.mark.audio, pytest.mark.slow]
DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


def demo(out: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # a fresh server: no display of its own
    return subprocess.Popen(
        [sys.executable, str(DEMO), str(out), "--seconds", "16", *args],  # the script needs ~12 s: room under load
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's process group, for the Ctrl+C test
    )


def test_with_a_display_it_asks_then_records_this_screen(
    x_display: Display, microphone: Microphone, tmp_path: Path
) -> None:
    """DISPLAY set: the demo says what it will record, waits for Enter, records that screen and the default
    microphone, then round-trips the bundle like the headless path."""
    out = tmp_path / "demo"
    env = {**os.environ, **x_display.env, **microphone.env}
    run = subprocess.run(
        [sys.executable, str(DEMO), str(out), "--seconds", "6"],
        env=env,
        input="\n",  # the Enter it waits for
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert f"Record this screen ({x_display.name}) and the default microphone for 6 s" in run.stdout, run.stdout
    assert "press Enter to start" in run.stdout and "files identical" in run.stdout, run.stdout
    (bundle,) = (out / "recordings").iterdir()
    with trajrec.open(bundle) as b:
        assert b.manifest["streams"]["audio"]["present"]
        assert b.manifest["environment"]["displays"][0]["size_px"] == [x_display.width, x_display.height]


def left_running(out: Path, display: str) -> list[str]:
    """Processes that still name the demo's folder, its display, or its terminal."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(out) in cmd or f"Xvfb {display} " in cmd or "demo-terminal" in cmd:
            found.append(f"{proc.name}: {cmd[:120]}")
    return found


def display_of(output: str) -> str:
    m = re.search(r"private display (:\d+)", output)
    assert m, output
    return m.group(1)


def test_the_demo_records_a_scripted_session_and_round_trips_it(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    for run in (1, 2):  # a second run into the same folder works too
        proc = demo(out)
        output, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, output[-3000:]
        assert "files identical" in output and "Where everything is" in output, output[-3000:]
        assert left_running(out, display_of(output)) == []
        bundles = sorted((out / "recordings").iterdir())
        assert len(bundles) == run
    bundle = bundles[-1]
    (copy,) = (out / "runs").glob(f"*/downloaded/{bundle.name}")
    assert trajrec.validate(copy, deep=True).findings == []
    with trajrec.open(copy) as b:
        events = b.event_records()
        kinds = {e.kind for e in events}
        assert {fmt.EventKind.DOWN, fmt.EventKind.UP, fmt.EventKind.KEY_DOWN} <= kinds, kinds
        typed = "".join(e.char or "" for e in events if e.kind == fmt.EventKind.KEY_DOWN)
        assert "ls /usr/share/doc" in typed, typed
        windows = b.windows().to_pylist()
        assert {w["title"] for w in windows} == {"demo-terminal"}
        assert len({(w["rect_x"], w["rect_y"]) for w in windows}) > 2, "the terminal was dragged"
        assert len(b.markers()) == 2
        voice = b.audio().astype(np.float64) / 32768
        rate = b.manifest["streams"]["audio"]["sample_rate"]
    loud = [float(np.sqrt(np.mean(voice[i : i + rate // 2] ** 2))) for i in range(0, len(voice), rate // 2)]
    assert sum(r > 0.02 for r in loud) >= 4, loud  # at least 2 s of narration
    assert min(loud) < 0.005, loud  # and silence between the sentences


def test_ctrl_c_stops_everything_and_keeps_the_recording(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = demo(out)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("recording "):
            break
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C at the terminal does
    rest, _ = proc.communicate(timeout=90)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "interrupted" in output and "sealed in" in output, output
    assert left_running(out, display_of(output)) == []
    (bundle,) = (out / "recordings").iterdir()
    report = trajrec.validate(bundle)
    assert report.findings == [], report.findings


@pytest.mark.gui
def test_the_readme_screenshots_come_from_a_recorded_session(tmp_path: Path) -> None:
    """packaging/screenshots.py records real work (terminal, clicks, keys, narration): the review it shows has
    input events, both markers and a voiceover waveform, not an empty recording."""
    script = DEMO.parent.parent / "packaging" / "screenshots.py"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    run = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "1-setup.png",
        "2-control.png",
        "2-recording.png",
        "3-paused.png",
        "4-review.png",
        "5-uploads.png",
        "6-settings.png",
        "7-library.png",
    ]
    m = re.search(r"review: (\d+) input events, (\d+) markers, voiceover peak ([\d.]+)", run.stdout)
    assert m, run.stdout
    events, markers, peak = int(m[1]), int(m[2]), float(m[3])
    assert events >= 50 and markers == 2 and peak > 0.05, m[0]
