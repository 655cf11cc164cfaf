"""What applications say of their own windows: Chromium names an incognito window "(Incognito)" only in its
accessibility tree. The rules of recorder.privacy.own_word on scripted frames (pure logic); the real browser is
in test_privacy_browser.py."""

from __future__ import annotations

import threading

import numpy as np

from recorder.errors import BackendUnavailable, CaptureError
from recorder.platform import DummyFramesBackend, DummyWindowBackend, FrameInfo, FramesBackend, WindowInfo
from recorder.privacy.denylist import DenyGate, DenyList
from recorder.privacy.mask import FILL_BGRA
from recorder.privacy.own_word import PENDING_NS, RETRY_NS, SLOW_RETRY_NS, OwnWord
from recorder.privacy.state import PrivacyState
from trajrec.format import PrivacyKind

PID = 4242
NORMAL = WindowInfo("Chromium", "Bank - Chromium", 0, 0, 600, 400, PID, 11)
PRIVATE = WindowInfo("Chromium", "Search - Chromium", 620, 0, 600, 400, PID, 12)
TERMINAL = WindowInfo("XTerm", "bash", 0, 420, 600, 300, 777, 13)
STACK = [NORMAL, PRIVATE, TERMINAL]


def frame(name: str, w: WindowInfo, active: bool = False) -> FrameInfo:
    return FrameInfo(name, (w.x, w.y, w.w, w.h), active)


def chromium(*frames: FrameInfo) -> DummyFramesBackend:
    return DummyFramesBackend({PID: list(frames)})


SETTLED = chromium(frame("Bank - Chromium", NORMAL), frame("Search - Chromium (Incognito)", PRIVATE))


def ask(own: OwnWord, w: WindowInfo, now: int, stack: list[WindowInfo] = STACK, title: str | None = None) -> bool:
    """The gate's question at `now`, once the worker has answered what it asked (the capture threads never wait;
    a question still unanswered counts as private)."""
    own.denied(w.window_id or 0, w.app, title or w.title, now, lambda: stack)
    assert own.settle()
    return own.denied(w.window_id or 0, w.app, title or w.title, now, lambda: stack)


def judge(backend: FramesBackend, w: WindowInfo, now: int = 0, stack: list[WindowInfo] = STACK) -> tuple[OwnWord, bool]:
    own = OwnWord(DenyList().denies, lambda: backend)
    return own, ask(own, w, now, stack)


def test_the_frame_named_incognito_is_private_and_its_sibling_is_not_each_asked_once() -> None:
    own, private = judge(SETTLED, PRIVATE)
    assert private
    assert not ask(own, NORMAL, 0)
    for t in range(1, 50):  # a verdict is kept for the window's life: no more questions at every frame
        assert own.denied(12, PRIVATE.app, "Other page - Chromium", t * RETRY_NS, lambda: STACK)
        assert not own.denied(11, NORMAL.app, NORMAL.title, t * RETRY_NS, lambda: STACK)
    assert SETTLED.calls == 2
    assert own.known(12, 0) and not own.known(11, 0)
    own.close()


def test_a_window_counts_as_private_until_the_first_answer_about_it() -> None:
    release = threading.Event()

    class Slow(DummyFramesBackend):
        def frames(self, pid: int) -> list[FrameInfo] | None:
            release.wait(5)  # a busy browser
            return super().frames(pid)

    slow = Slow(SETTLED.apps)
    own = OwnWord(DenyList().denies, lambda: slow)
    assert own.denied(11, NORMAL.app, NORMAL.title, 0, lambda: STACK)  # not answered yet: private, no waiting
    assert own.known(11, 0) and not own.known(11, PENDING_NS)  # ...for at most PENDING_NS
    release.set()
    assert own.settle()
    assert not own.denied(11, NORMAL.app, NORMAL.title, 0, lambda: STACK)
    own.close()


def test_frames_of_both_kinds_that_fit_are_told_apart_by_extents_else_the_window_is_private() -> None:
    twin = WindowInfo("Chromium", "Bank - Chromium", 620, 0, 600, 400, PID, 12)  # same title as NORMAL
    stack = [NORMAL, twin]
    both = chromium(frame("Bank - Chromium", NORMAL), frame("Bank - Chromium (Incognito)", twin))
    assert judge(both, twin, stack=stack)[1] and not judge(both, NORMAL, stack=stack)[1]
    same_place = chromium(frame("Bank - Chromium", twin), frame("Bank - Chromium (Incognito)", twin))
    own, private = judge(same_place, NORMAL, stack=stack)
    assert private  # which is which cannot be told: private, and asked again later
    late = SLOW_RETRY_NS + PENDING_NS
    assert ask(own, NORMAL, late, stack) and same_place.calls == 2


def test_a_window_whose_frame_is_not_named_yet_is_private_for_a_moment_only() -> None:
    unnamed = chromium(frame("Bank - Chromium", NORMAL), frame("", PRIVATE))
    own, private = judge(unnamed, PRIVATE)
    assert private and ask(own, PRIVATE, PENDING_NS - 1)
    assert not ask(own, PRIVATE, PENDING_NS)
    unnamed.apps[PID] = [frame("Bank - Chromium", NORMAL), frame("Search - Chromium (Incognito)", PRIVATE)]
    assert ask(own, PRIVATE, PENDING_NS + SLOW_RETRY_NS)  # named now


