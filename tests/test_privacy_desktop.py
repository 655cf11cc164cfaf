"""Privacy guards on a real desktop: Xvfb, a private session bus with the accessibility bus (AT-SPI), GTK 3 and
Qt windows with a text field, a password field and a button, real injected input (XTEST through xdotool), the
real recorder (X11 input, window and screen capture, the AT-SPI backend).

A known word typed into the text field is in the bundle; a known secret typed into the password field is in
no file of it (the raw log decompressed too), also when the recorder is killed with -9 and the live directory
repaired; the redacted presses are there with their times; the button's click carries its role and name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

import trajrec
from recorder.capture.screen import Region
from recorder.session import Session, SessionConfig
from recorder.writers.log import read_live_log
from tests.helpers.a11y import SessionBus, TestWindow, session_bus, test_window
from tests.helpers.harness import Display, wait_until
from trajrec import format as fmt

pytestmark = [pytest.mark.x11, pytest.mark.slow]

WORD, SECRET = "alice", "hunter2"


def xdotool(bus: SessionBus, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=bus.env, check=True, timeout=30)


def click(bus: SessionBus, at: tuple[int, int]) -> None:
    xdotool(bus, "mousemove", str(at[0]), str(at[1]))
    xdotool(bus, "mousedown", "1")
    xdotool(bus, "mouseup", "1")


def work(bus: SessionBus, window: TestWindow) -> None:
    """A login as an expert would do it: the name, the password, the button."""
    click(bus, window.center("text"))
    time.sleep(0.5)
    xdotool(bus, "type", "--delay", "40", WORD)
    time.sleep(0.6)
    click(bus, window.center("password"))
    time.sleep(0.5)
    xdotool(bus, "type", "--delay", "40", SECRET)
    time.sleep(0.6)
    click(bus, window.center("button"))
    time.sleep(0.8)


def everything(root: Path) -> bytes:
    """Every byte under `root`, with each MCAP log decompressed (its chunks are zstd)."""
    blob = b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
    for log in root.rglob("*.mcap"):
        blob += json.dumps(read_live_log(log).records).encode()  # up to a torn tail (kill -9)
    return blob


def environment(d: Display) -> dict[str, object]:
    return {
        "os": "x", "arch": "x", "locale": "", "keyboard_layout": "us", "coordinate_space": fmt.COORDINATE_SPACE,
        "displays": [{"id": 0, "origin": [0, 0], "size_px": [d.width, d.height], "scale": 1.0, "primary": True}],
    }  # fmt: skip


def config(out: Path, d: Display) -> SessionConfig:
    return SessionConfig(
        out_dir=out,
        region=Region(0, 0, d.width, d.height),
        display_id=0,
        fps=10,
        audio=False,
        task={"id": "t-login", "title": "Sign in", "instruction": "", "expert": "e", "consent": True},
        environment=environment(d),
    )


@pytest.fixture
def desktop(x_display: Display, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionBus]:
    """The accessibility bus on the test display, as the recorder finds it on a desktop (its session bus)."""
    with session_bus(tmp_path / "b", x_display) as bus:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        yield bus


def check_bundle(bundle: Path, kind: str) -> None:
    with trajrec.open(bundle) as b:
        events = b.event_records()
        elements = b.element_records()
        m = b.manifest
    downs = [e for e in events if e.kind == fmt.EventKind.KEY_DOWN]
    assert "".join(e.char or "" for e in downs if not e.redacted) == WORD
    hidden = [e for e in events if e.redacted]
    assert sum(e.kind == fmt.EventKind.KEY_DOWN for e in hidden) == len(SECRET)
    assert sum(e.kind == fmt.EventKind.KEY_UP for e in hidden) == len(SECRET)
    assert all(e.key is None and e.char is None and e.scancode is None and e.modifiers == () for e in hidden)
    assert SECRET.encode() not in everything(bundle)
    focus = [e for e in elements if e.kind == fmt.ElementKind.FOCUS]
    assert ("password text", "") in [(e.role, e.name) for e in focus]
    password = next(e for e in focus if e.role == "password text")
    assert password.toolkit.lower().startswith(kind)
    first_secret_key = min(e.t_ns for e in hidden)
    assert password.t_ns < first_secret_key + 300_000_000  # heard around when the typing began
    clicks = [(e.role, e.name) for e in elements if e.kind == fmt.ElementKind.CLICK]
    assert ("push button", "Sign in") in clicks, clicks
    p = m["privacy"]
    assert p["accessibility"] == {"available": True} and p["redacted_keys"] == len(hidden)
    assert [s["kind"] for s in p["spans"]] == ["password-field"]
    report = trajrec.validate(bundle, deep=True)
    assert report.valid, report.findings


@pytest.mark.parametrize("kind", ["gtk", "qt"])
def test_a_password_typed_into_a_real_window_is_never_recorded(
    desktop: SessionBus, x_display: Display, tmp_path: Path, kind: Literal["gtk", "qt"]
) -> None:
    session = Session(config(tmp_path / "out", x_display))
    session.start()  # turns accessibility on: the Qt window started next exposes its tree
    try:
        assert session.accessibility is None
        with test_window(kind, f"Login ({kind})", desktop.env) as window:
            wait_until(lambda: trajrec_ready(session), "the recorder hears the tree", timeout=5)
            work(desktop, window)
    finally:
        bundle = session.stop()
    check_bundle(bundle, kind)
    assert SECRET.encode() not in everything(tmp_path / "out")  # nor anywhere the recorder wrote


def trajrec_ready(session: Session) -> bool:
    return session.accessibility is None


RECORDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_privacy_desktop import config
from tests.helpers.harness import Display
from recorder.session import Session
session = Session(config(Path(sys.argv[1]), Display({display!r}, {w}, {h})))
session.start()
print(session.live_dir, flush=True)
time.sleep(600)
"""


def test_a_password_is_not_in_a_bundle_repaired_after_kill_9(
    desktop: SessionBus, x_display: Display, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    script = RECORDER.format(
        root=str(Path(__file__).resolve().parents[1]), display=x_display.name, w=x_display.width, h=x_display.height
    )
    recorder = subprocess.Popen(
        [sys.executable, "-c", script, str(out)], env={**os.environ, **desktop.env}, stdout=subprocess.PIPE, text=True
    )
    try:
        assert recorder.stdout is not None
        live = Path(recorder.stdout.readline().strip())
        with test_window("gtk", "Login (kill)", desktop.env) as window:
            work(desktop, window)
            time.sleep(1.5)  # the log is flushed at least once a second: what was decided is on disk
    finally:
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(10)
        if recorder.stdout is not None:
            recorder.stdout.close()
    assert live.is_dir() and SECRET.encode() not in everything(live)  # the live directory itself
    repaired = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "repair", str(live), "--out", str(tmp_path / "repaired")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert repaired.returncode == 0, repaired.stderr
    bundle = Path(repaired.stdout.strip())
    with trajrec.open(bundle) as b:
        events = b.event_records()
        assert b.manifest["status"] == "recovered"
    hidden = [e for e in events if e.redacted]
    typed = "".join(e.char or "" for e in events if e.kind == fmt.EventKind.KEY_DOWN and not e.redacted)
    assert len(hidden) == 2 * len(SECRET) and typed == WORD
    assert SECRET.encode() not in everything(bundle)
