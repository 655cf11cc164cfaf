"""The Review screen's player: a recording's frames with the expert's pointer, clicks and typing drawn over them.

Decoding never runs on the GUI thread. `FrameService` renders one frame at a time through `run_task`, with a
latest-request-wins policy: while a frame is being rendered, newer requests replace each other and only the
last one runs next, so scrubbing never queues up stale work and playback shows as many frames as the machine
can render. All access to the bundle's reader goes through the service's lock, in that one lane, and the
reader is closed in that lane too. The reader's video cursor keeps its PyAV container open and decodes forward
while the wanted frame is near (it seeks only backwards or far ahead), so playback decodes sequentially.

A worker renders: decode (cached when the frame did not change) -> fit to the view (cv2 INTER_AREA, or
INTER_LINEAR when enlarging) -> overlays drawn with OpenCV at view scale (so the pointer has the same size on
any screen) -> QImage. The GUI thread only paints the finished image.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPixmap,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from recorder.app.tasks import run_task
from recorder.app.theme import COLORS

log = logging.getLogger(__name__)

NS = 1_000_000_000
CLICK_RING_NS = 600_000_000  # a click's ring fades out over this long
CAPTION_NS = 2_000_000_000  # keys typed in this window show in the caption strip
CAPTION_MAX_CHARS = 36
TICK_MS = 33  # playback clock: ~30 requests a second; the renderer shows as many as it can


def rgb(name: str) -> tuple[int, int, int]:
    """A theme colour as an (r, g, b) tuple, for drawing on RGB frames."""
    c = QColor(COLORS[name])
    return (c.red(), c.green(), c.blue())


def format_time(ns: int) -> str:
    """mm:ss.t (h:mm:ss.t past an hour): tenths matter when reviewing a few seconds of work."""
    tenths = max(0, ns) // 100_000_000
    s, t = divmod(tenths, 10)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h:d}:{m:02d}:{s:02d}.{t:d}" if h else f"{m:02d}:{s:02d}.{t:d}"


# --- what is drawn over the frames ----------------------------------------------------------------------
@dataclass(frozen=True)
class Overlays:
    """Input events prepared for drawing, positions already in video pixels (sorted by time)."""

    pointer_t: np.ndarray  # int64, pointer events that carry a position (move, down, up, scroll)
    pointer_xy: np.ndarray  # float64 (n, 2), video px
    click_t: np.ndarray  # int64, `down` events
    click_xy: np.ndarray  # float64 (n, 2)
    key_t: np.ndarray  # int64, `key_down` events that produce a caption token
    key_text: Sequence[str]  # the token each of them shows ("a", "<Enter>", "<Ctrl+C>")

    @staticmethod
    def empty() -> Overlays:
        t = np.zeros(0, np.int64)
        xy = np.zeros((0, 2), np.float64)
        return Overlays(t, xy, t, xy, t, ())

    def pointer_at(self, t_ns: int) -> tuple[float, float] | None:
        i = int(np.searchsorted(self.pointer_t, t_ns, side="right")) - 1
        return None if i < 0 else (float(self.pointer_xy[i, 0]), float(self.pointer_xy[i, 1]))

    def clicks_near(self, t_ns: int) -> list[tuple[float, float, float]]:
        """(x, y, age 0..1) of the clicks in the last CLICK_RING_NS."""
        lo = int(np.searchsorted(self.click_t, t_ns - CLICK_RING_NS, side="right"))
        hi = int(np.searchsorted(self.click_t, t_ns, side="right"))
        return [
            (float(self.click_xy[i, 0]), float(self.click_xy[i, 1]), (t_ns - int(self.click_t[i])) / CLICK_RING_NS)
            for i in range(lo, hi)
        ]

    def caption_at(self, t_ns: int) -> str:
        lo = int(np.searchsorted(self.key_t, t_ns - CAPTION_NS, side="right"))
        hi = int(np.searchsorted(self.key_t, t_ns, side="right"))
        text = "".join(self.key_text[lo:hi])
        return text if len(text) <= CAPTION_MAX_CHARS else "..." + text[-(CAPTION_MAX_CHARS - 3) :]


_KEY_NAMES = {
    "enter": "<Enter>",
    "return": "<Enter>",
    "tab": "<Tab>",
    "backspace": "<Bksp>",
    "delete": "<Del>",
    "esc": "<Esc>",
    "escape": "<Esc>",
    "left": "<Left>",
    "right": "<Right>",
    "up": "<Up>",
    "down": "<Down>",
    "home": "<Home>",
    "end": "<End>",
    "page_up": "<PgUp>",
    "page_down": "<PgDn>",
}
_MODIFIER_KEYS = ("shift", "ctrl", "alt", "cmd", "super", "meta", "caps_lock", "num_lock", "alt_gr", "menu")


def key_token(key: str | None, char: str | None, modifiers: Sequence[str]) -> str:
    """What one key press adds to the caption: its character, or a short name in <>. Modifier presses
    add nothing. OpenCV's fonts are ASCII-only, so other characters show as '?'."""
    if not key:
        return ""
    name = key.lower()
    if name.startswith(_MODIFIER_KEYS):
        return ""
    chord = [m.capitalize() for m in modifiers if m in ("ctrl", "alt", "super", "meta")]
    if chord:
        label = (char if char and char.isprintable() and len(char) == 1 else key).upper()
        return "<" + "+".join([*chord, label]) + ">"
    if char is not None and char.isprintable() and char != "":
        return "".join(c if 32 <= ord(c) < 127 else "?" for c in char)
    if name == "space":
        return " "
    if name in _KEY_NAMES:
        return _KEY_NAMES[name]
    if name.startswith("f") and name[1:].isdigit():
        return f"<{name.upper()}>"
    return ""


