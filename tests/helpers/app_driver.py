"""Drive the real desktop app on an X display, as an expert would, and report what happened as JSON.

    DISPLAY=:99 PULSE_SERVER=... TRAJREC_*_DIR=... python tests/helpers/app_driver.py --out result.json

The app runs with Qt's xcb platform on the given display (real windows). The driver fills the setup screen,
clicks Record with a real injected click (xdotool on the button's screen position, so the click is input
into the app's own window), types and clicks in a small X window of its own while a tone plays into the
virtual microphone, adds a step marker, stops with the stop hotkey (injected), writes a note on the marker
in the review screen, submits, and waits until the upload queue says the bundle is done (verified on the
embedded S3 store). It writes the bundle's session id, the times of what it did, and the app's own button
positions to --out; the test then downloads and checks the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ["QT_QPA_PLATFORM"] = "xcb"
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for(app: QApplication, check: Any, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise SystemExit(f"app_driver: {what} did not happen within {timeout} s")
        app.processEvents()
        time.sleep(0.02)


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True)


def click_widget(app: QApplication, widget: QWidget) -> tuple[int, int]:
    """A real click (XTEST) on the middle of `widget`, scrolled into view first as a person would; returns the
    screen point."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        parent.ensureWidgetVisible(widget)
        pump(app, 0.1)
    centre = widget.mapToGlobal(QPoint(widget.width() // 2, widget.height() // 2))
    x, y = centre.x(), centre.y()
    xdotool("mousemove", str(x), str(y))
    pump(app, 0.1)
    xdotool("mousedown", "1")
    xdotool("mouseup", "1")
    pump(app, 0.2)
    return x, y


class WorkWindow:
    """The expert's work: a 600x400 X window at the top left, on its own connection."""

    def __init__(self) -> None:
        from Xlib import X, display

        self.d = display.Display()
        screen = self.d.screen()
        self.w = screen.root.create_window(
            0,
            0,
            600,
            400,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=screen.white_pixel,
            event_mask=X.KeyPressMask | X.ButtonPressMask,
        )
        self.w.set_wm_name("work")
        self.w.map()
        self.d.sync()

    def focus(self) -> None:
        from Xlib import X

        self.w.set_input_focus(X.RevertToParent, X.CurrentTime)
        self.d.sync()

    def close(self) -> None:
        self.w.destroy()
        self.d.close()


def play_tone(sink: str, seconds: float) -> subprocess.Popen[bytes]:
    rate = 48_000
    k = np.arange(int(rate * seconds))
    pcm = (0.5 * np.sin(2 * np.pi * 440.0 * k / rate) * 32767).astype("<i2").tobytes()
    player = subprocess.Popen(
        ["pacat", "-p", "-d", sink, "--raw", "--format=s16le", f"--rate={rate}", "--channels=1"],
        stdin=subprocess.PIPE,
    )
    assert player.stdin is not None
    player.stdin.write(pcm)
    player.stdin.close()
    return player


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sink", required=True, help="the virtual microphone's sink (pacat -d)")
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()

    from recorder.app import theme
    from recorder.app.controller import Phase
    from recorder.app.window import MainWindow

    app = QApplication(["trajrec-gui"])
    theme.apply(app)
    window = MainWindow()
    window.resize(1000, 1000)
    window.show()
    pump(app, 0.5)
    screen = app.primaryScreen().geometry()
    window.move(screen.width() - window.frameGeometry().width(), 0)  # the left is for the work being recorded
    pump(app, 0.5)
    setup = window.setup
    setup.task_id.setText("e2e-001")
    setup.task_title.setText("End-to-end recording")
    setup.instruction.setPlainText("Type hello in the work window and click it.")
    setup.expert.setText("expert-e2e")
    setup.consent.setChecked(True)
    wait_for(app, lambda: len(setup.checks) >= 6, "the preflight checks")
    pump(app, 0.3)  # the checks' lines settle the layout before the button is clicked
    wait_for(app, setup.record_button.isEnabled, f"Record enabled ({setup.missing.text()})")
    failures: list[str] = []
    window.controller.failed.connect(failures.append)
    window._failed = failures.append  # type: ignore[method-assign]  # no modal box in the driver: report
    window._submit_failed = lambda e: failures.append(f"submit: {e!r}")  # type: ignore[method-assign]
    record_at = click_widget(app, setup.record_button)
    wait_for(
        app,
        lambda: window.controller.phase == Phase.RECORDING or failures,
        f"recording (phase {window.controller.phase}, clicked at {record_at})",
    )
    if failures:
        raise SystemExit(f"app_driver: recording did not start: {failures}")
    started = time.monotonic_ns()

    # the work: a plain X window of the driver's own on the left, clicked, given the focus, typed into
    work = WorkWindow()
    pump(app, 0.5)
    player = play_tone(args.sink, 1.5)
    xdotool("mousemove", "200", "200")
    xdotool("mousedown", "1")
    xdotool("mouseup", "1")
    work.focus()  # no window manager here: focus does not follow clicks
    pump(app, 0.5)
    xdotool("type", "--delay", "40", "hello")
    pump(app, 0.5)
    xdotool("key", "ctrl+alt+h")  # hide typed keys (this desktop has no accessibility bus: the only guard)
    pump(app, 0.3)
    hidden_shown = window.recording.hide_button.isChecked()
    xdotool("type", "--delay", "40", "s3cr3t")
    pump(app, 0.2)
    xdotool("key", "ctrl+alt+h")
    pump(app, 0.8)  # past the guard's margin
    xdotool("type", "--delay", "40", "bye")
    pump(app, 0.3)
    if not (window.isMinimized() and window.control.isVisible()):
        raise SystemExit("app_driver: recording did not minimise the window and show the small control")
    mark_at = click_widget(app, window.control.marker_button)  # the small control, on top while recording
    pump(app, max(0.0, args.seconds - (time.monotonic_ns() - started) / 1e9))
    player.wait(10)
    xdotool("key", "ctrl+alt+s")  # the stop hotkey, from whichever window has the focus
    wait_for(app, lambda: window.controller.phase == Phase.REVIEW, "stop and seal", 60)
    review = window.review
    wait_for(app, lambda: not review.is_loading(), "the review screen")
    bundle = Path(window.controller.bundle or "")
    markers = review.counts().get("markers", 0)
    if review.markers.rows:  # a note on the marker, typed into the review screen like a person would
        click_widget(app, review.markers.rows[0].note)
        xdotool("key", "ctrl+a")
        xdotool("type", "--delay", "20", "loaded the data")
        pump(app, 0.3)
    notes = review.marker_notes()
    review.submit()
    wait_for(
        app,
        lambda: failures or any(r.session_id == bundle.name and r.state == "done" for r in window.uploads.rows()),
        "the upload verified",
        120,
    )
    if failures:
        raise SystemExit(f"app_driver: the recording was not submitted: {failures}")
    result = {
        "session_id": bundle.name,
        "store_url": window.uploads.url,
        "record_click": record_at,
        "mark_click": mark_at,
        "work_click": (200, 200),
        "hidden_shown": hidden_shown,
        "guard_text": window.recording.guard_label.text(),
        "notes": {str(k): v for k, v in notes.items()},
        "markers": markers,
        "states": [(r.session_id, r.state, r.reason) for r in window.uploads.rows()],
    }
    args.out.write_text(json.dumps(result))
    work.close()
    window.close()
    pump(app, 0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
