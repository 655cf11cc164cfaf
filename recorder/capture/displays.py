"""Display layout source: notices when monitors are added, removed, moved or resized mid-session.

The layout at start goes into the manifest; each later change is recorded with its time (manifest
`environment.display_changes`), so coordinates stay interpretable. A change is never fatal.
Polling once a second is enough for something a person does by hand; RandR notifications would be
the event-driven alternative.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from recorder.capture.base import Clock, Emit, Source, WorkerThread
from recorder.platform import DisplayBackend, display_backend
from trajrec.format import Display, DisplayLayout


class DisplayLayoutSource(Source):
    name = "displays"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[DisplayLayout],
        *,
        interval_s: float = 1.0,
        backend: DisplayBackend | None = None,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self.clock = clock
        self.emit = emit
        self.interval_s = interval_s
        self.backend = backend
        self.paused = paused
        self.changes = 0
        self._last: tuple[Display, ...] | None = None
        self._stopped = threading.Event()
        self._worker = WorkerThread(self._run, "display-layout")

    def start(self) -> None:
        if self.backend is None:
            self.backend = display_backend()
        self._last = tuple(self.backend.displays())  # the layout at start is the manifest's
        self._worker.start()

    def poll(self) -> DisplayLayout | None:
        """Read the layout once; emit and return it when it differs from the last one seen."""
        assert self.backend is not None
        layout = tuple(self.backend.displays())
        if layout == self._last or self.paused():
            return None
        self._last = layout
        self.changes += 1
        change = DisplayLayout(t_ns=self.clock(), displays=layout)
        self.emit(change)
        return change

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.poll()

    def stop(self) -> None:
        self._stopped.set()
        self._worker.join(5)
