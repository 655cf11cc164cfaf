"""The platform interfaces: one small abstract base per capability (input, focused window, monitor layout,
accessibility).

Capture sources (recorder.capture) are written against these and get an implementation from the factories in
recorder.platform.detect; no module outside recorder.platform looks at the platform itself. Nothing here
imports a GUI or capture library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from recorder.clock import Clock
from recorder.errors import CaptureError, FirstError
from trajrec.format import Display, InputEvent

Deliver = Callable[[InputEvent], None]  # called on a backend's listener thread with each event
InputBackendFactory = Callable[[Clock, Deliver], "InputBackend"]  # how an InputSource gets its backend
OnFocus = Callable[[int, "ElementInfo"], None]  # (t_ns read when the focus change was heard, the element)
AccessibilityBackendFactory = Callable[[Clock, OnFocus], "AccessibilityBackend"]


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


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """An element of an application's accessibility tree (a button, a text field, a password field)."""

    role: str  # the platform's role name: "push button", "text", "password text"
    name: str
    states: tuple[str, ...]  # "focused", "editable", ...
    app: str
    toolkit: str
    rect: tuple[int, int, int, int] | None = None  # x, y, w, h in virtual-desktop physical px

    @property
    def password(self) -> bool:
        """A field whose text must never be recorded."""
        return self.role == "password text" or "protected" in self.states


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """A top-level window as its application names it in the accessibility tree: the application's own word for
    the window, which may say more than the window system's title (Chromium adds "(Incognito)" only here)."""

    name: str
    rect: tuple[int, int, int, int] | None  # x, y, w, h in virtual-desktop physical px
    active: bool


class WindowName(NamedTuple):
    app: str
    title: str
    window_id: int | None = None


class InputBackend(ABC):
    """Mouse and keyboard capture on one platform. Calls `deliver` from its own threads, once per event,
    with t_ns read from the session clock before anything else is done with the event."""

    @abstractmethod
    def start(self) -> None:
        """Return once events are being captured; raise CaptureError (one line, says what to do) if they
        cannot be."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and join the listeners; raise CaptureError for any error a listener or callback had."""


class WindowBackend(ABC):
    """Which window has the keyboard focus."""

    @abstractmethod
    def focused(self) -> WindowInfo | None:
        """The focused top-level window, or None when no window has focus (or it vanished meanwhile)."""

    def focused_name(self) -> WindowName | None:
        """App, title and id of the focused window: all a deny-list needs, as cheaply as the backend can tell it
        (the deny-list guard asks at every frame)."""
        info = self.focused()
        return None if info is None else WindowName(info.app, info.title, info.window_id)

    def info(self, window_id: int) -> WindowInfo | None:
        """One window by id, with its pid (None when it is gone or the backend cannot tell)."""
        return None

    def stacked(self) -> list[WindowInfo]:
        """The visible top-level windows from the bottom of the stack to the top (the order they are painted);
        each rect is the whole window with its frame (a window manager's title bar shows the title). Backends
        that cannot tell return []."""
        return []

    @abstractmethod
    def close(self) -> None: ...


class AccessibilityBackend(ABC):
    """The desktop's accessibility tree: focus changes as they happen, and the element at a point. Turns the
    tree on for the session (as screen readers do) and back to how it was at stop()."""

    @abstractmethod
    def start(self) -> None:
        """Return once focus changes are heard (the backend calls its `OnFocus` on its own thread); raise
        BackendUnavailable (one line, says why) when the desktop has no accessibility bus."""

    @abstractmethod
    def element_at(self, x: int, y: int) -> ElementInfo | None:
        """The deepest element at (x, y), virtual-desktop physical px; None when no application shows one there.
        Blocks for a few ms (questions to the application); call it off the capture threads."""

    @abstractmethod
    def stop(self) -> None:
        """Stop listening; raise CaptureError for any error the listener had."""


class FramesBackend(ABC):
    """The accessibility tree's top-level windows of one application: for guards that go by what the application
    itself says about a window. Opening it does not turn the tree on (AccessibilityBackend does)."""

    @abstractmethod
    def frames(self, pid: int) -> list[FrameInfo] | None:
        """The top-level windows of the application with process id `pid`; None when no such application is on the
        accessibility bus. Blocks for a few ms to tens of ms (questions to the application). Raises CaptureError
        when the bus does not answer (ask again later)."""

    @abstractmethod
    def close(self) -> None: ...


class HotkeyGrab(ABC):
    """Keeps chords from the focused application, so that the recorder's hotkeys act on the recorder alone (the
    input listener still hears them). Opening it needs the window system, not a session."""

    @abstractmethod
    def grab(self, chords: Sequence[tuple[str, frozenset[str]]]) -> list[str]:
        """Grab each (key, modifiers) chord; the chords the window system refused, each in words."""

    @abstractmethod
    def release(self) -> None:
        """Let every chord through again and close."""


class DisplayBackend(ABC):
    """The monitors that make up the virtual desktop."""

    @abstractmethod
    def displays(self) -> list[Display]: ...


def one_line(e: BaseException) -> str:
    """``Type: first line of the message``, whitespace folded: for one-line error messages."""
    first = next((line for line in str(e).splitlines() if line.strip()), "no details")
    return f"{type(e).__name__}: {' '.join(first.split())}"


def raise_lost_events(errors: FirstError) -> None:
    """An input backend's stop() report of its `deliver` callback raising: each such event was lost, capture
    went on; the first error is raised once, with the count."""
    error, count = errors.take()
    if error is not None:
        raise CaptureError(
            f"an input callback raised on {count} event(s), which were lost (first: {one_line(error)}): "
            "fix the emit/exclude callback"
        ) from error
