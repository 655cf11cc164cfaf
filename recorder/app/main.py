"""`trajrec gui` / `trajrec-gui`: start the desktop app. Offers to repair sessions a crash left behind."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

log = logging.getLogger(__name__)


def crashed_sessions(out_dir: Path) -> list[Path]:
    """Live directories a crash left in the recordings folder (`.<session_id>.live`) and nobody sealed yet (one
    that `trajrec repair` sealed, which leaves it in place, is not offered again)."""
    if not out_dir.is_dir():
        return []
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.name.startswith(".")
        and p.name.endswith(".live")
        and p.is_dir()
        and not p.is_symlink()
        and not (out_dir / p.name[1 : -len(".live")]).exists()
    )


def offer_repair(window: object, out_dir: Path) -> None:
    from PySide6.QtWidgets import QMessageBox, QWidget

    from recorder.app.dialogs import warn
    from recorder.app.threads import run_task
    from recorder.sealing.seal import seal

    found = crashed_sessions(out_dir)
    if not found:
        return
    parent = window if isinstance(window, QWidget) else None
    answer = QMessageBox.question(
        parent,
        "Unfinished recording",
        f"{len(found)} recording{'s were' if len(found) > 1 else ' was'} interrupted (the app or the computer "
        "stopped). Recover what was recorded? It is kept either way.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    if answer != QMessageBox.StandardButton.Yes:
        return

    def recover(live: Path) -> Path:
        bundle = seal(live, out_dir, recover=True)  # into the recordings folder, wherever a link might point
        shutil.rmtree(live, ignore_errors=True)  # all of it is in the bundle now, as after a clean stop
        return bundle

    def recovered(bundle: Path) -> None:
        log.info("recovered %s", bundle)

    def failed(error: BaseException) -> None:
        warn(parent, "Recovery", f"Could not recover a recording: {error}. Its files are kept.")

    for live in found:
        run_task(partial(recover, live), recovered, failed)


def main(argv: list[str] | None = None) -> int:
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        print(
            "trajrec-gui: the desktop app is not installed: pip install 'trajectory-recorder[desktop]'", file=sys.stderr
        )
        return 2

    from recorder.app import theme
    from recorder.app.window import MainWindow
    from recorder.logs import make_private, setup_logging

    make_private()
    setup_logging(False)
    app = QApplication.instance() or QApplication(sys.argv if argv is None else ["trajrec-gui", *argv])
    assert isinstance(app, QApplication)
    app.setApplicationName("Trajectory Recorder")
    app.setOrganizationName("trajrec")
    theme.apply(app)
    window = MainWindow()
    window.show()
    offer_repair(window, window.settings.out_dir)
    restore = _accessibility_on()
    try:
        return int(app.exec())
    finally:
        restore()


def _accessibility_on() -> Callable[[], None]:
    """The accessibility tree stays on while the app is open (so browsers started meanwhile say which windows are
    private: recorder.privacy.own_word); the desktop's setting is put back at quit."""
    from recorder.errors import BackendUnavailable
    from recorder.platform import accessibility_on

    try:
        return accessibility_on()
    except BackendUnavailable as e:
        log.info("accessibility is not available: %s", e)
        return lambda: None


if __name__ == "__main__":
    sys.exit(main())
