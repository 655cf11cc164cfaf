"""WindowSource: change detection and pause/resume on a DummyWindowBackend, then the real thing on Xvfb."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from recorder.capture.window import WindowSource
from recorder.clock import SessionClock
from recorder.errors import CaptureError
from recorder.platform import DummyWindowBackend, WindowInfo
from recorder.privacy.identity import Identity, Scrubber
from tests.helpers.harness import Display, Ticks, wait_until
from tests.helpers.xclient import XClient, x_keepalive
from trajrec.format import WindowRecord

A = WindowInfo("Alpha", "doc.txt", 100, 50, 400, 300, pid=11, window_id=0xA)
B = WindowInfo("Beta", "Inbox", 600, 200, 320, 240, pid=22, window_id=0xB)


def record(info: WindowInfo, t_ns: int = 0) -> WindowRecord:
    return WindowRecord(t_ns, info.app, info.title, info.x, info.y, info.w, info.h, True, info.pid, info.window_id)


def untimed(records: list[object]) -> list[object]:
    return [replace(r, t_ns=0) if isinstance(r, WindowRecord) else r for r in records]


# --- pure logic ---------------------------------------------------------------------------------------
def test_emits_on_every_change_of_app_title_rect_or_id_and_not_otherwise() -> None:
    retitled = replace(A, title="doc.txt *")
    moved = replace(retitled, x=120)
    resized = replace(moved, h=310)
    other_pid = replace(resized, pid=99)  # the pid alone is no change
    same_id_other_app = replace(resized, app="Gamma")
    items = [None, A, A, retitled, moved, moved, resized, other_pid, same_id_other_app, B, None, None, B, B]
    emitted: list[object] = []
    src = WindowSource(Ticks(), emitted.append, backend=DummyWindowBackend(items))
    returned = [src.poll() for _ in items]
    assert untimed(emitted) == [
        record(A),
        record(retitled),
        record(moved),
        record(resized),
        record(same_id_other_app),
        record(B),
        record(B),
    ]
    assert [r for r in returned if r is not None] == emitted
    assert [r.t_ns for r in emitted if isinstance(r, WindowRecord)] == [1000, 2000, 3000, 4000, 5000, 6000, 7000]
    assert src.polls == len(items) and src.sent == 7


def test_pause_queries_nothing_and_resume_repeats_the_current_window() -> None:
    paused = False
    backend = DummyWindowBackend([A, A, A, A])
    emitted: list[object] = []
    src = WindowSource(Ticks(), emitted.append, backend=backend, paused=lambda: paused)
    src.poll()
    src.poll()
    paused = True
    for _ in range(5):
        assert src.poll() is None
    assert backend.calls == 2  # nothing read while paused
    paused = False
    src.poll()  # unchanged, but the first look after a gap
    src.poll()
    assert untimed(emitted) == [record(A), record(A)]


def test_resume_onto_no_window_waits_for_the_next_window() -> None:
    paused = True
    emitted: list[object] = []
    src = WindowSource(Ticks(), emitted.append, backend=DummyWindowBackend([None, None, A, A]), paused=lambda: paused)
    src.poll()
    paused = False
    for _ in range(4):
        src.poll()
    assert untimed(emitted) == [record(A)]


def test_worker_polls_until_stopped_and_leaves_a_given_backend_open() -> None:
    backend = DummyWindowBackend([A, B])
    emitted: list[object] = []
    src = WindowSource(SessionClock.now_ns, emitted.append, interval_s=0.005, backend=backend)
    src.start()
    wait_until(lambda: backend.calls >= 5, "five polls")
    src.stop()
    assert untimed(emitted) == [record(A), record(B)]
    assert not backend.closed
    calls = backend.calls
    time.sleep(0.03)
    assert backend.calls == calls  # stopped for good
    src.stop()  # a second stop is harmless


@pytest.mark.parametrize(
    ("error", "expected"),
    [(RuntimeError("boom"), r"window-capture failed: RuntimeError: boom"), (CaptureError("lost X"), r"^lost X$")],
)
def test_stop_reraises_the_worker_error(error: BaseException, expected: str) -> None:
    backend = DummyWindowBackend([A, error])
    src = WindowSource(SessionClock.now_ns, lambda r: None, interval_s=0.005, backend=backend)
    src.start()
    wait_until(lambda: backend.calls >= 2, "the failing poll")
    with pytest.raises(CaptureError, match=expected):
        src.stop()


def test_bad_interval_is_refused() -> None:
    with pytest.raises(CaptureError, match="choose between"):
        WindowSource(SessionClock.now_ns, lambda r: None, interval_s=0)


# --- real X display -----------------------------------------------------------------------------------
@pytest.fixture
def xclient(x_display: Display) -> Iterator[XClient]:
    with x_keepalive(x_display.name):  # see there: Xvfb resets when its last client leaves
        c = XClient(x_display.name)
        try:
            yield c
        finally:
            c.close()


def test_records_the_focus_history_of_real_windows(xclient: XClient) -> None:
    a = xclient.window("Alpha", "doc.txt — Alpha", 100, 50, 400, 300, pid=4242)
    b = xclient.window("Beta", "Inbox", 600, 200, 320, 240, pid=4343)
    emitted: list[object] = []
    pause = threading.Event()
    src = WindowSource(SessionClock.now_ns, emitted.append, interval_s=0.01, paused=pause.is_set)
    t0 = SessionClock.now_ns()
    src.start()  # opens the X11 backend (DISPLAY is the Xvfb)
    try:

        def settle(n: int) -> None:
            """Wait for n records in all, then for two more polls to be sure nothing else comes."""
            wait_until(lambda: len(emitted) >= n, f"record {n}")
            polls = src.polls
            wait_until(lambda: src.polls >= polls + 2, "two more polls")
            assert len(emitted) == n, untimed(emitted)

        settle(0)  # focus on no window: nothing
        xclient.focus(a)
        settle(1)
        xclient.focus(b)
        settle(2)
        xclient.set_title(b, "Inbox (1)")
        settle(3)
        xclient.move(b, 640, 260)
        settle(4)
        xclient.focus_none()
        settle(4)
        xclient.focus(a)
        settle(5)
        pause.set()
        time.sleep(0.1)  # let a poll that was already past the pause check finish
        polls = src.polls
        time.sleep(0.05)
        assert src.polls == polls  # nothing is read while paused
        pause.clear()
        settle(6)  # the same window again after the gap
    finally:
        src.stop()
    assert src._backend is None  # the backend it opened, it closed

    a0 = WindowRecord(0, "Alpha", "doc.txt — Alpha", 100, 50, 400, 300, True, 4242, a.id)
    b0 = WindowRecord(0, "Beta", "Inbox", 600, 200, 320, 240, True, 4343, b.id)
    b1 = replace(b0, title="Inbox (1)")
    b2 = replace(b1, rect_x=640, rect_y=260)
    assert untimed(emitted) == [a0, b0, b1, b2, a0, a0]
    times = [r.t_ns for r in emitted if isinstance(r, WindowRecord)]
    assert times == sorted(times) and times[0] > t0 and times[-1] < SessionClock.now_ns()


def test_window_titles_never_carry_the_home_folder_user_or_host_name(xclient: XClient) -> None:
    """A terminal's title names who and where the expert is; the record does not (recorder.privacy.identity)."""
    import getpass
    import socket

    me = Identity.here()
    assert me.user == getpass.getuser() and me.host == socket.gethostname()
    title = f"{me.user}@{me.host}: {me.home}/thesis — {me.host} build"
    win = xclient.window("XTerm", title, 100, 50, 400, 300, pid=4242)
    emitted: list[WindowRecord] = []
    src = WindowSource(SessionClock.now_ns, emitted.append, interval_s=0.01)
    src.start()
    try:
        xclient.focus(win)
        wait_until(lambda: len(emitted) >= 1, "the terminal's record")
    finally:
        src.stop()
    host = "<host>" if len(me.host) >= 3 else me.host  # a short name alone is too likely a word
    assert emitted[0].title == f"<user>@<host>: ~/thesis — {host} build"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ana@lab-laptop: ~/thesis", "<user>@<host>: ~/thesis"),
        ("/home/ana/data - Files", "~/data - Files"),
        ("ssh ana@lab-laptop.uni.edu", "ssh <user>@<host>"),
        ("banana split on lab-laptop-2", "banana split on lab-laptop-2"),  # whole words only
        ("/home/anabel/x", "/home/anabel/x"),
    ],
)
def test_the_scrubber_replaces_whole_names_only(text: str, expected: str) -> None:
    assert Scrubber(Identity("ana", "lab-laptop.uni.edu", "/home/ana"))(text) == expected


def test_short_names_are_replaced_only_as_user_at_host() -> None:
    assert Scrubber(Identity("al", "vm", "/home/al"))("al@vm: ~/x on vm, al") == "<user>@<host>: ~/x on vm, al"
