"""Filling denied windows in a frame before it is encoded: what of them shows on screen becomes one flat colour.

The windows come bottom to top (the order they are painted); a denied window's rectangle is filled, and any
window above it takes back its own rectangle, so a denied window under the focused one is filled only where it
shows. Rectangles are in virtual-desktop pixels; the frame covers `origin` + its own size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FILL_BGRA = (48, 48, 48, 255)  # dark grey: plainly removed, and cheap to encode

Rect = tuple[int, int, int, int]  # x, y, w, h


def mask_frame(image: np.ndarray, origin: tuple[int, int], stack: Sequence[tuple[Rect, bool]]) -> int:
    """Fill in place what of the denied windows (`(rect, denied)`, bottom to top) shows in `image`; return the
    number of pixels filled."""
    if not any(denied for _, denied in stack):
        return 0
    height, width = image.shape[:2]
    ox, oy = origin
    hidden = np.zeros((height, width), dtype=bool)
    for (x, y, w, h), denied in stack:
        x0, y0 = max(0, x - ox), max(0, y - oy)
        x1, y1 = min(width, x - ox + w), min(height, y - oy + h)
        if x0 < x1 and y0 < y1:
            hidden[y0:y1, x0:x1] = denied
    count = int(hidden.sum())
    if count:
        image[hidden] = FILL_BGRA
    return count
