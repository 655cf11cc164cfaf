"""GUI-thread helpers: `run_task(func, on_done, on_error)` runs blocking work off the GUI thread, its result on it.

The worker runs in Qt's global thread pool; its result (or exception) travels through a queued signal to
the GUI thread, where the callbacks run, so they may touch widgets. An exception with no `on_error` is
logged, never lost. `wait_idle()` lets tests and shutdown wait for the work in flight.

Qt objects are freed on the GUI thread only: the GUI side holds a task's function and takes its outcome, so a
worker never drops the last reference to anything a task touched, and `GuiGarbageCollector` moves Python's
cyclic collection, which otherwise runs on whichever thread happens to allocate, onto the GUI thread.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; the worker stores the outcome and emits, Qt queues the call to the GUI thread."""

    reported = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.outcome: tuple[bool, Any] | None = None  # (True, result) or (False, exception)


class _Job(QRunnable):
    def __init__(self, func: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.func: Callable[[], Any] | None = func
        self.relay = relay

    def run(self) -> None:
        # The GUI side holds the function and takes the outcome: once this returns, the worker holds nothing a
        # task touched (a widget, or an exception whose frames hold one), so nothing is freed on this thread.
        relay, func, self.func = self.relay, self.func, None
        assert func is not None
        try:
            relay.outcome = (True, func())
        except BaseException as e:  # handed to the GUI thread, never swallowed
            relay.outcome = (False, e)
        del func
        relay.reported.emit()


# Keeps each relay, and the function its job runs, alive until the job reported (on the GUI thread).
_in_flight: dict[_Relay, Callable[[], Any]] = {}
_lock = threading.Lock()


def run_task(
    func: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    owner: QObject | None = None,
) -> None:
    """Run `func()` on a worker thread; call `on_done(result)` or `on_error(exc)` on the GUI thread. With an
    `owner` (the widget the callbacks update), they are skipped once it is gone (a screen closed meanwhile)."""
    relay = _Relay()

    def owner_gone() -> bool:
        return owner is not None and not shiboken6.isValid(owner)

    @Slot()
    def reported() -> None:
        assert relay.outcome is not None
        (ok, value), relay.outcome = relay.outcome, None
        _release(relay)
        if ok:
            if on_done is not None and not owner_gone():
                on_done(value)
        else:
            failed(value)

    def failed(error: BaseException) -> None:
        if owner_gone():
            log.info("background task failed after its window closed: %s", error)
        elif on_error is not None:
            on_error(error)
        else:
            log.error("background task failed", exc_info=(type(error), error, error.__traceback__))

    relay.reported.connect(reported)
    with _lock:
        _in_flight[relay] = func
    QThreadPool.globalInstance().start(_Job(func, relay))


def _release(relay: _Relay) -> None:
    with _lock:
        _in_flight.pop(relay, None)
    relay.deleteLater()


def busy() -> bool:
    with _lock:
        return bool(_in_flight)


def wait_idle(timeout_ms: int = 30_000) -> bool:
    """Wait for the workers to finish (their callbacks still need the event loop to run)."""
    return bool(QThreadPool.globalInstance().waitForDone(timeout_ms))


class GuiGarbageCollector(QObject):
    """Runs Python's cyclic garbage collection on the GUI thread only. Left automatic, it runs on whichever
    thread crosses an allocation threshold: a worker collecting a closed screen's reference cycle would delete
    its widgets off the GUI thread, and Qt crashes. This turns the automatic collection off and, every
    `interval_ms` on the GUI thread, collects the generations whose thresholds were crossed; `stop()` turns the
    automatic collection back on."""

    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)

    @Slot()
    def check(self) -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] <= thresholds[0]:
            return
        generation = 0
        if counts[1] > thresholds[1]:
            generation = 2 if counts[2] > thresholds[2] else 1
        gc.collect(generation)

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        gc.enable()