# --- rendering (worker side) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Composite:
    """One rendered frame: the decoded frame, the same fitted to the view, and what is shown."""

    t_ns: int
    index: int | None  # frame index in the video; None when there is no video
    raw: np.ndarray | None  # decoded RGB frame, video px, no overlay
    scaled: np.ndarray  # `raw` fitted to the view, no overlay
    image: np.ndarray  # `scaled` with the overlays: what the view paints
    scale: float  # view px per video px
    qimage: QImage = field(repr=False)

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
    qimage = QImage(img.data, w, h, img.strides[0], QImage.Format.Format_RGB888).copy()
    return Composite(t_ns, index, raw, scaled, img, s, qimage)


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


# --- the decode lane ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Request:
    t_ns: int
    box: tuple[int, int]
    ui_scale: float


class FrameService(QObject):
    """Renders frames off the GUI thread, one at a time, latest request wins. Owns the reader: `shutdown()`
    closes it in the worker lane once the frame in flight (if any) is done."""

    ready = Signal(object)  # Composite, on the GUI thread
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

    def _render(self, req: _Request) -> Composite | None:  # worker thread
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
        return compose(raw, req.t_ns, index, self.video_size, req.box, self.overlays, req.ui_scale)

    def _done(self, result: Composite | None) -> None:
        self._busy = False
        if self._closed:
            return
        if result is not None:
            self.rendered += 1
            self.ready.emit(result)
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


# --- widgets ---------------------------------------------------------------------------------------------
def _icon(kind: str, size: int = 18, color: str = "#ffffff") -> QIcon:
    """Play / pause glyphs drawn with QPainter, so they look the same with any font."""
    pm = QPixmap(size * 2, size * 2)
    pm.setDevicePixelRatio(2.0)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    if kind == "play":
        p.drawPolygon(
            QPolygonF(
                [QPointF(size * 0.3, size * 0.18), QPointF(size * 0.84, size * 0.5), QPointF(size * 0.3, size * 0.82)]
            )
        )
    else:
        p.drawRoundedRect(QRectF(size * 0.24, size * 0.2, size * 0.18, size * 0.6), 1.5, 1.5)
        p.drawRoundedRect(QRectF(size * 0.58, size * 0.2, size * 0.18, size * 0.6), 1.5, 1.5)
    p.end()
    return QIcon(pm)


