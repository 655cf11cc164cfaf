"""The X11 window and display backends against a real Xvfb, with real windows made by a second X client.

No window manager runs: windows sit exactly where they are mapped, have no frames, and the focus is
whatever XSetInputFocus last said (the server starts in PointerRoot mode)."""

from __future__ import annotations

import gc
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from Xlib import X, Xatom  # type: ignore[import-untyped]

from recorder.errors import BackendUnavailable, CaptureError
from recorder.platform import NO_BACKEND, WindowInfo, display_backend, window_backend
from recorder.platform.x11 import X11DisplayBackend, X11WindowBackend, _mode_hz
from tests.helpers.harness import Display
from tests.helpers.xclient import XClient, x_keepalive


@pytest.fixture(scope="module")
def x_server(x_display: Display) -> Iterator[Display]:
    """The session's Xvfb, kept from resetting while this module's tests run."""
    with x_keepalive(x_display.name):
        yield x_display


@pytest.fixture
def xclient(x_server: Display) -> Iterator[XClient]:
    c = XClient(x_server.name)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def backend(x_server: Display) -> Iterator[X11WindowBackend]:
    b = X11WindowBackend()
    try:
        yield b
    finally:
        b.close()


def test_focused_window_is_described_exactly(xclient: XClient, backend: X11WindowBackend) -> None:
    a = xclient.window("Alpha", "Alpha — ünïcode ✓", 100, 50, 400, 300, pid=4242)
    b = xclient.window("Beta", "Beta", 600, 200, 320, 240, pid=4343)
    assert backend.focused() is None  # focus is on no window
    xclient.focus(a)
    assert backend.focused() == WindowInfo("Alpha", "Alpha — ünïcode ✓", 100, 50, 400, 300, 4242, a.id)
    xclient.focus(b)
    assert backend.focused() == WindowInfo("Beta", "Beta", 600, 200, 320, 240, 4343, b.id)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_focus_given_by_another_program_is_seen(xclient: XClient, backend: X11WindowBackend) -> None:
    a = xclient.window("Alpha", "A", 10, 10, 100, 100)
    subprocess.run(["xdotool", "windowfocus", "--sync", str(a.id)], check=True, timeout=10)
    info = backend.focused()
    assert info is not None and info.window_id == a.id


def test_title_change_and_move_are_seen(xclient: XClient, backend: X11WindowBackend) -> None:
    a = xclient.window("Alpha", "first", 100, 50, 400, 300)
    xclient.focus(a)
    xclient.set_title(a, "second")
    xclient.move(a, 300, 400)
    assert backend.focused() == WindowInfo("Alpha", "second", 300, 400, 400, 300, None, a.id)


def test_focus_inside_a_window_reports_its_top_level(xclient: XClient, backend: X11WindowBackend) -> None:
    a = xclient.window("Alpha", "A", 100, 50, 400, 300)
    inner = xclient.window(None, None, 20, 30, 50, 40, parent=a)  # e.g. a text field of the app
    xclient.focus(inner)
    assert backend.focused() == WindowInfo("Alpha", "A", 100, 50, 400, 300, None, a.id)


def test_name_and_class_fallbacks(xclient: XClient, backend: X11WindowBackend) -> None:
    old = xclient.window("Old", "café", 0, 0, 50, 50, net_name=False)  # WM_NAME only, Latin-1
    old.change_property(Xatom.WM_CLASS, Xatom.STRING, 8, b"oldie\0")  # instance only, no class
    xclient.focus(old)
    assert backend.focused() == WindowInfo("oldie", "café", 0, 0, 50, 50, None, old.id)
    bare = xclient.window(None, None, 60, 0, 50, 50)  # no WM_CLASS, no name at all
    xclient.focus(bare)
    assert backend.focused() == WindowInfo("", "", 60, 0, 50, 50, None, bare.id)


def test_pointer_root_focus_follows_the_pointer(xclient: XClient, backend: X11WindowBackend) -> None:
    b = xclient.window("Beta", "B", 600, 200, 320, 240)
    xclient.d.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
    xclient.root.warp_pointer(700, 300)
    xclient.d.sync()
    assert backend.focused() == WindowInfo("Beta", "B", 600, 200, 320, 240, None, b.id)
    xclient.root.warp_pointer(5, 700)  # over the bare root
    xclient.d.sync()
    assert backend.focused() is None


def test_net_active_window_wins_when_a_window_manager_publishes_it(xclient: XClient, backend: X11WindowBackend) -> None:
    a = xclient.window("Alpha", "A", 100, 50, 400, 300)
    b = xclient.window("Beta", "B", 600, 200, 320, 240)
    xclient.focus(a)
    xclient.root.change_property(xclient.net_active, Xatom.WINDOW, 32, [b.id])
    xclient.d.sync()
    assert backend.focused() == WindowInfo("Beta", "B", 600, 200, 320, 240, None, b.id)
    xclient.root.change_property(xclient.net_active, Xatom.WINDOW, 32, [0])  # the WM says: nothing active
    xclient.d.sync()
    assert backend.focused() is None
    xclient.root.change_property(xclient.net_active, Xatom.WINDOW, 32, [0x3FFFFFF])  # gone before we look
    xclient.d.sync()
    assert backend.focused() is None
    xclient.root.delete_property(xclient.net_active)
    xclient.d.sync()
    assert backend.focused() == WindowInfo("Alpha", "A", 100, 50, 400, 300, None, a.id)


def test_vanished_windows_give_none(xclient: XClient, backend: X11WindowBackend) -> None:
    a = xclient.window("Alpha", "A", 100, 50, 400, 300)
    xclient.focus(a)
    wid = a.id
    assert backend.info(wid) is not None
    xclient.destroy(a)  # the focus reverts to the parent: the root
    assert backend.info(wid) is None
    assert backend.focused() is None


def test_displays_report_the_xvfb_screen(x_server: Display) -> None:
    (d,) = X11DisplayBackend().displays()
    assert (d.id, d.origin, d.size_px, d.scale, d.primary) == (0, (0, 0), (1280, 720), 1.0, True)
    assert d.refresh_hz is None  # Xvfb's RandR mode carries no timings


def test_refresh_rate_from_mode_timings() -> None:
    assert _mode_hz(148_500_000, 2200, 1125, 0) == 60.0  # CEA 1080p60
    assert _mode_hz(74_250_000, 2200, 1125, 0x10) == 60.0  # 1080i: fields per second
    assert _mode_hz(0, 0, 0, 0) is None


def test_factories_choose_x11_when_display_is_set(x_server: Display, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", x_server.name)
    monkeypatch.delenv("TRAJREC_PLATFORM", raising=False)
    w = window_backend()
    try:
        assert isinstance(w, X11WindowBackend)
    finally:
        w.close()
    assert isinstance(display_backend(), X11DisplayBackend)


def test_factories_without_display_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("TRAJREC_PLATFORM", raising=False)
    for factory in (window_backend, display_backend):
        with pytest.raises(BackendUnavailable) as e:
            factory()
        assert str(e.value) == NO_BACKEND and "\n" not in NO_BACKEND
        assert isinstance(e.value, CaptureError)


# python-xlib 0.33 does not close its socket when connecting fails; collect it here, not at exit.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unreachable_display_is_a_one_line_capture_error() -> None:
    with pytest.raises(CaptureError, match=r"cannot open X display :4711 .*check DISPLAY") as e:
        X11WindowBackend(":4711")
    assert "\n" not in str(e.value)
    del e
    gc.collect()
