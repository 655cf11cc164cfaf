"""Render every screen of the desktop app to PNG, from a real session on a virtual display.

    .venv/bin/python packaging/screenshots.py [--out docs/screenshots]

Starts its own Xvfb (1600x1000) and virtual microphone, opens the app with fresh settings and an embedded
store in a temporary directory, then goes through a session as an expert would: setup filled in, recording,
paused, review of the sealed recording, the uploads panel once it is uploaded, and the settings dialog. The
work recorded is real: a terminal typed into, dragged and clicked with XTEST, and narration spoken by
espeak-ng into the virtual microphone, so the review shows a voiceover waveform, input ticks and markers.
Needs Xvfb, PulseAudio, xterm, xdotool and espeak-ng (scripts/setup.sh installs them)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NARRATION = [  # (seconds after Record, words)
    (0.3, "First I look at what documentation is installed."),
    (5.0, "Now I move the terminal and check the disk."),
]


def pump(app: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def until(app: Any, check: Any, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise SystemExit(f"screenshots: {what} did not happen within {timeout:g} s")
        app.processEvents()
        time.sleep(0.02)


def while_pumping(app: Any, work: Callable[[], object]) -> None:
    """Run blocking work (XTEST input through xdotool) off the GUI thread while the app keeps drawing."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # raised below, on this thread
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        pump(app, 0.05)
    if errors:
        raise errors[0]


def render(out: Path, sink: str, workdir: Path) -> list[Path]:
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PySide6.QtWidgets import QApplication

    from recorder.app import theme
    from recorder.app.controller import Phase
    from recorder.app.dialogs import SettingsDialog
    from recorder.app.window import MainWindow
    from tests.helpers.desk import Desk, speak

    app = QApplication(["trajrec-gui"])
    theme.apply(app)
    window = MainWindow()
    window.resize(1280, 860)
    window.show()
    shots: list[Path] = []

    def shot(name: str, widget: Any = None) -> None:
        pump(app, 0.4)
        path = out / f"{name}.png"
        (widget or window).grab().save(str(path))
        shots.append(path)

    s = window.setup
    task = out.parent / ".screenshot-task.yaml"
    task.write_text(
        "id: stats-017\ntitle: Fit a mixed model to the sleep study\ninstruction: |\n  Load sleepstudy.csv, fit "
        "reaction ~ days with a random slope per subject,\n  and explain what the fit says.\nexpected_minutes: 40\n"
    )
    s.load_task_file(task)
    task.unlink()
    s.expert.setText("expert-042")
    s.consent.setChecked(True)
    until(app, lambda: len(s.checks) >= 5, "the preflight checks")
    shot("1-setup")

    window.start_recording()
    until(app, lambda: window.controller.phase == Phase.RECORDING, "recording")
    # the work being recorded: a real terminal over the left of the screen, typed into, dragged and clicked,
    # with the expert's narration spoken into the microphone (the app's own window and input stay out)
    desk = Desk(dict(os.environ), workdir, x=24, y=24)
    stop = threading.Event()
    voice = threading.Thread(target=speak, args=(dict(os.environ), sink, NARRATION, workdir, time.monotonic(), stop))
    voice.start()
    try:
        while_pumping(app, lambda: (desk.click_in(), desk.type("ls /usr/share/doc | tail -n 12\n")))
        window.controller.marker("data loaded")
        shot("2-recording")
        shot("2-control", window.control)  # on top of the work while the main window is minimised
        while_pumping(app, lambda: (desk.drag_to(420, 260), desk.click_in(), desk.type("df -h / | tail -n 1\n")))
        window.controller.pause()
        shot("3-paused")
        pump(app, 1.0)
        window.controller.resume()
        while_pumping(app, lambda: desk.type("echo checked\n"))
        window.controller.marker("disk checked")
        pump(app, 1.0)
    finally:
        stop.set()
        voice.join(10)
    window.controller.stop()
    until(app, lambda: window.controller.phase == Phase.REVIEW, "sealing")
    until(app, lambda: not window.review.is_loading(), "the review screen")
    window.review.jump_to_marker(1)  # the terminal after the drag, with the pointer and the clicks drawn
    pump(app, 1.0)
    shot("4-review")
    data = window.review.data
    voice = 0.0 if data is None or data.envelope is None else float(abs(data.envelope).max())
    counts = window.review.counts()
    print(f"review: {counts['events']} input events, {counts['markers']} markers, voiceover peak {voice:.2f}")

    window.review.submit()
    until(app, lambda: any(r.state == "done" for r in window.uploads.rows()), "the upload", 120)
    window.show_page("uploads")
    shot("5-uploads")
    window.show_page("library")
    until(app, lambda: bool(window.library.entries), "the library")
    shot("7-library")

    dialog = SettingsDialog(window.settings, window)
    dialog.show()
    shot("6-settings", dialog)
    dialog.close()
    desk.close()
    window.close()
    pump(app, 0.5)
    return shots


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from tests.helpers.harness import virtual_mic, xvfb

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ.update(
            TRAJREC_CONFIG_DIR=str(base / "config"),
            TRAJREC_DATA_DIR=str(base / "data"),
            TRAJREC_LOG_DIR=str(base / "logs"),
        )
        with xvfb(1600, 1000) as display, virtual_mic(base / "pulse") as mic:
            os.environ.update(display.env)
            os.environ.update(mic.env)
            for path in render(args.out.resolve(), mic.sink, base):
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
