"""Window source: which window has the focus (app, title, rect), as a WindowRecord whenever it changes.

A worker thread polls the platform's WindowBackend every `interval_s` (0.1 s by default) and emits a
record when the app, title, rect or window id differs from the last record emitted; the pid alone never
triggers one. Focus on no window emits nothing, but is remembered, so the next window emits again. While
paused nothing is queried (titles can be private); after a pause the current window is emitted even if it
did not change, so the bundle shows the context after the gap.

Polling is the choice for now: simple, and the same on every backend. On X11, listening for PropertyNotify
on the root (_NET_ACTIVE_WINDOW) and on the focused window (_NET_WM_NAME, ConfigureNotify) plus FocusIn
would give lower latency and no idle work; worth doing if 0.1 s granularity proves too coarse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from recorder.capture.base import Clock, Emit, Source, WorkerThread
from recorder.errors import CaptureError
from recorder.platform import WindowBackend, WindowInfo, window_backend
from recorder.privacy.identity import scrub
from trajrec.format import WindowRecord

_Key = tuple[str, str, int, int, int, int, int | None]


def _key(info: WindowInfo) -> _Key:
    return (info.app, info.title, info.x, info.y, info.w, info.h, info.window_id)


class WindowSource(Source):
    name = "window"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[WindowRecord],
        *,
        interval_s: float = 0.1,
        backend: WindowBackend | None = None,
        paused: Callable[[], bool] = lambda: False,
        hide: Callable[[WindowInfo], bool] = lambda _window: False,
    ) -> None:
        if not 0 < interval_s <= 60:
            raise CaptureError(f"window poll interval {interval_s} s: choose between 0 and 60 s")
        self.clock = clock
        self.emit = emit
        self.interval_s = interval_s
        self.paused = paused
        self.hide = hide  # a window never recorded (the deny-list): no record names it
        self.polls = 0  # focused() queries made
        self.sent = 0  # records emitted
        self._backend = backend
        self._owns_backend = backend is None  # a backend we opened is ours to close
        self._last: _Key | None = None
        self._was_paused = False
        self._stop = threading.Event()
        self._worker = WorkerThread(self._run, "window-capture")
        self._started = False
        self._hidden: tuple[_Key, int] | None = None  # the focused window while hidden, and when it was first seen

    def start(self) -> None:
        if self._backend is None:
            self._backend = window_backend()  # raises CaptureError when this desktop has no backend
        self._started = True
        self._worker.start()

    def poll(self) -> WindowRecord | None:
        """One poll (the worker calls it every interval): emit and return a record if one is due."""
        if self.paused():
            self._was_paused = True
            return None
        if self._backend is None:
            raise CaptureError("WindowSource.poll() before start(): call start() first, or pass a backend")
        info = self._backend.focused()
        self.polls += 1
        resumed, self._was_paused = self._was_paused, False
        if info is None:
            self._last = None
            return None
        key = _key(info)
        if key == self._last and not resumed:
            return None
        t_ns = self.clock()
        if self.hide(info):  # asked again at every poll: a window may be hidden only until its verdict is known
            self._last = None
            if self._hidden is None or self._hidden[0] != key:
                self._hidden = (key, t_ns)
            return None
        if self._hidden is not None and self._hidden[0] == key:
            t_ns = self._hidden[1]  # when it got the focus, not when it was known not to be private
        self._hidden = None
        self._last = key
        record = WindowRecord(
            t_ns=t_ns,
            app=scrub(info.app),
            title=scrub(info.title),  # no home folder, user or host name (recorder.privacy.identity)
            rect_x=info.x,
            rect_y=info.y,
            rect_w=info.w,
            rect_h=info.h,
            focused=True,
            pid=info.pid,
            window_id=info.window_id,
        )
        self.sent += 1
        self.emit(record)
        return record

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        """Stop polling; re-raises the worker's error (after closing a backend this source opened)."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        try:
            self._worker.join(max(5.0, 2 * self.interval_s))
        finally:
            if self._owns_backend and self._backend is not None and not self._worker.is_alive():
                self._backend.close()
                self._backend = None