def test_while_a_new_window_settles_a_normal_looking_match_waits() -> None:
    # a new incognito window, its frame still named after its first title while its title already changed
    # to that of a normal window: the normal frame fits, but a frame fits no title, so nothing is decided yet
    twin = WindowInfo("Chromium", "Bank - Chromium", 620, 0, 600, 400, PID, 12)
    stack = [NORMAL, twin]
    settling = chromium(frame("Bank - Chromium", NORMAL), frame("Untitled - Chromium (Incognito)", NORMAL))
    own, private = judge(settling, twin, stack=stack)
    assert private
    settling.apps[PID] = [frame("Bank - Chromium", NORMAL), frame("Bank - Chromium (Incognito)", twin)]
    assert ask(own, twin, RETRY_NS, stack)
    assert ask(own, twin, 10 * PENDING_NS, stack)  # decided: private for good


def test_applications_off_the_bus_and_a_desktop_without_one_go_by_titles_alone() -> None:
    own, private = judge(SETTLED, TERMINAL)
    assert not private and not own.known(13, 0)

    def no_bus() -> FramesBackend:
        raise BackendUnavailable("no accessibility bus")

    own = OwnWord(DenyList().denies, no_bus)
    ask(own, PRIVATE, 0)
    assert not own.denied(12, PRIVATE.app, PRIVATE.title, 0, lambda: STACK)
    assert own.unavailable == "no accessibility bus" and not own.known(12, 0)

    class Silent(DummyFramesBackend):
        def frames(self, pid: int) -> list[FrameInfo] | None:
            self.calls += 1
            raise CaptureError("the accessibility registry does not answer")

    silent = Silent({})
    own = OwnWord(DenyList().denies, lambda: silent)
    assert ask(own, PRIVATE, 0) and own.unavailable is None  # no answer: private for the moment
    assert not ask(own, PRIVATE, PENDING_NS)  # ...and then by its title
    assert silent.calls == 2  # asked again


def test_the_gate_withholds_the_focused_private_window_and_fills_it_when_it_only_shows() -> None:
    state = PrivacyState()
    clock = iter(range(0, 10**12, 10**6)).__next__
    backend = DummyWindowBackend([PRIVATE, NORMAL, NORMAL], stack=STACK)
    gate = DenyGate(DenyList(), state, clock, backend=lambda: backend, frames=lambda: SETTLED)
    assert gate.own_word is not None
    gate.private_now()
    assert gate.own_word.settle()
    backend._items.insert(0, PRIVATE)  # the same window still has the focus
    assert gate.private_now()  # the incognito window has the focus: no frame, no input
    assert state.is_on(PrivacyKind.DENY_LIST)
    gate.private_now()  # the normal one, first seen: private until the answer
    assert gate.own_word.settle()
    assert not gate.private_now()
    image = np.full((720, 1280, 4), 255, np.uint8)
    gate.mask(image, (0, 0))
    assert gate.own_word.settle()
    gate._stack_at = -(1 << 62)  # read the stack again now that every window has its answer
    image = np.full((720, 1280, 4), 255, np.uint8)
    assert gate.mask(image, (0, 0))
    hidden = (image == FILL_BGRA).all(axis=2)
    assert hidden[10:400, 620:1220].all() and not hidden[10:400, 0:600].any() and not hidden[420:, :].any()
    assert gate.hides(PRIVATE) and not gate.hides(NORMAL) and not gate.hides(TERMINAL)
    gate.close()


def test_the_window_source_waits_for_the_verdict_and_keeps_the_moment_of_the_focus_change() -> None:
    from recorder.capture.window import WindowSource

    answers = iter([True, True, False])  # pending, pending, known not private
    emitted: list[object] = []
    ticks = iter(range(1000, 10**9, 1000)).__next__
    src = WindowSource(ticks, emitted.append, backend=DummyWindowBackend([NORMAL]), hide=lambda _w: next(answers))
    assert [src.poll() for _ in range(4)].count(None) == 3
    assert len(emitted) == 1 and getattr(emitted[0], "t_ns", None) == 1000  # the first poll that saw it
    assert getattr(emitted[0], "title", None) == NORMAL.title


def test_the_gate_asks_only_about_browsers_and_holds_back_no_other_new_window() -> None:
    frames = DummyFramesBackend({777: [frame("bash (Incognito)", TERMINAL)]})  # what no terminal would say anyway
    backend = DummyWindowBackend([TERMINAL], stack=STACK)
    clock = iter(range(0, 10**12, 10**6)).__next__
    gate = DenyGate(DenyList(), PrivacyState(), clock, backend=lambda: backend, frames=lambda: frames)
    assert not gate.private_now() and not gate.hides(TERMINAL)  # at once: no gap while an answer is awaited
    assert frames.calls == 0
    gate.close()
