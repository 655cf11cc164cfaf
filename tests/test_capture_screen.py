"""Screen source on a real Xvfb display: the pointer is painted into frames only when asked."""

from __future__ import annotations

import subprocess
import time

import numpy as np

from recorder.capture.base import ScreenFrame
from recorder.capture.screen import Region, ScreenSource
from tests.helpers.harness import Display, wait_until


def _grab_with_pointer_at(x_display: Display, x: int, y: int, *, draw_cursor: bool) -> np.ndarray:
    subprocess.run(["xdotool", "mousemove", str(x), str(y)], env=x_display.env, check=True)
    frames: list[ScreenFrame] = []
    source = ScreenSource(time.monotonic_ns, frames.append, Region(0, 0, 400, 300), fps=30, draw_cursor=draw_cursor)
    source.start()
    try:
        wait_until(lambda: len(frames) >= 1, "a first frame")
    finally:
        source.stop()
    return frames[-1].image


def test_pointer_is_drawn_only_with_draw_cursor(x_display: Display) -> None:
    plain = _grab_with_pointer_at(x_display, 200, 150, draw_cursor=False)
    drawn = _grab_with_pointer_at(x_display, 200, 150, draw_cursor=True)
    moved = _grab_with_pointer_at(x_display, 60, 50, draw_cursor=True)

    def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.argwhere(np.any(a[:, :, :3] != b[:, :, :3], axis=2))  # (row, col) of pixels that differ

    near = changed(plain, drawn)
    assert len(near) > 20, "the pointer's image was not painted into the frame"
    assert np.all(np.abs(near[:, 0] - 150) < 40) and np.all(np.abs(near[:, 1] - 200) < 40), near.min(0)
    far = changed(plain, moved)  # moving the pointer moves the painted image with it
    assert np.any((np.abs(far[:, 0] - 50) < 40) & (np.abs(far[:, 1] - 60) < 40))