class VideoView(QWidget):
    """Paints the latest rendered frame centred on a dark surface; asks for a re-render when resized."""

    resized = Signal()
    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.placeholder = "Opening the recording..."
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Recording preview")
        self.setToolTip("Click to play or pause")

    def box(self) -> tuple[int, int]:
        """The area a frame should be rendered for, in device pixels."""
        dpr = self.devicePixelRatioF()
        return max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))

    def show_image(self, image: QImage | None) -> None:
        self.image = image
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(QRectF(self.rect()), 8, 8)
        p.fillPath(path, QColor(COLORS["sidebar"]))
        p.setClipPath(path)
        if self.image is not None and not self.image.isNull():
            dpr = self.devicePixelRatioF()
            w, h = self.image.width() / dpr, self.image.height() / dpr
            target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(target, self.image)
            p.setPen(QColor(255, 255, 255, 28))  # a hairline, so a dark desktop stands apart from the surface
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        elif self.placeholder:
            p.setPen(QColor(COLORS["sidebar_text"]))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        p.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class Player(QWidget):
    """The video surface and its controls: play/pause, the time, the speed. Time is the session clock (ns).

    Playback follows the wall clock (so a slow machine shows fewer frames, never slower time), skips the
    recording's pauses (no frames there) and stops at the end of the playable range (the trim)."""

    position_changed = Signal(object)  # int ns
    playing_changed = Signal(bool)
    frame_shown = Signal(object)  # Composite

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service: FrameService | None = None
        self.current: Composite | None = None
        self.start_ns = 0
        self.end_ns = 0
        self.pauses: list[tuple[int, int]] = []
        self._pos = 0
        self._bounds = (0, 0)
        self._speed = 1.0
        self._anchor: tuple[float, int] | None = None  # (wall s, position ns) when playing
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

        self.view = VideoView()
        self.view.resized.connect(self._refresh)
        self.view.clicked.connect(self.toggle_play)
        self.play_button = QPushButton()
        self.play_button.setObjectName("primary")
        self.play_button.setProperty("round", True)
        self.play_button.setIcon(_icon("play"))
        self.play_button.setIconSize(QSize(18, 18))
        self.play_button.setFixedSize(38, 38)
        self.play_button.setToolTip("Play (Space)")
        self.play_button.setAccessibleName("Play")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel("00:00.0")
        self.time_label.setObjectName("subtitle")
        self.total_label = QLabel("/ 00:00.0")
        self.total_label.setObjectName("muted")
        self.speed_buttons: dict[float, QPushButton] = {}
        self._speed_group = QButtonGroup(self)
        self._speed_group.setExclusive(True)
        speed_caption = QLabel("Speed")
        speed_caption.setObjectName("muted")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(10)
        bar.addWidget(self.play_button)
        bar.addSpacing(4)
        bar.addWidget(self.time_label)
        bar.addWidget(self.total_label)
        bar.addSpacing(14)
        self.context_label = QLabel("")
        self.context_label.setObjectName("muted")
        self.context_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.context_label.setToolTip("The window in focus at this moment")
        bar.addWidget(self.context_label, 1)
        bar.addWidget(speed_caption)
        seg = QHBoxLayout()
        seg.setSpacing(0)
        for i, speed in enumerate((1.0, 2.0)):
            b = QPushButton(f"{speed:g}x")
            b.setObjectName("segment")
            b.setProperty("position", "left" if i == 0 else "right")
            b.setCheckable(True)
            b.setChecked(speed == 1.0)
            b.setToolTip(f"Play at {speed:g}x speed")
            b.setAccessibleName(f"Speed {speed:g}x")
            b.clicked.connect(lambda _=False, v=speed: self.set_speed(v))
            self._speed_group.addButton(b)
            self.speed_buttons[speed] = b
            seg.addWidget(b)
        bar.addLayout(seg)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)
        self.set_enabled(False)

    # --- source ---------------------------------------------------------------------------------------
    def set_source(
        self, service: FrameService | None, start_ns: int, end_ns: int, pauses: list[tuple[int, int]]
    ) -> None:
        self.pause()
        if self.service is not None:
            self.service.shutdown()
        self.service = service
        self.current = None
        self.start_ns, self.end_ns, self.pauses = start_ns, end_ns, pauses
        self._bounds = (start_ns, end_ns)
        self._pos = start_ns
        self.total_label.setText(f"/ {format_time(end_ns - start_ns)}")
        self.view.show_image(None)
        self.view.placeholder = "" if service is not None else "This recording has no screen video"
        if service is not None:
            service.ready.connect(self._on_frame)
            service.failed.connect(self._on_failed)
        self.set_enabled(True)
        self._show_position()
        self._refresh()

    def set_enabled(self, on: bool) -> None:
        self.play_button.setEnabled(on)
        for b in self.speed_buttons.values():
            b.setEnabled(on)

    def set_context(self, text: str) -> None:
        """The focused window at the current time, shortened to fit."""
        if text != self.context_label.toolTip():
            self.context_label.setToolTip(text or "The window in focus at this moment")
        width = max(60, self.context_label.width())
        shown = self.context_label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)
        if shown != self.context_label.text():
            self.context_label.setText(shown)

    # --- transport --------------------------------------------------------------------------------------
    def position(self) -> int:
        return self._pos

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if self.is_playing():
            self._anchor = (time.monotonic(), self._pos)
        self._speed = speed
        if speed in self.speed_buttons:
            self.speed_buttons[speed].setChecked(True)

    def set_bounds(self, lo: int, hi: int) -> None:
        """The range that playback covers (the kept part after a trim)."""
        self._bounds = (lo, hi)

    def seek(self, t_ns: int) -> None:
        t = min(max(int(t_ns), self.start_ns), self.end_ns)
        self._pos = t
        if self.is_playing():
            self._anchor = (time.monotonic(), t)
        self._show_position()
        self._refresh()

    def play(self) -> None:
        if self.is_playing() or self.end_ns <= self.start_ns:
            return
        lo, hi = self._bounds
        if not lo <= self._pos < hi - 50_000_000:  # at or past the end: start over
            self._pos = lo
        self._anchor = (time.monotonic(), self._pos)
        self._timer.start()
        self._set_playing_look(True)

    def pause(self) -> None:
        if not self.is_playing():
            return
        self._timer.stop()
        self._anchor = None
        self._set_playing_look(False)

    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def _set_playing_look(self, playing: bool) -> None:
        self.play_button.setIcon(_icon("pause" if playing else "play"))
        self.play_button.setToolTip("Pause (Space)" if playing else "Play (Space)")
        self.play_button.setAccessibleName("Pause" if playing else "Play")
        self.playing_changed.emit(playing)

    def _tick(self) -> None:
        if self._anchor is None:
            return
        wall0, pos0 = self._anchor
        t = pos0 + int((time.monotonic() - wall0) * NS * self._speed)
        for p0, p1 in self.pauses:  # nothing was recorded in a pause: jump over it
            if p0 <= t < p1:
                self._anchor = (time.monotonic(), p1)
                t = p1
        hi = self._bounds[1]
        if t >= hi:
            t = hi
            self._timer.stop()
            self._anchor = None
            self._set_playing_look(False)
        self._pos = max(self._pos, t)
        self._show_position()
        self._refresh()

    def _show_position(self) -> None:
        self.time_label.setText(format_time(self._pos - self.start_ns))
        self.position_changed.emit(self._pos)

    # --- frames -----------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.service is not None:
            self.service.request(self._pos, self.view.box(), self.view.devicePixelRatioF())

    def _on_frame(self, comp: Composite) -> None:
        self.current = comp
        comp.qimage.setDevicePixelRatio(self.view.devicePixelRatioF())
        self.view.show_image(comp.qimage)
        self.frame_shown.emit(comp)

    def _on_failed(self, message: str) -> None:
        self.current = None
        self.view.placeholder = f"This part of the video cannot be shown: {message}"
        self.view.show_image(None)

    def shutdown(self) -> None:
        self._timer.stop()
        self._anchor = None
        if self.service is not None:
            self.service.shutdown()
            self.service = None


__all__ = ["Composite", "FrameService", "Overlays", "Player", "VideoView", "compose", "format_time", "key_token"]
