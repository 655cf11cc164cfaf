"""The Review screen's player widget: the video surface and its controls (play/pause, time, speed).

Frames come from the decode lane (`frames.FrameService`), which renders them off the GUI thread with the
expert's pointer, clicks and typing drawn over them; the player asks for the frame at its position and paints
the latest one delivered. Playback follows the wall clock and skips the recording's pauses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
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

from recorder.app.palette import COLORS
from recorder.app.review.data import format_time
from recorder.app.review.frames import FrameService
from recorder.app.review.render import Composite
from trajrec.timeline import Span

NS = 1_000_000_000
TICK_MS = 33  # playback clock: ~30 requests a second; the renderer shows as many as it can


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
    dragged = Signal(object)  # QRectF in widget coordinates, drawn while `drawing`

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drawing = False  # a drag draws a box instead of a click playing
        self._drag: tuple[QPointF, QPointF] | None = None
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
            if self._drag is not None:
                p.setPen(QColor(COLORS["record"]))
                p.drawRect(QRectF(*self._drag).normalized())
        elif self.placeholder:
            p.setPen(QColor(COLORS["sidebar_text"]))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        p.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def image_rect(self) -> QRectF:
        """Where the frame is painted, in widget coordinates (empty without one)."""
        if self.image is None or self.image.isNull():
            return QRectF()
        dpr = self.devicePixelRatioF()
        w, h = self.image.width() / dpr, self.image.height() / dpr
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            if self.drawing:
                self._drag = (event.position(), event.position())
            else:
                self.clicked.emit()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = (self._drag[0], event.position())
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and event.button() == Qt.MouseButton.LeftButton:
            rect = QRectF(self._drag[0], event.position()).normalized()
            self._drag = None
            self.update()
            if rect.width() >= 4 and rect.height() >= 4:
                self.dragged.emit(rect)
        super().mouseReleaseEvent(event)


class Player(QWidget):
    """The video surface and its controls: play/pause, the time, the speed. Time is the session clock (ns).

    Playback follows the wall clock (so a slow machine shows fewer frames, never slower time), skips the
    recording's pauses (no frames there) and stops at the end of the playable range (the trim)."""

    position_changed = Signal(object)  # int ns
    playing_changed = Signal(bool)
    box_drawn = Signal(object)  # (x, y, w, h) in video pixels, drawn on the frame with the mouse
    frame_shown = Signal(object)  # Composite

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service: FrameService | None = None
        self.current: Composite | None = None
        self.start_ns = 0
        self.end_ns = 0
        self.pauses: Sequence[Span] = []
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
        self.view.dragged.connect(self._dragged)
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
        self.bar = bar  # the voiceover's volume goes here too (recorder.app.review.voice)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)
        self.set_enabled(False)

    # --- source ---------------------------------------------------------------------------------------
    def set_source(self, service: FrameService | None, start_ns: int, end_ns: int, pauses: Sequence[Span]) -> None:
        self.pause()
        if self.service is not None:
            self.service.shutdown()
        self.service = service
        self.current = None
        self.start_ns, self.end_ns, self.pauses = start_ns, end_ns, pauses
        self._bounds = (start_ns, end_ns)
        self._pos = start_ns
        self.total_label.setText(f"/ {format_time(self.recorded(end_ns))}")
        self.total_label.setToolTip("Recorded time, as the recording timer counted it: pauses are not counted")
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

    def recorded(self, t_ns: int) -> int:
        """Time recorded from the start to session time `t_ns`: what the recording timer showed then."""
        paused = sum(max(0, min(p1, t_ns) - max(p0, self.start_ns)) for p0, p1 in self.pauses)
        return max(0, t_ns - self.start_ns - paused)

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

    def bounds(self) -> tuple[int, int]:
        return self._bounds

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
        self.time_label.setText(format_time(self.recorded(self._pos)))
        self.position_changed.emit(self._pos)

    # --- frames -----------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.service is not None:
            self.service.request(self._pos, self.view.box(), self.view.devicePixelRatioF())

    def _on_frame(self, comp: Composite, qimage: QImage) -> None:
        self.current = comp
        qimage.setDevicePixelRatio(self.view.devicePixelRatioF())
        self.view.show_image(qimage)
        self.frame_shown.emit(comp)

    def _on_failed(self, message: str) -> None:
        self.current = None
        self.view.placeholder = f"This part of the video cannot be shown: {message}"
        self.view.show_image(None)

    def set_drawing(self, on: bool) -> None:
        """While on, a drag on the frame draws a box (`box_drawn`) instead of a click playing."""
        self.view.drawing = on
        self.view.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        self.view.setToolTip("Drag over the frame to draw a box" if on else "Click to play or pause")

    def _dragged(self, rect: QRectF) -> None:
        shown = self.view.image_rect()
        if self.current is None or self.current.raw is None or shown.isEmpty():
            return
        height, width = self.current.raw.shape[:2]
        sx, sy = width / shown.width(), height / shown.height()  # video px per view px
        x0 = max(0, int((rect.left() - shown.left()) * sx))
        y0 = max(0, int((rect.top() - shown.top()) * sy))
        x1 = min(width, int((rect.right() - shown.left()) * sx + 0.999))
        y1 = min(height, int((rect.bottom() - shown.top()) * sy + 0.999))
        if x1 > x0 and y1 > y0:
            self.box_drawn.emit((x0, y0, x1 - x0, y1 - y0))

    def shutdown(self) -> None:
        self._timer.stop()
        self._anchor = None
        if self.service is not None:
            self.service.shutdown()
            self.service = None


__all__ = ["Player", "VideoView"]
