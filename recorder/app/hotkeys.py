"""Global hotkeys (pause/resume, stop, step marker) that work whichever window has the focus.

They are noticed by the session's own input capture: OwnInputFilter matches the chords, keeps them out of
the trajectory and calls `HotkeyRelay`, which only emits a Qt signal; Qt delivers it on the GUI thread. So
there is one keyboard hook, not two, and a hotkey that acts is by construction one that is not recorded.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class HotkeyRelay(QObject):
    """Called on the input thread with an action name; emits `triggered(action)` for the GUI thread."""

    triggered = Signal(str)

    def __call__(self, action: str) -> None:
        self.triggered.emit(action)
