"""A Qt (PySide6) test window for accessibility tests: a text field, a password field and a "Sign in" button.

Run with the venv's Python on X11 (xcb):
    .venv/bin/python a11y_qt_window.py TITLE
Once the window is exposed it prints one JSON line to stdout, the screen geometry of its widgets,
{"text": [x, y, w, h], "password": [...], "button": [...]}, and then nothing else. It stays up until stdin
closes or it is killed. Qt exposes its accessibility tree only while org.a11y.Status.IsEnabled is true on the
session bus, or always with QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1. Started by tests.helpers.a11y.test_window."""

from __future__ import annotations

import json
import sys
import threading

from PySide6.QtCore import QMetaObject, QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QVBoxLayout, QWidget


def main() -> None:
    title = sys.argv[1] if len(sys.argv) > 1 else "a11y test window"
    app = QApplication([sys.argv[0]])
    window = QWidget()
    window.setWindowTitle(title)
    window.resize(420, 200)
    layout = QVBoxLayout(window)
    layout.setContentsMargins(20, 20, 20, 20)
    text = QLineEdit()
    text.setPlaceholderText("User name")
    password = QLineEdit()
    password.setEchoMode(QLineEdit.EchoMode.Password)
    password.setPlaceholderText("Password")
    button = QPushButton("Sign in")
    for w in (text, password, button):
        layout.addWidget(w)
    layout.addStretch(1)
    widgets: dict[str, QWidget] = {"text": text, "password": password, "button": button}

    def report() -> None:
        geometry = {}
        for name, widget in widgets.items():
            # Qt keeps the top level's screen position from the X server (it re-asks after a reparenting
            # window manager's ConfigureNotify), so this is right with and without window frames
            origin = widget.mapToGlobal(QPoint(0, 0))
            geometry[name] = [origin.x(), origin.y(), widget.width(), widget.height()]
        print(json.dumps(geometry), flush=True)

    def wait_exposed() -> None:
        handle = window.windowHandle()
        if handle is not None and handle.isExposed():
            QTimer.singleShot(100, report)  # let a window manager's late ConfigureNotify arrive
        else:
            QTimer.singleShot(20, wait_exposed)

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)

    threading.Thread(target=watch_stdin, daemon=True).start()
    window.show()
    window.activateWindow()  # with no window manager Qt sets the X input focus itself
    wait_exposed()
    app.exec()


if __name__ == "__main__":
    main()
