"""`trajrec gui` / `trajrec-gui`: start the desktop app. Offers to repair sessions a crash left behind
(recorder.app.recovery)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from recorder.app.recovery import crashed_sessions, offer_repair

log = logging.getLogger(__name__)

__all__ = ["crashed_sessions", "main", "offer_repair"]


def main(argv: list[str] | None = None) -> int:
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        print(
            "trajrec-gui: the desktop app is not installed: pip install 'trajectory-recorder[desktop]'", file=sys.stderr
        )
        return 2

    from recorder.app import theme
    from recorder.app.threads import GuiGarbageCollector
    from recorder.app.window import MainWindow
    from recorder.logs import make_private, setup_logging

    make_private()
    setup_logging(False)
    app = QApplication.instance() or QApplication(sys.argv if argv is None else ["trajrec-gui", *argv])
    assert isinstance(app, QApplication)
    app.setApplicationName("Trajectory Recorder")
    app.setOrganizationName("trajrec")
    theme.apply(app)
    collector = GuiGarbageCollector(parent=app)  # Qt objects are freed on the GUI thread only
    window = MainWindow()
    window.show()
    offer_repair(window, window.settings.out_dir, on_recovered=lambda _bundle: window.library.refresh())
    restore = _accessibility_on()
    try:
        return int(app.exec())
    finally:
        restore()
        collector.stop()


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
