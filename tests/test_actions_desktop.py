"""Actions from a real recording: `trajrec record` on Xvfb with XTEST-injected input (xdotool), then
`trajrec actions --json`: a double click, a drag, typing with a correction, a hotkey and a scroll come out as such."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.harness import Display

pytestmark = pytest.mark.x11

TRAJREC = [sys.executable, "-m", "recorder.cli"]


def test_scripted_input_becomes_the_right_actions(x_display: Display, tmp_path: Path) -> None:
    env = {**os.environ, **x_display.env}
    proc = subprocess.Popen(
        [*TRAJREC, "record", "--consent", "--no-audio", "--duration", "6", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("recording "), line + proc.stderr.read()

    def xdo(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True)

    xdo("mousemove", "200", "200")
    xdo("click", "--repeat", "2", "--delay", "80", "1")  # a double click
    time.sleep(0.7)
    xdo("mousemove", "300", "300")
    xdo("mousedown", "1")
    for i in range(1, 6):
        xdo("mousemove", str(300 + 20 * i), str(300 + 10 * i))
    xdo("mouseup", "1")  # a drag to 400,350
    time.sleep(0.7)
    xdo("type", "--delay", "60", "helo")
    xdo("key", "BackSpace")
    xdo("type", "--delay", "60", "lo")
    time.sleep(0.3)
    xdo("key", "ctrl+shift+t")
    time.sleep(0.3)
    xdo("click", "--repeat", "3", "--delay", "60", "5")  # three wheel steps down
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    bundle = out.strip().splitlines()[-1]
    got = subprocess.run([*TRAJREC, "actions", bundle, "--json", "--no-moves"], env=env, capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    actions = [a for a in json.loads(got.stdout) if a["kind"] != "marker"]
    summary = [
        (a["kind"], a["count"], a["x"], a["y"], a["to_x"], a["to_y"], a["text"], tuple(a["keys"]), abs(a["dy"]))
        for a in actions
    ]
    assert summary == [
        ("click", 2, 200, 200, None, None, None, (), 0),
        ("drag", 1, 300, 300, 400, 350, None, (), 0),
        ("type", 1, None, None, None, None, "hello", (), 0),
        ("hotkey", 1, None, None, None, None, None, ("ctrl", "shift", "t"), 0),
        ("scroll", 1, 400, 350, None, None, None, (), 3),
    ]
    assert actions[0]["nx"] == pytest.approx(200 / x_display.width, abs=1e-6)
    assert all(a["frame_before"] is not None and a["frame_after"] >= a["frame_before"] for a in actions)
