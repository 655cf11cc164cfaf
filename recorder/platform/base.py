"""The platform interfaces: one small abstract base per capability (input, focused window, monitor layout).

Capture sources (recorder.capture) are written against these and get an implementation from the factories in
recorder.platform.detect; no module outside recorder.platform looks at the platform itself. Nothing here
imports a GUI or capture library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from recorder.clock import Clock
from recorder.errors import CaptureError, FirstError
from trajrec.format import Display, InputEvent

Deliver = Callable[[InputEvent], None]  # called on a backend's listener thread with each event
InputBackendFactory = Callable[[Clock, Deliver], "InputBackend"]  # how an InputSource gets its backend


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

    @abstractmethod
    def close(self) -> None: ...


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
