"""GUI-thread helpers: `run_task(func, on_done, on_error)` runs blocking work off the GUI thread, its result on it.

The worker runs in Qt's global thread pool; its result (or exception) travels through a queued signal to
the GUI thread, where the callbacks run, so they may touch widgets. An exception with no `on_error` is
logged, never lost. `wait_idle()` lets tests and shutdown wait for the work in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; the worker emits, Qt queues the call to the GUI thread."""

    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, func: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.func = func
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.func()
        except BaseException as e:  # handed to the GUI thread, never swallowed
            self.relay.failed.emit(e)
        else:
            self.relay.done.emit(result)


_in_flight: set[_Relay] = set()  # keeps relays alive until their job reported
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

    @Slot(object)
    def finished(result: Any) -> None:
        _release(relay)
        if on_done is not None and not owner_gone():
            on_done(result)

    @Slot(object)
    def failed(error: BaseException) -> None:
        _release(relay)
        if owner_gone():
            log.info("background task failed after its window closed: %s", error)
        elif on_error is not None:
            on_error(error)
        else:
            log.error("background task failed", exc_info=(type(error), error, error.__traceback__))

    relay.done.connect(finished)
    relay.failed.connect(failed)
    with _lock:
        _in_flight.add(relay)
    QThreadPool.globalInstance().start(_Job(func, relay))


def _release(relay: _Relay) -> None:
    with _lock:
        _in_flight.discard(relay)
    relay.deleteLater()


def busy() -> bool:
    with _lock:
        return bool(_in_flight)


def wait_idle(timeout_ms: int = 30_000) -> bool:
    """Wait for the workers to finish (their callbacks still need the event loop to run)."""
    return bool(QThreadPool.globalInstance().waitForDone(timeout_ms))
