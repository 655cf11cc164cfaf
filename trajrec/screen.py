"""The screen's activity from one low-resolution decode: how much each frame changed, and how bright it is.

Actions use the changes to find where the screen settled; the quality report uses them for idle time and frozen
spans, and the brightness for black spans. Frames are compared as grey thumbnails (`BundleReader.thumbnails`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

SETTLED = 1.0  # mean absolute grey difference (0..255) below which two frames look the same (codec noise)
THUMB = (160, 90)  # the thumbnails' size


@dataclass(frozen=True)
class ScreenProfile:
    """Per frame: `changes` (mean absolute grey difference from the frame before; inf for the first and for a frame
    whose predecessor could not be decoded), `brightness` (mean grey, 0..255) and `spread` (its standard deviation;
    NaN for a frame the decoder skipped)."""

    changes: np.ndarray
    brightness: np.ndarray
    spread: np.ndarray


def screen_changes(thumbnails: Iterable[tuple[int, np.ndarray]]) -> np.ndarray:
    """Per frame, the mean absolute difference of its grey thumbnail from the previous frame's."""
    return _changes(thumbnails, None)


def screen_profile(thumbnails: Iterable[tuple[int, np.ndarray]]) -> ScreenProfile:
    stats: list[tuple[int, float, float]] = []
    changes = _changes(thumbnails, stats)
    n = len(changes)
    brightness, spread = np.full(n, np.nan), np.full(n, np.nan)
    for i, mean, std in stats:
        brightness[i], spread[i] = mean, std
    return ScreenProfile(changes, brightness, spread)


def _changes(thumbnails: Iterable[tuple[int, np.ndarray]], stats: list[tuple[int, float, float]] | None) -> np.ndarray:
    out: list[float] = []
    meter = ChangeMeter()
    for i, img in thumbnails:
        out.extend([np.inf] * (i - len(out)))  # frames the decoder skipped
        out.append(meter(i, img))
        if stats is not None:
            stats.append((i, float(img.mean()), float(img.std())))
    return np.asarray(out, dtype=np.float64)


class ChangeMeter:
    """Frame by frame: how much a frame's thumbnail changed from the previous frame's (inf for the first, and for a
    frame whose predecessor was not measured)."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._index = -2

    def __call__(self, i: int, img: np.ndarray) -> float:
        grey = img.astype(np.int16)
        prev, follows = self._prev, i == self._index + 1
        self._prev, self._index = grey, i
        if prev is None or not follows or prev.shape != grey.shape:
            return float(np.inf)
        return float(np.abs(grey - prev).mean())


def thumbnail(frame: Any, width: int = THUMB[0], height: int = THUMB[1]) -> np.ndarray:
    """A decoded video frame (av.VideoFrame) as a grey thumbnail: area-averaged, each pixel the mean of its block."""
    small = frame.reformat(width=width, height=height, format="gray", interpolation="AREA")
    out: np.ndarray = small.to_ndarray()
    return out


def runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """[first, last] index pairs of the runs of True in `mask`."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        yield int(a), int(b) - 1
