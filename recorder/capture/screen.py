"""Screen source: grab a monitor or a region with mss at a target rate, keep only frames that changed.

Each grab is stamped with the session clock (midpoint of the grab call). Desktops are mostly still: a
frame identical to the previous one is not sent on, except once every KEYFRAME_INTERVAL_NS so that the
video has a frame (a keyframe) at least that often. Frames go to `emit`, the encoder's bounded queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recorder.capture.base import Clock, Emit, ScreenFrame, Source, WorkerThread
from recorder.errors import CaptureError
from trajrec.format import KEYFRAME_INTERVAL_NS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Region:
    """An area of the virtual desktop in physical pixels (even sizes, as H.264 4:2:0 needs)."""

    left: int
    top: int
    width: int
    height: int

    def as_mss(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}

    def even(self) -> Region:
        return Region(self.left, self.top, self.width - self.width % 2, self.height - self.height % 2)


def monitors() -> list[Region]:
    """Every monitor (mss order: [0] is all of them together, [1:] each one)."""
    import mss

    try:
        with mss.MSS() as sct:
            return [Region(m["left"], m["top"], m["width"], m["height"]) for m in sct.monitors]
    except Exception as e:  # mss raises its own ScreenShotError, or XError without a display
        raise CaptureError(f"cannot read the screen layout ({e}); is DISPLAY set to a running X server?") from e


class ScreenSource(Source):
    name = "screen"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[ScreenFrame],
        region: Region,
        *,
        fps: float = 30.0,
        display_id: int = -1,
        paused: Callable[[], bool] = lambda: False,
        draw_cursor: bool = False,
        private: Callable[[], bool] = lambda: False,
        mask: Callable[[np.ndarray, tuple[int, int]], bool] | None = None,
    ) -> None:
        if fps <= 0 or fps > 240:
            raise CaptureError(f"--fps {fps}: choose a rate between 1 and 240")
        self.clock = clock
        self.emit = emit
        self.region = region.even()
        self.period_ns = round(1e9 / fps)
        self.display_id = display_id
        self.paused = paused
        self.private = private  # a denied window has the focus (recorder.privacy.denylist.DenyGate): no frame
        self.withheld = 0  # frames not grabbed or dropped because the screen was private
        self.mask = mask  # fills denied windows that show, before the frame leaves this thread
        self.masked = 0  # frames sent with a denied window filled
        self.draw_cursor = draw_cursor  # mss merges the pointer's image (XFixes) into every grab
        self.grabs = 0  # frames grabbed
        self.sent = 0  # frames that changed (or were due as keyframes) and went on to the encoder
        self.late = 0  # ticks skipped because a grab overran its period
        self.grab_errors = 0  # grabs that failed (region off screen); the session goes on
        self._stop = False
        self._worker = WorkerThread(self._run, "screen-capture")
        self._started = time.monotonic()

    def start(self) -> None:
        self._ready: list[BaseException | None] = []
        self._worker.start()
        deadline = time.monotonic() + 5
        while not self._ready and time.monotonic() < deadline and self._worker.is_alive():
            time.sleep(0.005)
        if not self._ready:
            self._worker.join(1)  # re-raises the worker's error, if that is why it is not ready
            raise CaptureError("the screen grabber did not start within 5 s")

    def _run(self) -> None:
        import mss

        try:
            sct = mss.MSS(with_cursor=self.draw_cursor)
        except Exception as e:
            self._ready.append(e)
            raise CaptureError(f"cannot open the screen for capture ({e}); is DISPLAY set?") from e
        with sct:
            area = self.region.as_mss()
            prev: bytearray | None = None
            last_sent = -(1 << 62)
            self._ready.append(None)
            next_tick = self.clock()
            while not self._stop:
                now = self.clock()
                if now < next_tick:
                    time.sleep((next_tick - now) / 1e9)
                    continue
                if now - next_tick > self.period_ns:  # overran: skip the ticks we missed
                    missed = (now - next_tick) // self.period_ns
                    self.late += int(missed)
                    next_tick += missed * self.period_ns
                next_tick += self.period_ns
                if self.paused():
                    prev = None  # after a pause the first frame is always sent
                    continue
                if self.private():
                    prev = None
                    self.withheld += 1
                    continue
                t0 = self.clock()
                try:
                    shot = sct.grab(area)
                except Exception as e:  # the region left the screen (a monitor unplugged or resized): not fatal
                    self.grab_errors += 1
                    if self.grab_errors == 1:
                        log.warning("screen grab failed (%s); retrying every frame, the video shows a gap", e)
                    continue
                t1 = self.clock()
                if self.private():  # the focus moved to a denied window while grabbing: this frame never existed
                    prev = None
                    self.withheld += 1
                    continue
                self.grabs += 1
                raw = shot.raw  # mss hands back a new bytearray per grab: it is already our copy
                t = (t0 + t1) // 2
                image = np.frombuffer(raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)
                # before anything compares or keeps the frame
                masked = self.mask is not None and self.mask(image, (self.region.left, self.region.top))
                if raw == prev and t - last_sent < KEYFRAME_INTERVAL_NS:
                    continue
                prev = raw
                last_sent = t
                self.sent += 1
                self.masked += masked
                self.emit(ScreenFrame(t_ns=t, image=image, display_id=self.display_id))

    def stop(self) -> None:
        self._stop = True
        self._worker.join(5)
