"""Platform backends: one small interface per capability, one factory that picks the implementation.

Business logic asks ``window_backend()`` / ``display_backend()`` and never looks at the platform itself.
Only X11 is written (chosen when DISPLAY is set); Wayland, macOS and Windows would slot in here.
Implementations are imported lazily, so importing this package needs no GUI library.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from recorder.errors import CaptureError
from trajrec.format import Display

NO_BACKEND = (
    "no X display: set DISPLAY, or record on an X11 session; Wayland/macOS/Windows backends are not written yet"
)


class BackendUnavailable(CaptureError):
    """No backend can serve this desktop (no X display, or the platform's backend is not written)."""


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """A top-level window; rect is its absolute client area in virtual-desktop physical pixels."""

    app: str  # application class (X11 WM_CLASS class), "" when unknown
    title: str
    x: int
    y: int
    w: int
    h: int
    pid: int | None = None
    window_id: int | None = None  # the platform's window handle (X11 window id)


class WindowBackend(ABC):
    """Which window has the keyboard focus."""

    @abstractmethod
    def focused(self) -> WindowInfo | None:
        """The focused top-level window, or None when no window has focus (or it vanished meanwhile)."""

    @abstractmethod
    def close(self) -> None: ...


class DisplayBackend(ABC):
    """The monitors that make up the virtual desktop."""

    @abstractmethod
    def displays(self) -> list[Display]: ...


class DummyWindowBackend(WindowBackend):
    """Plays back a list, one item per focused() call, then repeats the last one (for pure logic tests).

    An item that is an exception is raised when reached (to test error paths)."""

    def __init__(self, items: Iterable[WindowInfo | BaseException | None]) -> None:
        self._items = list(items)
        self._last: WindowInfo | None = None
        self.calls = 0
        self.closed = False

    def focused(self) -> WindowInfo | None:
        self.calls += 1
        if self._items:
            item = self._items.pop(0)
            if isinstance(item, BaseException):
                raise item
            self._last = item
        return self._last

    def close(self) -> None:
        self.closed = True


def window_backend() -> WindowBackend:
    """The window backend for this desktop; raises BackendUnavailable (a CaptureError) when there is none."""
    if os.environ.get("DISPLAY"):
        from recorder.platform.x11 import X11WindowBackend

        return X11WindowBackend()
    raise BackendUnavailable(NO_BACKEND)


def display_backend() -> DisplayBackend:
    """The display backend for this desktop; raises BackendUnavailable (a CaptureError) when there is none."""
    if os.environ.get("DISPLAY"):
        from recorder.platform.x11 import X11DisplayBackend

        return X11DisplayBackend()
    raise BackendUnavailable(NO_BACKEND)
