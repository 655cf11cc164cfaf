"""Dummy backends, one per capability: they play back what they are given, for logic tests without a desktop.

Selected by ``TRAJREC_PLATFORM=dummy`` (recorder.platform.detect), or handed to a source directly
(``WindowSource(backend=...)``, ``InputSource(backend=functools.partial(DummyInputBackend, events=...))``).
They keep the contracts of the real backends: input is delivered from a thread of its own, stamped on the
session clock as it is delivered, and a callback that raises loses that event only and surfaces from stop().
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from recorder.clock import Clock
from recorder.errors import BackendUnavailable, CaptureError, FirstError
from recorder.platform.base import (
    AccessibilityBackend,
    Deliver,
    DisplayBackend,
    ElementInfo,
    FrameInfo,
    FramesBackend,
    HotkeyGrab,
    InputBackend,
    OnFocus,
    WindowBackend,
    WindowInfo,
    raise_lost_events,
)
from trajrec.format import Display, InputEvent

# What DummyDisplayBackend reports when given nothing: one 1280x720 monitor (the test Xvfb's size).
DEFAULT_LAYOUT = (Display(id=0, origin=(0, 0), size_px=(1280, 720), primary=True),)


class DummyInputBackend(InputBackend):
    """Delivers the given events from its own thread once started, each restamped with clock() as it goes
    (so their order is the given one), `interval_s` apart; `delivered` is set once all are out."""

    def __init__(
        self, clock: Clock, deliver: Deliver, events: Iterable[InputEvent] = (), *, interval_s: float = 0.0
    ) -> None:
        self._clock = clock
        self._deliver = deliver
        self._events = list(events)
        self._interval_s = interval_s
        self._errors = FirstError()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = threading.Event()
        self.sent = 0  # events handed to deliver (whether it raised or not)

    def start(self) -> None:
        if self._thread is not None:
            raise CaptureError("input capture is already running: stop() it before starting again")
        self._stop.clear()
        self._thread = threading.Thread(target=self._play, name="input-dummy", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        for event in self._events:
            if self._stop.is_set():
                return
            stamped = dataclasses.replace(event, t_ns=self._clock())
            try:
                self._deliver(stamped)
            except Exception as e:  # kept for stop(); playback goes on, as on a real listener
                self._errors.keep(e)
            self.sent += 1
            if self._interval_s:
                self._stop.wait(self._interval_s)
        self.delivered.set()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(5)
        raise_lost_events(self._errors)


class DummyWindowBackend(WindowBackend):
    """Plays back a list, one item per focused() call, then repeats the last one (for pure logic tests).

    An item that is an exception is raised when reached (to test error paths)."""

    def __init__(self, items: Iterable[WindowInfo | BaseException | None], stack: Sequence[WindowInfo] = ()) -> None:
        self._items = list(items)
        self.stack = list(stack)
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

    def stacked(self) -> list[WindowInfo]:
        return list(self.stack)

    def info(self, window_id: int) -> WindowInfo | None:
        known = [*self.stack, *([self._last] if self._last is not None else [])]
        return next((w for w in reversed(known) if w.window_id == window_id), None)

    def close(self) -> None:
        self.closed = True


class DummyDisplayBackend(DisplayBackend):
    """Plays back layouts, one per displays() call, then repeats the last one (one 1280x720 monitor when
    given none). A layout that is an exception is raised when reached."""

    def __init__(self, layouts: Iterable[Sequence[Display] | BaseException] = (DEFAULT_LAYOUT,)) -> None:
        self._layouts = list(layouts) or [DEFAULT_LAYOUT]
        self.calls = 0

    def displays(self) -> list[Display]:
        self.calls += 1
        item = self._layouts.pop(0) if len(self._layouts) > 1 else self._layouts[0]
        if isinstance(item, BaseException):
            raise item
        return list(item)


class DummyAccessibilityBackend(AccessibilityBackend):
    """A scripted accessibility tree: `focus(info)` is a focus change heard now (stamped on the session clock),
    `at` answers element_at; `unavailable` makes start() fail as a desktop without an accessibility bus does."""

    def __init__(
        self,
        clock: Clock,
        on_focus: OnFocus,
        at: Callable[[int, int], ElementInfo | None] = lambda _x, _y: None,
        unavailable: str | None = None,
    ) -> None:
        self.clock = clock
        self.on_focus = on_focus
        self.at = at
        self.unavailable = unavailable
        self.running = False

    def start(self) -> None:
        if self.unavailable is not None:
            raise BackendUnavailable(self.unavailable)
        self.running = True

    def focus(self, info: ElementInfo) -> None:
        if self.running:
            self.on_focus(self.clock(), info)

    def element_at(self, x: int, y: int) -> ElementInfo | None:
        return self.at(x, y)

    def stop(self) -> None:
        self.running = False


class DummyFramesBackend(FramesBackend):
    """Applications' frames from a dict pid -> frames (a pid missing: not on the accessibility bus); `calls`
    counts the questions."""

    def __init__(self, apps: Mapping[int, Sequence[FrameInfo]]) -> None:
        self.apps = dict(apps)
        self.calls = 0

    def frames(self, pid: int) -> list[FrameInfo] | None:
        self.calls += 1
        found = self.apps.get(pid)
        return None if found is None else list(found)

    def close(self) -> None:
        pass


class DummyHotkeyGrab(HotkeyGrab):
    """Remembers what is grabbed; chords in `refuse` are refused as another application's."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.refuse = set(refuse)
        self.grabbed: list[tuple[str, frozenset[str]]] = []
        self.released = False

    def grab(self, chords: Sequence[tuple[str, frozenset[str]]]) -> list[str]:
        refused = []
        for key, modifiers in chords:
            chord = "+".join([*sorted(modifiers), key])
            if chord in self.refuse:
                refused.append(f"{chord} (another application holds it)")
            else:
                self.grabbed.append((key, modifiers))
        return refused

    def release(self) -> None:
        self.grabbed.clear()
        self.released = True
