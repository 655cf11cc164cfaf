"""The Review player's decode lane: `FrameService` renders frames off the GUI thread, latest request wins.

Decoding never runs on the GUI thread. The service renders one frame at a time through `run_task`: while a
frame is being rendered, newer requests replace each other and only the last one runs next, so scrubbing
never queues up stale work and playback shows as many frames as the machine can render. All access to the
bundle's reader goes through the service's lock, in that one lane, and the reader is closed in that lane too.
The reader's video cursor keeps its PyAV container open and decodes forward while the wanted frame is near
(it seeks only backwards or far ahead), so playback decodes sequentially.

A worker renders: decode (cached when the frame did not change) -> `render.compose` (fit to the view, overlays
drawn with OpenCV at view scale) -> QImage. The GUI thread only paints the finished image.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from recorder.app.review.overlays import Overlays
from recorder.app.review.render import Composite, compose
from recorder.app.threads import run_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Request:
    t_ns: int
    box: tuple[int, int]
    ui_scale: float


class FrameService(QObject):
    """Renders frames off the GUI thread, one at a time, latest request wins. Owns the reader: `shutdown()`
    closes it in the worker lane once the frame in flight (if any) is done."""

    ready = Signal(object, object)  # Composite and its QImage, on the GUI thread
    failed = Signal(str)

    def __init__(
        self,
        reader: Any,  # BundleReader (frame(index) -> RGB array); only touched under _lock, off the GUI thread
        frame_times: np.ndarray,
        video_size: tuple[int, int],
        overlays: Overlays,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.reader = reader
        self.frame_times = frame_times
        self.video_size = video_size
        self.overlays = overlays
        self.rendered = 0  # frames delivered, for measuring the frame rate
        self._lock = threading.Lock()
        self._cache: tuple[int, np.ndarray] | None = None  # worker-side: last decoded (index, frame)
        self._busy = False
        self._pending: _Request | None = None
        self._closed = False
        self._errors = 0

    @property
    def busy(self) -> bool:
        return self._busy or self._pending is not None

    def index_at(self, t_ns: int) -> int | None:
        i = int(np.searchsorted(self.frame_times, t_ns, side="right")) - 1
        return None if i < 0 else i

    def request(self, t_ns: int, box: tuple[int, int], ui_scale: float = 1.0) -> None:
        if self._closed:
            return
        req = _Request(int(t_ns), box, ui_scale)
        if self._busy:
            self._pending = req  # replaces any older request that has not started
        else:
            self._start(req)

    def _start(self, req: _Request) -> None:
        self._busy = True
        run_task(lambda: self._render(req), self._done, self._error)

    def _render(self, req: _Request) -> tuple[Composite, QImage] | None:  # worker thread
        with self._lock:
            if self._closed:
                return None
            index = self.index_at(req.t_ns)
            if index is None and len(self.frame_times):
                index = 0  # before the first grab (the first few ms): show the screen as first seen
            raw: np.ndarray | None = None
            if index is not None:
                if self._cache is not None and self._cache[0] == index:
                    raw = self._cache[1]
                else:
                    raw = self.reader.frame(index)
                    self._cache = (index, raw)
        comp = compose(raw, req.t_ns, index, self.video_size, req.box, self.overlays, req.ui_scale)
        img = comp.image
        return comp, QImage(img.data, img.shape[1], img.shape[0], img.strides[0], QImage.Format.Format_RGB888).copy()

    def _done(self, result: tuple[Composite, QImage] | None) -> None:
        self._busy = False
        if self._closed:
            return
        if result is not None:
            self.rendered += 1
            self.ready.emit(*result)
        self._next()

    def _error(self, error: BaseException) -> None:
        self._busy = False
        self._errors += 1
        if self._errors == 1:  # a broken video fails on every frame: say it once
            log.error("rendering a frame failed", exc_info=(type(error), error, error.__traceback__))
        if not self._closed:
            self.failed.emit(str(error))
            self._next()

    def _next(self) -> None:
        if self._pending is not None:
            req, self._pending = self._pending, None
            self._start(req)

    def shutdown(self) -> None:
        """Stop rendering and close the reader in the worker lane (never blocks the GUI thread)."""
        if self._closed:
            return
        self._closed = True
        self._pending = None

        def close() -> None:
            with self._lock:
                self._cache = None
                self.reader.close()

        run_task(close)


__all__ = ["FrameService"]
