"""Input source: mouse and keyboard events, stamped on the session clock the moment they arrive.

A platform InputBackend (made by the `backend` factory: ``recorder.platform.input_backend`` by default, X11
in recorder.platform.input_x11) listens on its own threads. For every event it reads the clock first, then
builds an ``InputEvent`` (seq 0: the writer numbers events) and hands it to this source, which drops it while
``paused()`` or when ``exclude(event)`` matches (the session excludes the recorder's own hotkeys and windows
that way), else calls ``emit``, which never blocks. Nothing else runs on a capture callback.

A callback that raises (emit, exclude, or the backend's own decoding) loses that event only: capture goes
on, and stop() raises the first such error as CaptureError, with the count of events lost.
"""

from __future__ import annotations

from collections.abc import Callable

from recorder.capture.base import Clock, Emit, Source
from recorder.errors import CaptureError
from recorder.platform import InputBackend, InputBackendFactory, input_backend
from trajrec.format import InputEvent


class InputSource(Source):
    """Mouse moves, button presses, scrolls and key presses/releases as InputEvents."""

    name = "input"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[InputEvent],
        *,
        paused: Callable[[], bool] = lambda: False,
        exclude: Callable[[InputEvent], bool] | None = None,
        backend: InputBackendFactory = input_backend,
    ) -> None:
        self.clock = clock
        self.emit = emit
        self.paused = paused
        self.exclude = exclude
        self._make_backend = backend  # called at each start(): a backend is not restarted once stopped
        self._backend: InputBackend | None = None

    def start(self) -> None:
        """Return once both mouse and keyboard are captured; CaptureError if they cannot be."""
        if self._backend is not None:
            raise CaptureError("input capture is already running: stop() it before starting again")
        backend = self._make_backend(self.clock, self._deliver)
        backend.start()
        self._backend = backend

    def stop(self) -> None:
        """Stop capturing; re-raises, as CaptureError, an error raised in a callback meanwhile."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.stop()

    def _deliver(self, event: InputEvent) -> None:
        # exclude() sees every event, paused or not: it is also where the recorder's hotkeys are noticed, and
        # resume must work while paused. Nothing it sees is kept.
        excluded = self.exclude is not None and self.exclude(event)
        if excluded or self.paused():
            return
        self.emit(event)
