"""Render every screen of the desktop app to PNG, from a real session on a virtual display.

    .venv/bin/python packaging/screenshots.py [--out docs/screenshots]

Starts its own Xvfb (1600x1000) and virtual microphone, opens the app with fresh settings and an embedded
store in a temporary directory, then goes through a session as an expert would: setup filled in, recording,
paused, review of the sealed recording, the uploads panel once it is uploaded, and the settings dialog.
Needs Xvfb and PulseAudio (scripts/setup.sh installs them)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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


def render(out: Path) -> list[Path]:
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PySide6.QtWidgets import QApplication

    from recorder.app import theme
    from recorder.app.controller import Phase
    from recorder.app.dialogs import SettingsDialog
    from recorder.app.window import MainWindow

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
    pump(app, 2.5)
    window.controller.marker("data loaded")
    shot("2-recording")
    window.controller.pause()
    shot("3-paused")
    window.controller.resume()
    pump(app, 1.5)
    window.controller.stop()
    until(app, lambda: window.controller.phase == Phase.REVIEW, "sealing")
    until(app, lambda: not window.review.is_loading(), "the review screen")
    shot("4-review")

    window.review.submit()
    until(app, lambda: any(r.state == "done" for r in window.uploads.rows()), "the upload", 120)
    window.show_page("uploads")
    shot("5-uploads")

    dialog = SettingsDialog(window.settings, window)
    dialog.show()
    shot("6-settings", dialog)
    dialog.close()
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
            for path in render(args.out.resolve()):
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
