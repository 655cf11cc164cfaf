"""A second X client for tests: real top-level windows made and changed on a test display, and a kept-open
connection that stops an Xvfb without -noreset from resetting between tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from Xlib import X, Xatom  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib import error as xerror


@contextmanager
def x_keepalive(name: str) -> Iterator[None]:
    """Hold one X connection open. Xvfb (started without -noreset) resets itself, dropping every client,
    whenever its last client disconnects, so a test's connection can be reset by the close of the test
    before it; with this connection held there is no last client to leave."""
    deadline = time.monotonic() + 10
    while True:
        try:
            d = xdisplay.Display(name)
            d.get_input_focus()  # a round trip: the connection survived any reset in progress
            time.sleep(0.05)
            d.get_input_focus()
            break
        except (xerror.DisplayError, xerror.ConnectionClosedError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield
    finally:
        d.close()


class XClient:
    """Another X client (standing in for applications) that makes and changes real top-level windows."""

    def __init__(self, name: str) -> None:
        self.d = xdisplay.Display(name)
        self.screen = self.d.screen()
        self.root = self.screen.root
        self.windows: list[Any] = []
        self.utf8 = self.d.intern_atom("UTF8_STRING")
        self.net_name = self.d.intern_atom("_NET_WM_NAME")
        self.net_pid = self.d.intern_atom("_NET_WM_PID")
        self.net_active = self.d.intern_atom("_NET_ACTIVE_WINDOW")
        self.focus_none()

    def window(
        self,
        app: str | None,
        title: str | None,
        x: int,
        y: int,
        w: int,
        h: int,
        *,
        pid: int | None = None,
        parent: Any = None,
        net_name: bool = True,
    ) -> Any:
        win = (parent or self.root).create_window(
            x,
            y,
            w,
            h,
            0,
            self.screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=self.screen.white_pixel,
        )
        if app is not None:
            win.set_wm_class(app.lower(), app)
        if title is not None:
            self.set_title(win, title, net_name=net_name)
        if pid is not None:
            win.change_property(self.net_pid, Xatom.CARDINAL, 32, [pid])
        win.map()
        self.d.sync()
        self.windows.append(win)
        return win

    def set_title(self, win: Any, title: str, *, net_name: bool = True) -> None:
        win.change_property(Xatom.WM_NAME, Xatom.STRING, 8, title.encode("latin-1", "replace"))
        if net_name:
            win.change_property(self.net_name, self.utf8, 8, title.encode())
        self.d.sync()

    def focus(self, win: Any) -> None:
        win.set_input_focus(X.RevertToParent, X.CurrentTime)
        self.d.sync()

    def focus_none(self) -> None:
        self.d.set_input_focus(X.NONE, X.RevertToNone, X.CurrentTime)
        self.d.sync()

    def move(self, win: Any, x: int, y: int) -> None:
        win.configure(x=x, y=y)
        self.d.sync()

    def destroy(self, win: Any) -> None:
        win.destroy()
        self.d.sync()
        self.windows.remove(win)

    def close(self) -> None:
        for win in self.windows:
            win.destroy()
        self.root.delete_property(self.net_active)
        self.d.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)  # the server's default
        self.d.sync()
        self.d.close()
