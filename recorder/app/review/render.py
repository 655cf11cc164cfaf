"""One Review frame, rendered: the decoded frame fitted to the view with the overlays drawn on a copy (Qt-free).

Runs on a worker (the player's FrameService): fit to the view (cv2 INTER_AREA, or INTER_LINEAR when
enlarging), then the pointer, click rings and caption drawn with OpenCV at view scale, so the pointer has the
same size on any screen. The result is plain RGB arrays; the player wraps the finished one in a QImage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recorder.app.palette import rgb
from recorder.app.review.overlays import Overlays


@dataclass(frozen=True)
class Composite:
    """One rendered frame: the decoded frame, the same fitted to the view, and what is shown."""

    t_ns: int
    index: int | None  # frame index in the video; None when there is no video
    raw: np.ndarray | None  # decoded RGB frame, video px, no overlay
    scaled: np.ndarray  # `raw` fitted to the view, no overlay
    image: np.ndarray  # `scaled` with the overlays: what the view paints
    scale: float  # view px per video px

    def to_view(self, vx: float, vy: float) -> tuple[int, int]:
        """Where video pixel (vx, vy) lands in `image`."""
        return round(vx * self.scale), round(vy * self.scale)


def fit(video_size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int, float]:
    """The largest (w, h) of the video's aspect inside `box`, and its scale."""
    vw, vh = video_size
    bw, bh = max(1, box[0]), max(1, box[1])
    s = min(bw / vw, bh / vh)
    return max(1, round(vw * s)), max(1, round(vh * s)), s


def compose(
    raw: np.ndarray | None,
    t_ns: int,
    index: int | None,
    video_size: tuple[int, int],
    box: tuple[int, int],
    overlays: Overlays,
    ui_scale: float = 1.0,
) -> Composite:
    """Fit `raw` into `box` and draw the pointer, click rings and caption for time `t_ns` on a copy."""
    import cv2

    w, h, s = fit(video_size, box)
    if raw is None:
        scaled = np.zeros((h, w, 3), np.uint8)
    elif (w, h) == (raw.shape[1], raw.shape[0]):
        scaled = raw
    else:
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        scaled = np.ascontiguousarray(cv2.resize(raw, (w, h), interpolation=interp))
    img = scaled.copy()
    u = ui_scale
    for x, y, age in overlays.clicks_near(t_ns):
        _ring(img, (x * s, y * s), age, u)
    p = overlays.pointer_at(t_ns)
    if p is not None:
        _pointer(img, (p[0] * s, p[1] * s), u)
    caption = overlays.caption_at(t_ns)
    if caption:
        _caption(img, caption, u)
    return Composite(t_ns, index, raw, scaled, img, s)


def _ring(img: np.ndarray, center: tuple[float, float], age: float, u: float) -> None:
    """A ring that widens and fades as the click ages (age 0..1), blended into its neighbourhood only."""
    import cv2

    radius = (7 + 17 * age) * u
    alpha = max(0.0, 1.0 - age) * 0.9
    cx, cy = center
    pad = int(radius + 4 * u) + 2
    x0, y0 = max(0, int(cx) - pad), max(0, int(cy) - pad)
    x1, y1 = min(img.shape[1], int(cx) + pad + 1), min(img.shape[0], int(cy) + pad + 1)
    if x0 >= x1 or y0 >= y1:
        return
    roi = img[y0:y1, x0:x1]
    layer = roi.copy()
    c = (round((cx - x0) * 16), round((cy - y0) * 16))
    cv2.circle(layer, c, round(radius * 16), rgb("event"), max(2, round(3 * u)), cv2.LINE_AA, 4)
    if age < 0.25:
        cv2.circle(layer, c, round(4 * u * 16), rgb("event"), -1, cv2.LINE_AA, 4)
    cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0, dst=roi)


_ARROW = np.array([(0, 0), (0, 17), (4.2, 13.2), (7, 19.6), (9.8, 18.4), (7.1, 12.2), (12.4, 12.2)], np.float64)


def _pointer(img: np.ndarray, tip: tuple[float, float], u: float) -> None:
    """A classic arrow pointer (white, dark outline) with its tip at `tip`."""
    import cv2

    pts = np.round((_ARROW * 1.15 * u + np.array(tip)) * 16).astype(np.int32).reshape(-1, 1, 2)
    shadow = pts + round(1.2 * u * 16)
    cv2.fillPoly(img, [shadow], (40, 40, 40), cv2.LINE_AA, 4)
    cv2.fillPoly(img, [pts], (255, 255, 255), cv2.LINE_AA, 4)
    cv2.polylines(img, [pts], True, (17, 24, 39), max(1, round(u)), cv2.LINE_AA, 4)


def _caption(img: np.ndarray, text: str, u: float) -> None:
    """The keys typed lately, in a dark translucent strip at the bottom centre."""
    import cv2

    h, w = img.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 0.62 * u
    thick = max(1, round(1.4 * u))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    while tw > w * 0.9 and len(text) > 4:  # a narrow view: keep the newest keys
        text = "..." + text[-(len(text) - 4) :]
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad_x, pad_y = round(12 * u), round(8 * u)
    bw, bh = tw + 2 * pad_x, th + base + 2 * pad_y
    x0 = max(0, (w - bw) // 2)
    y0 = max(0, h - bh - round(14 * u))
    x1, y1 = min(w, x0 + bw), min(h, y0 + bh)
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi.astype(np.uint16) * 3 // 10 + np.array(rgb("sidebar"), np.uint16) * 7 // 10).astype(np.uint8)
    cv2.putText(img, text, (x0 + pad_x, y1 - pad_y - base), font, scale, (255, 255, 255), thick, cv2.LINE_AA)


__all__ = ["Composite", "compose", "fit"]
