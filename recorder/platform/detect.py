"""The one platform detector and the backend factories built on it: nothing else looks at the platform.

``detect()`` names the platform the capture backends are for. ``TRAJREC_PLATFORM`` overrides it: ``x11``, or
``dummy`` (the playback backends of recorder.platform.dummy, for logic tests and scripted runs); otherwise
it is ``x11`` when DISPLAY is set, and None when no backend serves this desktop (Wayland, macOS and Windows
backends are not written yet; each would be one more name here and one more module).

The factories import an implementation only when asked for it (python-mss ``_choose_impl``, pynput
``backend()``), so importing this module needs no GUI or capture library.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from recorder.clock import Clock
from recorder.errors import BackendUnavailable
from recorder.platform.base import (
    AccessibilityBackend,
    Deliver,
    DisplayBackend,
    FramesBackend,
    HotkeyGrab,
    InputBackend,
    OnFocus,
    WindowBackend,
)

ENV = "TRAJREC_PLATFORM"
PLATFORMS = ("x11", "dummy")  # the values TRAJREC_PLATFORM accepts, and detect() returns

NO_BACKEND = (
    "no X display: set DISPLAY, or record on an X11 session; Wayland/macOS/Windows backends are not written yet"
)


def detect() -> str | None:
    """The platform to capture on: TRAJREC_PLATFORM when set, else "x11" when DISPLAY is set, else None.

    Raises BackendUnavailable when TRAJREC_PLATFORM names no platform."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced:
        if forced not in PLATFORMS:
            raise BackendUnavailable(f"{ENV}={forced!r} is not a platform: set it to one of {', '.join(PLATFORMS)}")
        return forced
    return "x11" if os.environ.get("DISPLAY") else None


def graphical_session() -> bool:
    """Can a GUI toolkit open a window here: an X or Wayland display, or a Qt platform plugin named explicitly
    (QT_QPA_PLATFORM=offscreen in tests)."""
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def _platform() -> str:
    platform = detect()
    if platform is None:
        raise BackendUnavailable(NO_BACKEND)
    return platform


def input_backend(clock: Clock, deliver: Deliver) -> InputBackend:
    """The input backend for this desktop; raises BackendUnavailable (a CaptureError) when there is none."""
    if _platform() == "dummy":
        from recorder.platform.dummy import DummyInputBackend

        return DummyInputBackend(clock, deliver)
    from recorder.platform.input_x11 import X11Input

    return X11Input(clock, deliver)


def window_backend() -> WindowBackend:
    """The window backend for this desktop; raises BackendUnavailable (a CaptureError) when there is none."""
    if _platform() == "dummy":
        from recorder.platform.dummy import DummyWindowBackend

        return DummyWindowBackend([])
    from recorder.platform.x11 import X11WindowBackend

    return X11WindowBackend()


def display_backend() -> DisplayBackend:
    """The display backend for this desktop; raises BackendUnavailable (a CaptureError) when there is none."""
    if _platform() == "dummy":
        from recorder.platform.dummy import DummyDisplayBackend

        return DummyDisplayBackend()
    from recorder.platform.x11 import X11DisplayBackend

    return X11DisplayBackend()


def accessibility_backend(clock: Clock, on_focus: OnFocus) -> AccessibilityBackend:
    """The accessibility backend (AT-SPI over D-Bus on Linux); raises BackendUnavailable when there is none.
    AT-SPI serves X11 and Wayland alike: it needs a D-Bus session, not a display."""
    if _platform() == "dummy":
        from recorder.platform.dummy import DummyAccessibilityBackend

        return DummyAccessibilityBackend(clock, on_focus, unavailable="the dummy platform has no accessibility bus")
    from recorder.platform.atspi import AtspiBackend

    return AtspiBackend(clock, on_focus)


def frames_backend() -> FramesBackend:
    """Applications' top-level windows as the accessibility tree names them; raises BackendUnavailable when the
    desktop has no accessibility bus (and on the dummy platform)."""
    if _platform() == "dummy":
        raise BackendUnavailable("the dummy platform has no accessibility bus")
    from recorder.platform.atspi import AtspiFrames

    return AtspiFrames()


def accessibility_on() -> Callable[[], None]:
    """Turn the accessibility tree on until the returned function is called; BackendUnavailable when there is none
    (recorder.platform.atspi.keep_on)."""
    if _platform() == "dummy":
        raise BackendUnavailable("the dummy platform has no accessibility bus")
    from recorder.platform.atspi import keep_on

    return keep_on()


def hotkey_grab() -> HotkeyGrab:
    """What keeps the recorder's hotkeys from the focused application (an X11 passive key grab); raises
    BackendUnavailable when the window system cannot grab keys."""
    if _platform() == "dummy":
        from recorder.platform.dummy import DummyHotkeyGrab

        return DummyHotkeyGrab()
    from recorder.platform.hotkeys_x11 import X11HotkeyGrab

    return X11HotkeyGrab()
