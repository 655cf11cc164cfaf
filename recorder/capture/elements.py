"""Element source: the accessibility element that takes the keyboard focus, and the one under the pointer at
every button press, as ElementRecords; and the password-field spans the input guard redacts keys by.

The platform's AccessibilityBackend (AT-SPI on Linux) hears focus changes on its own thread and stamps them;
this source turns each into a record (a password field's name is never kept) and tells `PrivacyState` when a
password field gains or loses the focus, paused or not, so keys typed right after a resume are guarded too.
Presses reach `pressed()` from the input thread, which only enqueues (a bounded queue, drops counted); a worker
asks the backend what is at that point and emits a `click` record stamped with the press's time.

Without an accessibility bus the source still starts: `unavailable` says why, the session records the guard as
degraded (the keys-hidden hotkey still works), and no element is recorded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import suppress

from recorder.capture.base import Clock, Emit, Source, WorkerThread
from recorder.errors import BackendUnavailable
from recorder.platform import AccessibilityBackend, AccessibilityBackendFactory, ElementInfo, accessibility_backend
from recorder.privacy.denylist import DenyList
from recorder.privacy.identity import scrub
from recorder.privacy.state import PrivacyState
from trajrec.format import ElementKind, ElementRecord, EventKind, InputEvent, PrivacyKind

CLICK_QUEUE = 32  # presses waiting for their element; a burst beyond this is counted, not queried


def element_record(t_ns: int, kind: ElementKind, info: ElementInfo, at: tuple[int, int] | None = None) -> ElementRecord:
    x, y, w, h = info.rect if info.rect is not None else (None, None, None, None)
    return ElementRecord(
        t_ns=t_ns,
        kind=kind,
        role=info.role,
        name="" if info.password else scrub(info.name),  # a password field's name is never kept
        states=tuple(dict.fromkeys(info.states)),
        app=scrub(info.app),
        toolkit=info.toolkit,
        rect_x=x,
        rect_y=y,
        rect_w=w,
        rect_h=h,
        x=at[0] if at else None,
        y=at[1] if at else None,
    )


class ElementSource(Source):
    name = "elements"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[ElementRecord],
        privacy: PrivacyState,
        *,
        paused: Callable[[], bool] = lambda: False,
        backend: AccessibilityBackendFactory = accessibility_backend,
        deny: DenyList | None = None,
    ) -> None:
        self.clock = clock
        self.emit = emit
        self.privacy = privacy
        self.paused = paused
        self.deny = deny or DenyList(apps=(), titles=())
        self.unavailable: str | None = None  # why the guard runs degraded (no accessibility bus)
        self.clicks_dropped = 0
        self._make_backend = backend
        self._backend: AccessibilityBackend | None = None
        self._presses: queue.Queue[tuple[int, int, int] | None] = queue.Queue(CLICK_QUEUE)
        self._worker = WorkerThread(self._answer_presses, "element-at-press")
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._backend is not None

    def start(self) -> None:
        backend = self._make_backend(self.clock, self._focused)
        try:
            backend.start()
        except BackendUnavailable as e:
            self.unavailable = str(e)
            return
        self._backend = backend
        self._worker.start()

    def _focused(self, t_ns: int, info: ElementInfo) -> None:
        """On the backend's thread: the privacy state first (even while paused), then the record."""
        self.privacy.mark(PrivacyKind.PASSWORD, info.password, t_ns)
        if not self.paused() and not self._denied(info):
            self.emit(element_record(t_ns, ElementKind.FOCUS, info))

    def _denied(self, info: ElementInfo) -> bool:
        """An element of a denied application, or heard while a denied window has the focus: never recorded."""
        return self.privacy.is_on(PrivacyKind.DENY_LIST) or self.deny.denies(info.app, "")

    def pressed(self, event: InputEvent) -> None:
        """On the input thread, for every recorded event: a press is queued for its element, nothing waits."""
        if self._backend is None or event.kind != EventKind.DOWN or event.x is None or event.y is None:
            return
        try:
            self._presses.put_nowait((event.t_ns, event.x, event.y))
        except queue.Full:
            with self._lock:
                self.clicks_dropped += 1

    def _answer_presses(self) -> None:
        while (item := self._presses.get()) is not None:
            backend = self._backend
            if backend is None:
                continue
            t_ns, x, y = item
            info = backend.element_at(x, y)
            if info is not None and not self._denied(info):
                self.emit(element_record(t_ns, ElementKind.CLICK, info, (x, y)))

    def stop(self) -> None:
        backend, self._backend = self._backend, None
        if backend is None:
            return
        try:
            backend.stop()
        finally:
            while True:  # the end marker always fits: presses not yet answered are dropped with the backend
                try:
                    self._presses.put_nowait(None)
                    break
                except queue.Full:
                    with suppress(queue.Empty):
                        self._presses.get_nowait()
            self._worker.join(timeout=10)
