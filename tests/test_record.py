"""`trajrec record` end to end on real parts: an Xvfb display with XTEST-injected input (xdotool) and a
PulseAudio virtual microphone; every bundle it makes must pass `trajrec validate --deep`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.harness import Display, Microphone
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

pytestmark = pytest.mark.x11

TRAJREC = [sys.executable, "-m", "recorder.cli"]


def _env(x_display: Display, microphone: Microphone | None = None) -> dict[str, str]:
    env = {**os.environ, **x_display.env}
    if microphone is not None:
        env.update(microphone.env)
    return env


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*TRAJREC, "record", "--consent", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "recording <id> ...": capture is running from here on
    assert line.startswith("recording "), line + proc.stderr.read()
    return proc


def _xdotool(env: dict[str, str], *args: str) -> None:
    subprocess.run(["xdotool", *args], env=env, check=True)


def _tone(env: dict[str, str], mic: Microphone, seconds: float, freq: float = 440.0) -> subprocess.Popen[bytes]:
    rate = 48_000
    k = np.arange(int(rate * seconds))
    pcm = (0.5 * np.sin(2 * np.pi * freq * k / rate) * 32767).astype("<i2").tobytes()
    player = subprocess.Popen(
        ["pacat", "-p", "-d", mic.sink, "--raw", "--format=s16le", f"--rate={rate}", "--channels=1"],
        stdin=subprocess.PIPE,
        env=env,
    )
    assert player.stdin is not None
    player.stdin.write(pcm)
    player.stdin.close()
    return player


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> Path:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    bundle = Path(out.strip().splitlines()[-1])
    report = validate_bundle(str(bundle), deep=True)
    assert report.findings == [], report.findings
    return bundle


def test_record_screen_input_and_voice(x_display: Display, microphone: Microphone, tmp_path: Path) -> None:
    env = _env(x_display, microphone)
    proc = _start(
        ["--duration", "4", "--out", str(tmp_path), "--task-id", "t-42", "--title", "Demo", "--draw-cursor"], env
    )
    player = _tone(env, microphone, 1.5)
    clicks = [(100, 120), (640, 360), (1200, 700)]
    for x, y in clicks:
        _xdotool(env, "mousemove", str(x), str(y))
        _xdotool(env, "mousedown", "1")
        _xdotool(env, "mouseup", "1")
    _xdotool(env, "type", "--delay", "30", "hello")
    player.wait(10)
    bundle = _finish(proc)
    with BundleReader(bundle) as b:
        m = b.manifest
        assert m["status"] == "complete" and m["task"]["id"] == "t-42"
        assert m["streams"]["screen"]["width"] == x_display.width
        assert m["streams"]["screen"]["cursor_drawn"] is True
        assert 3.5e9 < m["stats"]["duration_ns"] < 6e9
        ev = b.event_records()
        downs = [(e.x, e.y) for e in ev if e.kind == fmt.EventKind.DOWN]
        assert downs == clicks
        typed = "".join(e.char or "" for e in ev if e.kind == fmt.EventKind.KEY_DOWN)
        assert typed == "hello"
        assert all(b.start_ns <= e.t_ns <= b.end_ns for e in ev)
        voice = b.audio().astype(np.float64) / 32768
        loud = np.sqrt(np.convolve(voice[:, 0] ** 2, np.ones(4800) / 4800, mode="valid"))
        assert loud.max() == pytest.approx(0.3536, rel=0.15)  # the tone came through at its level
        assert len(b.frame_times()) >= 2
    # sealed, and queued for upload to the default store (nothing sent until `trajrec upload`)
    queued = subprocess.run([*TRAJREC, "queue", "--json"], env=env, capture_output=True, text=True, check=True)
    rows = json.loads(queued.stdout)["bundles"]
    assert [(r["path"], r["state"]) for r in rows if r["session_id"] == bundle.name] == [(str(bundle), "queued")]


def test_pause_resume_marker_and_ctrl_c(x_display: Display, tmp_path: Path) -> None:
    env = _env(x_display)
    proc = _start(["--no-audio", "--out", str(tmp_path)], env)
    _xdotool(env, "mousemove", "10", "10")
    time.sleep(0.5)
    proc.send_signal(signal.SIGUSR1)  # pause: nothing at all is captured
    time.sleep(0.3)
    _xdotool(env, "mousemove", "500", "500")
    _xdotool(env, "type", "secret")
    time.sleep(0.3)
    proc.send_signal(signal.SIGUSR1)  # resume
    time.sleep(0.3)
    proc.send_signal(signal.SIGUSR2)  # step marker
    _xdotool(env, "mousemove", "20", "20")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)  # stop and seal
    bundle = _finish(proc)
    with BundleReader(bundle) as b:
        kinds = [mk.kind for mk in b.markers()]
        assert kinds == [fmt.MarkerKind.PAUSE, fmt.MarkerKind.RESUME, fmt.MarkerKind.STEP]
        ev = b.event_records()
        assert not any(e.char in set("secret") for e in ev if e.char)
        assert (500, 500) not in {(e.x, e.y) for e in ev}
        assert (20, 20) in {(e.x, e.y) for e in ev}
        assert b.manifest["stats"]["paused_ns"] > 0.4e9


@pytest.mark.parametrize(
    ("args", "env_change", "message"),
    [
        (["--consent", "--no-audio"], {"DISPLAY": ""}, "no X display"),
        (["--no-audio"], {}, "consent"),
        (["--consent", "--audio-device", "no-such-microphone"], {}, "no-such-microphone"),
        (["--consent", "--no-audio", "--region", "big"], {}, "WxH+X+Y"),
        (["--consent", "--no-audio", "--monitor", "7"], {}, "monitors 1..1"),
    ],
)
def test_preflight_errors_are_one_line(
    x_display: Display,
    microphone: Microphone,
    tmp_path: Path,
    args: list[str],
    env_change: dict[str, str],
    message: str,
) -> None:
    env = {**_env(x_display, microphone), **env_change}
    r = subprocess.run(
        [*TRAJREC, "record", "--out", str(tmp_path), "--duration", "1", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())  # nothing started, nothing left behind


def test_kill_9_then_repair(x_display: Display, tmp_path: Path) -> None:
    env = _env(x_display)
    proc = _start(["--no-audio", "--out", str(tmp_path)], env)
    for i in range(20):
        _xdotool(env, "mousemove", str(10 + 5 * i), "50")
        time.sleep(0.1)
    time.sleep(1.0)
    t_kill = time.monotonic_ns()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    live = next(tmp_path.glob(".*.live"))
    r = subprocess.run([*TRAJREC, "repair", str(live)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    bundle = Path(r.stdout.strip())
    report = validate_bundle(str(bundle), deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"]
    with BundleReader(bundle) as b:
        moves = [e for e in b.event_records() if e.kind == fmt.EventKind.MOVE]
        assert len(moves) >= 15  # all but the last moments
        assert t_kill - b.end_ns < 2_000_000_000
        assert json.loads((bundle / fmt.MANIFEST).read_text())["status"] == "recovered"


def test_disk_full_mid_session_stops_and_keeps_the_recording(x_display: Display, tmp_path: Path) -> None:
    """A 3 MiB tmpfs fills up while the screen keeps changing: the recorder stops by itself, says where the
    recording is and how to seal it, and the live directory repairs into a valid bundle elsewhere."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    assert r.returncode == 0, f"cannot mount a tmpfs ({r.stderr.strip()}); these tests run as root"
    try:
        env = {**_env(x_display), "TRAJREC_MIN_FREE_MB": "1"}
        proc = _start(["--no-audio", "--out", str(mnt), "--duration", "60"], env)
        from Xlib import display as xdisplay

        dpy = xdisplay.Display(x_display.name)
        root = dpy.screen().root
        rng = np.random.default_rng(0)
        deadline = time.monotonic() + 45
        while proc.poll() is None and time.monotonic() < deadline:  # noisy pictures fill the disk fast
            gc = root.create_gc(foreground=int(rng.integers(0, 0xFFFFFF)))
            for _ in range(40):
                x, y = (int(v) for v in rng.integers(0, 1200, 2))
                root.fill_rectangle(gc, x % x_display.width, y % x_display.height, 37, 23)
            dpy.sync()
            time.sleep(0.02)
        dpy.close()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert "trajrec repair" in err and "Traceback" not in err
        live = next(mnt.glob(".*.live"))
        assert not list(mnt.glob(".*.partial"))  # no half bundle
        roomy = tmp_path / "roomy"
        shutil.copytree(live, roomy / live.name)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
    r = subprocess.run([*TRAJREC, "repair", str(roomy / live.name)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    report = validate_bundle(r.stdout.strip(), deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"], report.findings
    with BundleReader(r.stdout.strip()) as b:
        assert len(b.frame_times()) > 5
