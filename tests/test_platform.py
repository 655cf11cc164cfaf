"""The platform detector (TRAJREC_PLATFORM, else DISPLAY), the factories built on it, the dummy backends,
and the one first-error helper, all without a display. The X11 backends are tested in test_platform_x11.py."""

from __future__ import annotations

import functools
import threading

import pytest

from recorder.capture.displays import DisplayLayoutSource
from recorder.capture.input import InputSource
from recorder.capture.window import WindowSource
from recorder.clock import Clock
from recorder.errors import BackendUnavailable, CaptureError, FirstError, UsageError
from recorder.plan import check_display
from recorder.platform import (
    Deliver,
    DummyDisplayBackend,
    DummyInputBackend,
    DummyWindowBackend,
    detect,
    display_backend,
    graphical_session,
    input_backend,
    window_backend,
)
from recorder.platform.dummy import DEFAULT_LAYOUT
from tests.helpers.harness import Ticks, wait_until
from trajrec import format as fmt
from trajrec.errors import TrajrecError

MOVE = fmt.InputEvent(0, 0, fmt.EventKind.MOVE, x=1, y=2)
F12 = fmt.InputEvent(0, 0, fmt.EventKind.KEY_DOWN, key="f12", scancode=96)
KEY = fmt.InputEvent(0, 0, fmt.EventKind.KEY_DOWN, key="b", char="b", scancode=56)


@pytest.fixture
def no_platform(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("TRAJREC_PLATFORM", raising=False)
    return monkeypatch


def test_detect_follows_display_unless_overridden(no_platform: pytest.MonkeyPatch) -> None:
    assert detect() is None
    no_platform.setenv("DISPLAY", ":5")
    assert detect() == "x11"
    no_platform.setenv("TRAJREC_PLATFORM", "dummy")
    assert detect() == "dummy"  # the override wins over DISPLAY
    no_platform.delenv("DISPLAY")
    no_platform.setenv("TRAJREC_PLATFORM", " X11 ")
    assert detect() == "x11"  # forced, even without DISPLAY: the X11 backends then say what is missing
    no_platform.setenv("TRAJREC_PLATFORM", "wayland")
    with pytest.raises(
        BackendUnavailable, match=r"^TRAJREC_PLATFORM='wayland' is not a platform: set it to one of x11, dummy$"
    ):
        detect()


def test_preflight_asks_the_detector(no_platform: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match=r"^no X display: set DISPLAY"):
        check_display()
    no_platform.setenv("TRAJREC_PLATFORM", "dummy")
    check_display()
    no_platform.setenv("TRAJREC_PLATFORM", "mac")
    with pytest.raises(UsageError, match="is not a platform"):
        check_display()


def test_graphical_session(no_platform: pytest.MonkeyPatch) -> None:
    no_platform.delenv("WAYLAND_DISPLAY", raising=False)
    no_platform.delenv("QT_QPA_PLATFORM", raising=False)
    assert not graphical_session()
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        no_platform.setenv(name, "x")
        assert graphical_session()
        no_platform.delenv(name)


def test_dummy_platform_gives_dummy_backends(no_platform: pytest.MonkeyPatch) -> None:
    for factory in (window_backend, display_backend):
        with pytest.raises(BackendUnavailable):
            factory()
    no_platform.setenv("TRAJREC_PLATFORM", "dummy")
    window = window_backend()
    assert isinstance(window, DummyWindowBackend) and window.focused() is None
    displays = display_backend()
    assert isinstance(displays, DummyDisplayBackend) and displays.displays() == list(DEFAULT_LAYOUT)
    assert isinstance(input_backend(Ticks(), print), DummyInputBackend)


def test_sources_run_on_the_dummy_platform(no_platform: pytest.MonkeyPatch) -> None:
    no_platform.setenv("TRAJREC_PLATFORM", "dummy")
    out: list[object] = []
    sources = [
        InputSource(Ticks(), out.append),
        WindowSource(Ticks(), out.append, interval_s=0.01),
        DisplayLayoutSource(Ticks(), out.append, interval_s=0.01),
    ]
    for s in sources:
        s.start()
    window = sources[1]
    assert isinstance(window, WindowSource)
    wait_until(lambda: window.polls >= 3, "three window polls")
    for s in sources:
        s.stop()
    assert out == []  # nothing played back, no window focused, the layout never changes


def test_dummy_input_plays_back_through_the_source_in_order_and_stamped() -> None:
    out: list[fmt.InputEvent] = []
    seen: list[fmt.InputEvent] = []

    def exclude(e: fmt.InputEvent) -> bool:
        seen.append(e)
        return e.key == "f12"

    backends: list[DummyInputBackend] = []

    def make(clock: Clock, deliver: Deliver) -> DummyInputBackend:
        backends.append(DummyInputBackend(clock, deliver, [MOVE, F12, KEY], interval_s=0.001))
        return backends[-1]

    source = InputSource(Ticks(), out.append, exclude=exclude, backend=make)
    source.start()
    with pytest.raises(CaptureError, match="already running"):
        source.start()
    assert backends[0].delivered.wait(5)
    source.stop()
    assert [e.t_ns for e in seen] == [1000, 2000, 3000]  # each stamped as it was delivered
    assert [(e.kind, e.key) for e in out] == [(MOVE.kind, None), (KEY.kind, "b")]
    assert backends[0].sent == 3


def test_dummy_input_callback_error_surfaces_from_stop_once() -> None:
    calls = {"n": 0}

    def emit(_: object) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError(f"boom {calls['n']}")

    backend = functools.partial(DummyInputBackend, events=[MOVE, MOVE, MOVE])
    source = InputSource(Ticks(), emit, backend=backend)
    source.start()
    wait_until(lambda: calls["n"] == 3, "all three events delivered")
    with pytest.raises(CaptureError, match=r"raised on 2 event\(s\), which were lost \(first: RuntimeError: boom 1\)"):
        source.stop()
    source.stop()  # reported once


def test_dummy_display_backend_plays_back_then_repeats_the_last() -> None:
    one, two = [DEFAULT_LAYOUT[0]], [DEFAULT_LAYOUT[0], fmt.Display(1, (1280, 0), (800, 600))]
    backend = DummyDisplayBackend([one, two, OSError("gone"), one])
    assert backend.displays() == one and backend.displays() == two
    with pytest.raises(OSError, match="gone"):
        backend.displays()
    assert backend.displays() == one and backend.displays() == one and backend.calls == 5


def test_first_error_keeps_the_first_counts_all_and_hands_over_once() -> None:
    errors = FirstError()
    first = ValueError("first")
    errors.keep(first)
    threads = [threading.Thread(target=errors.keep, args=(RuntimeError(str(i)),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors.error is first
    assert errors.take() == (first, 9)
    assert errors.take() == (None, 0)
    errors.raise_first("nothing kept")  # a no-op

    errors.keep(first)
    with pytest.raises(CaptureError, match=r"^the pump failed: ValueError: first$") as info:
        errors.raise_first("the pump")
    assert info.value.__cause__ is first
    own = UsageError("already says what to do")
    errors.keep(own)
    with pytest.raises(UsageError) as passed:
        errors.raise_first("the pump", passthrough=TrajrecError)
    assert passed.value is own
    errors.keep(own)
    with pytest.raises(CaptureError, match="the pump failed: UsageError"):
        errors.raise_first("the pump", passthrough=CaptureError)  # not a CaptureError: wrapped
