"""Platform backends: one small interface per capability, one detector that picks the implementation.

Capture asks ``input_backend()`` / ``window_backend()`` / ``display_backend()`` and never looks at the
platform itself. The modules:

- ``base``: the interfaces (InputBackend, WindowBackend, DisplayBackend, WindowInfo, Deliver);
- ``detect``: ``detect()`` (TRAJREC_PLATFORM, else DISPLAY) and the factories built on it;
- ``dummy``: playback backends for logic tests (``TRAJREC_PLATFORM=dummy``);
- ``x11`` (focused window, monitor layout), ``input_x11`` (mouse and keyboard) and ``hotkeys_x11`` (the
  recorder's hotkeys kept from other applications): the X11 backends;
- ``atspi``: the accessibility tree (focus changes, the element at a point, applications' frames) over D-Bus.

Only X11 is written; Wayland, macOS and Windows would slot in beside it. Implementations are imported lazily,
so importing this package needs no GUI or capture library. This package sits below recorder.capture and
never imports it.
"""

from __future__ import annotations

from recorder.errors import BackendUnavailable
from recorder.platform.base import (
    AccessibilityBackend,
    AccessibilityBackendFactory,
    Deliver,
    DisplayBackend,
    ElementInfo,
    FrameInfo,
    FramesBackend,
    HotkeyGrab,
    InputBackend,
    InputBackendFactory,
    OnFocus,
    WindowBackend,
    WindowInfo,
)
from recorder.platform.detect import (
    ENV,
    NO_BACKEND,
    PLATFORMS,
    accessibility_backend,
    accessibility_on,
    detect,
    display_backend,
    frames_backend,
    graphical_session,
    hotkey_grab,
    input_backend,
    window_backend,
)
from recorder.platform.dummy import (
    DummyAccessibilityBackend,
    DummyDisplayBackend,
    DummyFramesBackend,
    DummyHotkeyGrab,
    DummyInputBackend,
    DummyWindowBackend,
)

__all__ = [
    "ENV",
    "NO_BACKEND",
    "PLATFORMS",
    "AccessibilityBackend",
    "AccessibilityBackendFactory",
    "BackendUnavailable",
    "Deliver",
    "DisplayBackend",
    "DummyAccessibilityBackend",
    "DummyDisplayBackend",
    "DummyFramesBackend",
    "DummyHotkeyGrab",
    "DummyInputBackend",
    "DummyWindowBackend",
    "ElementInfo",
    "FrameInfo",
    "FramesBackend",
    "HotkeyGrab",
    "InputBackend",
    "InputBackendFactory",
    "OnFocus",
    "WindowBackend",
    "WindowInfo",
    "accessibility_backend",
    "accessibility_on",
    "detect",
    "display_backend",
    "frames_backend",
    "graphical_session",
    "hotkey_grab",
    "input_backend",
    "window_backend",
]
