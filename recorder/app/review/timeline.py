"""The Review screen's timeline: voiceover waveform, event ticks, marker flags, pauses, the playhead and the trim.

Painted with QPainter; the numbers it draws (waveform columns, axis labels, the trim's bounds) come from
`data`, Qt-free. The static layers (waveform, ticks, flags, pauses, time axis) are cached in a pixmap
that is redrawn only when the size or the data change; the playhead and the trim are painted over it, so
moving them each playback tick is cheap. Times are session-clock nanoseconds throughout.

Mouse: click or drag to scrub; drag a trim handle; click a flag to jump to its marker.
Keys: Left/Right -/+1 s (with Shift 5 s), Home/End to the kept range's ends, [ and ] trim start/end at the
playhead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from recorder.app.palette import COLORS
from recorder.app.review.data import Flag, axis_ticks, clamp_trim, wave_columns
from trajrec.timeline import Span

NS = 1_000_000_000
MIN_KEEP_NS = 200_000_000  # the trim keeps at least this much
HANDLE_GRAB_PX = 8

# vertical bands (px from the top)
FLAG_TOP, FLAG_H = 2, 16
WAVE_TOP, WAVE_H = 22, 58
TICK_TOP, TICK_H = WAVE_TOP + WAVE_H + 4, 18
AXIS_TOP = TICK_TOP + TICK_H + 3
HEIGHT = AXIS_TOP + 16
MARGIN = 12  # left/right, so the handles at the very ends can be grabbed


def _color(name: str, alpha: int = 255) -> QColor:
    c = QColor(COLORS[name])
    c.setAlpha(alpha)
    return c


class Timeline(QWidget):
    """The timeline widget; see the module docstring. Emits what the expert asked for, changes no data."""

    seek_requested = Signal(object)  # int ns: the user scrubbed or stepped
    marker_activated = Signal(int)  # marker index: a flag was clicked
    trim_changed = Signal(object, object)  # (start_ns, end_ns) of the kept range

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_ns = 0
        self.end_ns = 1
        self.envelope: np.ndarray | None = None  # (columns, 2) float32 min/max in -1..1 over [start, end]
        self.click_ticks = np.zeros(0, np.int64)
        self.key_ticks = np.zeros(0, np.int64)
        self.flags: list[Flag] = []
        self.pauses: list[Span] = []
        self.privacy: list[tuple[Span, str]] = []  # spans a privacy guard removed something from
        self._pos = 0
        self._trim = (0, 1)
        self._drag: str | None = None  # "scrub" | "start" | "end"
        self._cache: QPixmap | None = None
        self.setFixedHeight(HEIGHT)
        self.setMinimumWidth(300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName("Timeline")
        self.setAccessibleDescription(
            "Click or drag to move the playhead. Left and Right step one second; [ and ] set the trim start and end."
        )

    # --- data --------------------------------------------------------------------------------------------
    def set_data(
        self,
        start_ns: int,
        end_ns: int,
        envelope: np.ndarray | None,
        click_ticks: np.ndarray,
        key_ticks: np.ndarray,
        flags: list[Flag],
        pauses: Sequence[Span],
        privacy: Sequence[tuple[Span, str]] = (),
    ) -> None:
        self.start_ns, self.end_ns = start_ns, max(end_ns, start_ns + 1)
        self.envelope = envelope
        self.click_ticks = np.asarray(click_ticks, np.int64)
        self.key_ticks = np.asarray(key_ticks, np.int64)
        self.flags = list(flags)
        self.pauses = list(pauses)
        self.privacy = list(privacy)
        self._pos = start_ns
        self._trim = (start_ns, self.end_ns)
        self._cache = None
        self.update()

    # --- geometry ----------------------------------------------------------------------------------------
    def _track(self) -> tuple[float, float]:
        return float(MARGIN), float(max(MARGIN + 1, self.width() - MARGIN))

    def x_for(self, t_ns: int) -> float:
        x0, x1 = self._track()
        return x0 + (t_ns - self.start_ns) / (self.end_ns - self.start_ns) * (x1 - x0)

    def t_for(self, x: float) -> int:
        x0, x1 = self._track()
        frac = min(1.0, max(0.0, (x - x0) / (x1 - x0)))
        return self.start_ns + round(frac * (self.end_ns - self.start_ns))

    def flag_rect(self, flag: Flag) -> QRectF:
        """Where a marker's flag is drawn (and clicked)."""
        x = self.x_for(flag.t_ns)
        return QRectF(x - 1, FLAG_TOP, 20, FLAG_H)

    def flag_at(self, pos: QPointF) -> Flag | None:
        for flag in reversed(self.flags):  # the later flag is drawn on top
            if self.flag_rect(flag).adjusted(-3, -2, 2, 4).contains(pos):
                return flag
        return None

    def _handle_at(self, pos: QPointF) -> str | None:
        if pos.y() < WAVE_TOP - 4 or pos.y() > TICK_TOP + TICK_H + 2:
            return None
        ds = abs(pos.x() - self.x_for(self._trim[0]))
        de = abs(pos.x() - self.x_for(self._trim[1]))
        if min(ds, de) > HANDLE_GRAB_PX:
            return None
        return "start" if ds < de or (ds == de and pos.x() < self.x_for(self._trim[0])) else "end"

    # --- playhead and trim --------------------------------------------------------------------------------
    def position(self) -> int:
        return self._pos

    def set_position(self, t_ns: int) -> None:
        t = min(max(int(t_ns), self.start_ns), self.end_ns)
        if t != self._pos:
            self._pos = t
            self.update()

    def trim_range(self) -> tuple[int, int]:
        """The kept part of the recording (start_ns, end_ns); the whole of it when not trimmed."""
        return self._trim

    def is_trimmed(self) -> tuple[bool, bool]:
        return self._trim[0] != self.start_ns, self._trim[1] != self.end_ns

    def set_trim(self, start_ns: int | None = None, end_ns: int | None = None) -> None:
        """Move either end of the kept range (None keeps that end); the range stays inside the recording and
        at least MIN_KEEP_NS long."""
        s, e = clamp_trim(self._trim, (self.start_ns, self.end_ns), MIN_KEEP_NS, start_ns, end_ns)
        if (s, e) != self._trim:
            self._trim = (s, e)
            self.update()
            self.trim_changed.emit(s, e)

    def reset_trim(self) -> None:
        self.set_trim(self.start_ns, self.end_ns)

    # --- input ---------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = event.position()
        handle = self._handle_at(pos)
        if handle is not None:
            self._drag = handle
            return
        flag = self.flag_at(pos)
        if flag is not None:
            self.set_position(flag.t_ns)
            self.marker_activated.emit(flag.index)
            return
        self._drag = "scrub"
        self._scrub(pos.x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "scrub":
            self._scrub(pos.x())
        elif self._drag == "start":
            self.set_trim(start_ns=self.t_for(pos.x()))
        elif self._drag == "end":
            self.set_trim(end_ns=self.t_for(pos.x()))
        elif self._handle_at(pos) is not None:
            self.setCursor(Qt.CursorShape.SizeHorCursor)
        elif self.flag_at(pos) is not None:
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.unsetCursor()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        super().mouseReleaseEvent(event)

    def _scrub(self, x: float) -> None:
        t = self.t_for(x)
        self.set_position(t)
        self.seek_requested.emit(t)

    def step(self, delta_ns: int) -> None:
        t = min(max(self._pos + delta_ns, self.start_ns), self.end_ns)
        self.set_position(t)
        self.seek_requested.emit(t)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        big = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_Left:
            self.step(-(5 if big else 1) * NS)
        elif key == Qt.Key.Key_Right:
            self.step((5 if big else 1) * NS)
        elif key == Qt.Key.Key_Home:
            self.step(self._trim[0] - self._pos)
        elif key == Qt.Key.Key_End:
            self.step(self._trim[1] - self._pos)
        elif key == Qt.Key.Key_BracketLeft:
            self.set_trim(start_ns=self._pos)
        elif key == Qt.Key.Key_BracketRight:
            self.set_trim(end_ns=self._pos)
        else:
            super().keyPressEvent(event)  # e.g. Space: the page plays/pauses

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            pos = QPointF(e.pos())
            flag = self.flag_at(pos)
            handle = self._handle_at(pos)
            if flag is not None:
                QToolTip.showText(e.globalPos(), flag.tooltip, self)
            elif handle is not None:
                which = "start" if handle == "start" else "end"
                QToolTip.showText(
                    e.globalPos(), f"Drag to trim the {which} (or press {'[' if which == 'start' else ']'})", self
                )
            else:
                QToolTip.hideText()
                e.ignore()
            return True
        return super().event(e)

    # --- painting -------------------------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        self._cache = None
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        dpr = self.devicePixelRatioF()
        if self._cache is None or self._cache.size() != self.size() * dpr:
            self._cache = self._paint_static(dpr)
        p = QPainter(self)
        p.drawPixmap(0, 0, self._cache)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_trim(p)
        self._paint_playhead(p)
        if self.hasFocus():
            p.setPen(QPen(_color("accent", 110), 1.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(QRectF(self.rect()).adjusted(1, 1, -1, -1), 6, 6)
        p.end()

    def _paint_static(self, dpr: float) -> QPixmap:
        pm = QPixmap(self.size() * dpr)
        pm.setDevicePixelRatio(dpr)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        x0, x1 = self._track()
        lane = QRectF(x0, WAVE_TOP, x1 - x0, TICK_TOP + TICK_H - WAVE_TOP)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(_color("bg"))
        p.drawRoundedRect(lane, 6, 6)
        self._paint_pauses(p)
        self._paint_privacy(p)
        self._paint_wave(p, x0, x1)
        self._paint_ticks(p)
        self._paint_axis(p)
        self._paint_flags(p)
        p.end()
        return pm

    def _small_font(self, bold: bool = False) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.8))
        if bold:
            f.setBold(True)
        return f

    def _paint_privacy(self, p: QPainter) -> None:
        """Privacy gaps (a denied window: nothing recorded) shaded like pauses; spans of hidden keys as a band."""
        for (a, b), kind in self.privacy:
            x, w = self.x_for(a), max(2.0, self.x_for(b) - self.x_for(a))
            if kind == "deny-list":
                r = QRectF(x, WAVE_TOP, w, TICK_TOP + TICK_H - WAVE_TOP)
                p.fillRect(r, _color("warn", 60))
                p.fillRect(r, QBrush(_color("warn", 140), Qt.BrushStyle.FDiagPattern))
                label = "Private window"
            else:
                r = QRectF(x, TICK_TOP + TICK_H - 5, w, 5)
                p.fillRect(r, _color("warn", 200))
                label = "Keys hidden"
            if r.width() > 90:
                p.setPen(_color("muted"))
                p.setFont(self._small_font())
                p.drawText(r.adjusted(0, -14, 0, 0), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, label)
                p.setPen(Qt.PenStyle.NoPen)

    def _paint_pauses(self, p: QPainter) -> None:
        for a, b in self.pauses:
            r = QRectF(self.x_for(a), WAVE_TOP, max(2.0, self.x_for(b) - self.x_for(a)), TICK_TOP + TICK_H - WAVE_TOP)
            p.fillRect(r, _color("border"))
            p.fillRect(r, QBrush(_color("wave", 120), Qt.BrushStyle.BDiagPattern))
            if r.width() > 48:
                p.setPen(_color("muted"))
                p.setFont(self._small_font())
                p.drawText(r.adjusted(0, 2, 0, 0), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, "Paused")
                p.setPen(Qt.PenStyle.NoPen)

    def _paint_wave(self, p: QPainter, x0: float, x1: float) -> None:
        mid = WAVE_TOP + WAVE_H / 2
        half = WAVE_H / 2 - 4
        if self.envelope is None or len(self.envelope) == 0:
            p.setPen(_color("muted"))
            p.drawText(
                QRectF(x0, WAVE_TOP, x1 - x0, WAVE_H), Qt.AlignmentFlag.AlignCenter, "No voiceover in this recording"
            )
            return
        lo, hi, gain = wave_columns(self.envelope, int(x1 - x0))  # quiet voices still show; loud ones fill it
        lines = []
        for i in range(len(lo)):
            a = mid - float(hi[i]) * gain * half
            b = mid - float(lo[i]) * gain * half
            if b - a < 1:
                a, b = mid - 0.5, mid + 0.5
            lines.append(QLineF(x0 + i + 0.5, a, x0 + i + 0.5, b))
        p.setPen(QPen(_color("wave"), 1))
        p.drawLines(lines)

    def _paint_ticks(self, p: QPainter) -> None:
        base = TICK_TOP + TICK_H - 2
        p.setPen(QPen(_color("event", 90), 1))
        p.drawLines([QLineF(self.x_for(int(t)), base - 7, self.x_for(int(t)), base) for t in self.key_ticks])
        p.setPen(QPen(_color("event"), 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLines([QLineF(self.x_for(int(t)), TICK_TOP + 2, self.x_for(int(t)), base) for t in self.click_ticks])

    def _paint_flags(self, p: QPainter) -> None:
        p.setFont(self._small_font(bold=True))
        for flag in self.flags:
            r = self.flag_rect(flag)
            x = self.x_for(flag.t_ns)
            p.setPen(QPen(_color("marker", 150), 1.5))
            p.drawLine(QLineF(x, r.top(), x, TICK_TOP + TICK_H))
            path = QPainterPath()
            path.addPolygon(
                QPolygonF(
                    [
                        QPointF(x, r.top()),
                        QPointF(r.right(), r.top()),
                        QPointF(r.right() - 4, r.center().y()),
                        QPointF(r.right(), r.bottom()),
                        QPointF(x, r.bottom()),
                    ]
                )
            )
            p.fillPath(path, _color("marker"))
            p.setPen(QColor("white"))
            p.drawText(QRectF(x, r.top(), r.width() - 4, r.height()), Qt.AlignmentFlag.AlignCenter, flag.label)

    def _paint_axis(self, p: QPainter) -> None:
        p.setFont(self._small_font())
        p.setPen(_color("muted"))
        for offset, label in axis_ticks(self.end_ns - self.start_ns):
            x = self.x_for(self.start_ns + offset)
            align = Qt.AlignmentFlag.AlignHCenter
            rect = QRectF(x - 30, AXIS_TOP, 60, 14)
            if x - 30 < 0:
                rect, align = QRectF(x, AXIS_TOP, 60, 14), Qt.AlignmentFlag.AlignLeft
            elif x + 30 > self.width():
                rect, align = QRectF(x - 60, AXIS_TOP, 60, 14), Qt.AlignmentFlag.AlignRight
            p.drawText(rect, align | Qt.AlignmentFlag.AlignTop, label)

    def _paint_trim(self, p: QPainter) -> None:
        x0, x1 = self._track()
        top, bottom = WAVE_TOP, TICK_TOP + TICK_H
        sx, ex = self.x_for(self._trim[0]), self.x_for(self._trim[1])
        veil = QColor(255, 255, 255, 185)
        p.setPen(Qt.PenStyle.NoPen)
        if sx > x0:
            p.fillRect(QRectF(x0, top, sx - x0, bottom - top), veil)
        if ex < x1:
            p.fillRect(QRectF(ex, top, x1 - ex, bottom - top), veil)
        accent = _color("accent")
        trimmed = self._trim != (self.start_ns, self.end_ns)
        if trimmed:  # frame the kept part
            p.setPen(QPen(accent, 2))
            p.drawLine(QLineF(sx, top + 1, ex, top + 1))
            p.drawLine(QLineF(sx, bottom - 1, ex, bottom - 1))
        for x, left in ((sx, True), (ex, False)):
            handle = QRectF(x - 5 if left else x - 1, top - 2, 6, bottom - top + 4)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(accent)
            p.drawRoundedRect(handle, 3, 3)
            p.setPen(QPen(QColor(255, 255, 255, 220), 1))
            cx = handle.center().x()
            cy = handle.center().y()
            p.drawLine(QLineF(cx, cy - 6, cx, cy + 6))

    def _paint_playhead(self, p: QPainter) -> None:
        x = self.x_for(self._pos)
        color = _color("text")
        p.setPen(QPen(color, 2))
        p.drawLine(QLineF(x, WAVE_TOP - 4, x, TICK_TOP + TICK_H + 2))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawPolygon(QPolygonF([QPointF(x - 5, WAVE_TOP - 9), QPointF(x + 5, WAVE_TOP - 9), QPointF(x, WAVE_TOP - 3)]))
