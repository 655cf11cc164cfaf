"""The Review screen, shown after Stop: play the recording back with the pointer, clicks and typing drawn over
it, scrub a timeline of the voiceover, input events and markers, trim the start and end, edit the markers'
notes, then Submit or Discard.

The page never blocks the GUI thread: `load()` opens the bundle and precomputes everything the screen shows
(`load_review`, run through `run_task`), frames are rendered by the player's FrameService, and the reader is
closed in that same worker lane on `shutdown()`. The page edits nothing itself: it emits `submit_requested`
with the trim and the changed notes, or `discard_requested` once the expert confirmed.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from recorder.app.player import FrameService, Overlays, Player, format_time, key_token
from recorder.app.tasks import run_task
from recorder.app.theme import COLORS
from recorder.app.timeline import Flag, Timeline
from recorder.errors import TrajrecError
from trajrec import format as fmt
from trajrec.reader import BundleReader

log = logging.getLogger(__name__)

NS = 1_000_000_000
ENVELOPE_COLUMNS = 3000
FLAG_KINDS = (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE)  # pauses show as shading, not as flags


# --- loading (worker side) ------------------------------------------------------------------------------
@dataclass
class ReviewData:
    """Everything the Review screen shows, prepared off the GUI thread. Owns the open reader."""

    path: Path
    reader: BundleReader
    session_id: str
    title: str
    status: str
    start_ns: int
    end_ns: int
    frame_times: np.ndarray
    video_size: tuple[int, int] | None  # None: no screen stream
    events: int
    markers: list[fmt.Marker]  # all markers, BundleReader.markers() order
    pauses: list[tuple[int, int]]
    envelope: np.ndarray | None  # (columns, 2) float32 min/max in -1..1 spread over [start_ns, end_ns]
    click_ticks: np.ndarray  # t_ns of `down` events
    key_ticks: np.ndarray  # t_ns of `key_down` events
    windows: list[tuple[int, str]]  # (t_ns, "app - title") of the focused window from t_ns on
    overlays: Overlays = field(repr=False)

    @property
    def frames(self) -> int:
        return len(self.frame_times)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def flagged(self) -> list[tuple[int, fmt.Marker]]:
        """(index in markers, marker) of the markers shown as flags and in the list."""
        return [(i, m) for i, m in enumerate(self.markers) if m.kind in FLAG_KINDS]

    def close(self) -> None:
        self.reader.close()


def load_review(path: Path, columns: int = ENVELOPE_COLUMNS) -> ReviewData:
    """Open a bundle and prepare the Review screen's data (blocking: run it off the GUI thread)."""
    reader = BundleReader(path)
    try:
        m = reader.manifest
        start, end = reader.start_ns, reader.end_ns
        screen = m["streams"]["screen"]
        video_size = (int(screen["width"]), int(screen["height"])) if reader.has_screen else None
        frame_times = reader.frame_times() if reader.has_screen else np.zeros(0, np.int64)
        ev = reader.events()
        t = np.asarray(ev.column("t_ns").to_numpy(), np.int64)
        kind = np.asarray(ev.column("kind").to_numpy(zero_copy_only=False), dtype=object)
        overlays = _overlays(ev, t, kind, screen if reader.has_screen else None, video_size)
        return ReviewData(
            path=Path(path),
            reader=reader,
            session_id=reader.session_id,
            title=str(m.get("task", {}).get("title") or "Untitled task"),
            status=str(m.get("status", "complete")),
            start_ns=start,
            end_ns=end,
            frame_times=frame_times,
            video_size=video_size,
            events=ev.num_rows,
            markers=reader.markers(),
            pauses=_pauses(m, end),
            envelope=_envelope(reader, start, end, columns) if reader.has_audio else None,
            click_ticks=t[kind == "down"],
            key_ticks=t[kind == "key_down"],
            windows=[
                (w.t_ns, f"{w.app}  ·  {w.title}" if w.title else w.app) for w in reader.window_records() if w.focused
            ],
            overlays=overlays,
        )
    except BaseException:
        reader.close()
        raise


def _pauses(manifest: dict[str, Any], end_ns: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    since: int | None = None
    for a in manifest["clock"]["anchors"]:
        if a["event"] == "pause" and since is None:
            since = int(a["mono_ns"])
        elif a["event"] == "resume" and since is not None:
            out.append((since, int(a["mono_ns"])))
            since = None
    if since is not None:
        out.append((since, end_ns))
    return out


def _overlays(
    ev: Any, t: np.ndarray, kind: np.ndarray, screen: dict[str, Any] | None, video_size: tuple[int, int] | None
) -> Overlays:
    if screen is None or video_size is None or len(t) == 0:
        return Overlays.empty()
    region = screen.get("region") or {"origin": [0, 0], "size_px": list(video_size)}
    ox, oy = (float(v) for v in region["origin"])
    rw, rh = (float(v) for v in region["size_px"])
    sx, sy = video_size[0] / max(1.0, rw), video_size[1] / max(1.0, rh)
    xs = ev.column("x").to_numpy(zero_copy_only=False)
    ys = ev.column("y").to_numpy(zero_copy_only=False)
    has_xy = ~(pc.is_null(ev.column("x")).to_numpy(zero_copy_only=False)) & ~(
        pc.is_null(ev.column("y")).to_numpy(zero_copy_only=False)
    )
    xy = np.stack(
        [(np.nan_to_num(xs.astype(np.float64)) - ox) * sx, (np.nan_to_num(ys.astype(np.float64)) - oy) * sy], 1
    )
    pointer = has_xy & np.isin(kind, ["move", "down", "up", "scroll"])
    clicks = has_xy & (kind == "down")
    key_rows = np.flatnonzero(kind == "key_down")
    keys = ev.column("key").to_pylist()
    chars = ev.column("char").to_pylist()
    mods = ev.column("modifiers").to_pylist()
    tokens = [(int(t[i]), key_token(keys[i], chars[i], mods[i] or ())) for i in key_rows]
    tokens = [(ti, s) for ti, s in tokens if s]
    return Overlays(
        pointer_t=t[pointer],
        pointer_xy=xy[pointer],
        click_t=t[clicks],
        click_xy=xy[clicks],
        key_t=np.array([ti for ti, _ in tokens], np.int64),
        key_text=tuple(s for _, s in tokens),
    )


def _envelope(reader: BundleReader, start: int, end: int, columns: int) -> np.ndarray:
    """Min/max of the voiceover in `columns` equal slices of [start, end], read a few thousand columns'
    worth at a time (never the whole file in memory)."""
    meta = reader.manifest["streams"]["audio"]
    rate = float(meta.get("clock_rate_hz") or meta["sample_rate"])
    edges = np.linspace(start, end, columns + 1).round().astype(np.int64)
    out = np.zeros((columns, 2), np.float32)
    per_chunk = max(1, int(columns * 20 * NS / max(1, end - start)) // 20)  # ~1 s of audio or more per read
    per_chunk = max(per_chunk, columns // 64)
    for c0 in range(0, columns, per_chunk):
        c1 = min(columns, c0 + per_chunk)
        pcm = reader.audio(int(edges[c0]), int(edges[c1]))
        if len(pcm) == 0:
            continue
        lo = pcm.min(axis=1)
        hi = pcm.max(axis=1)
        idx = np.round((edges[c0:c1] - edges[c0]) * rate / NS).astype(np.int64)
        idx = np.clip(idx, 0, len(pcm) - 1)
        out[c0:c1, 0] = np.minimum.reduceat(lo, idx) / 32768.0
        out[c0:c1, 1] = np.maximum.reduceat(hi, idx) / 32768.0
    return out


# --- widgets ----------------------------------------------------------------------------------------------
def _card() -> tuple[QFrame, QVBoxLayout]:
    card = QFrame()
    card.setObjectName("card")
    layout = QVBoxLayout(card)
    layout.setContentsMargins(18, 16, 18, 16)
    layout.setSpacing(12)
    return card, layout


def _label(text: str, name: str | None = None) -> QLabel:
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    return label


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _duration_text(ns: int) -> str:
    s = ns / NS
    if s < 60:
        return f"{s:.1f} s"
    s_int = round(s)
    return (
        f"{s_int // 3600}:{s_int // 60 % 60:02d}:{s_int % 60:02d}"
        if s_int >= 3600
        else f"{s_int // 60}:{s_int % 60:02d}"
    )


class _MarkerRow(QFrame):
    """One marker: its number, kind and time (click to jump) and its editable note."""

    activated = Signal(int)

    def __init__(self, number: int, index: int, marker: fmt.Marker, start_ns: int) -> None:
        super().__init__()
        self.setObjectName("markerRow")
        self.index = index
        self.original = (marker.text or "").strip()
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        head = QHBoxLayout()
        head.setSpacing(8)
        num = _label(str(number), "flagNumber")
        num.setAlignment(Qt.AlignmentFlag.AlignCenter)
        num.setFixedSize(20, 20)
        head.addWidget(num)
        head.addWidget(_label(marker.kind.value.capitalize()))
        head.addStretch(1)
        self.time_button = QPushButton(format_time(marker.t_ns - start_ns))
        self.time_button.setObjectName("link")
        self.time_button.setToolTip("Jump to this marker")
        self.time_button.setAccessibleName(f"Jump to marker {number}")
        self.time_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.time_button.clicked.connect(lambda: self.activated.emit(self.index))
        head.addWidget(self.time_button)
        layout.addLayout(head)
        self.note = QLineEdit(marker.text or "")
        self.note.setPlaceholderText("Add a note for this step")
        self.note.setAccessibleName(f"Note for marker {number}")
        self.note.installEventFilter(self)
        layout.addWidget(self.note)

    def changed(self) -> str | None:
        text = self.note.text().strip()
        return None if text == self.original else text

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit(self.index)
        super().mousePressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.note and event.type() == QEvent.Type.FocusIn:
            self.activated.emit(self.index)  # tabbing through the notes follows them in the player
        return False


class MarkerList(QWidget):
    """The recording's step and note markers, each with its time and an editable note."""

    activated = Signal(int)  # marker index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[_MarkerRow] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(8)
        self.empty = _label(
            "No markers in this recording. Press the marker hotkey while recording to mark steps.", "muted"
        )
        self.empty.setWordWrap(True)
        self._layout.addWidget(self.empty)
        self._layout.addStretch(1)

    def set_markers(self, markers: list[tuple[int, fmt.Marker]], start_ns: int) -> None:
        for row in self.rows:
            row.deleteLater()
        self.rows = []
        for number, (index, marker) in enumerate(markers, 1):
            row = _MarkerRow(number, index, marker, start_ns)
            row.activated.connect(self.activated)
            self._layout.insertWidget(self._layout.count() - 1, row)
            self.rows.append(row)
        self.empty.setVisible(not self.rows)

    def select(self, index: int | None) -> None:
        for row in self.rows:
            row.setProperty("current", row.index == index)
            row.style().unpolish(row)
            row.style().polish(row)

    def notes(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for row in self.rows:
            text = row.changed()
            if text is not None:
                out[row.index] = text
        return out


_LOCAL_STYLE = f"""
QPushButton#primary[round="true"] {{ border-radius: 19px; padding: 0; }}
QPushButton#segment {{ border-radius: 0; padding: 5px 12px; min-width: 28px; }}
QPushButton#segment[position="left"] {{ border-top-left-radius: 6px; border-bottom-left-radius: 6px; }}
QPushButton#segment[position="right"] {{ border-top-right-radius: 6px; border-bottom-right-radius: 6px;
    border-left: none; }}
QPushButton#segment:checked {{ background: {COLORS["accent_soft"]}; color: {COLORS["accent"]}; font-weight: 600;
    border-color: {COLORS["accent"]}; }}
QPushButton#link {{ background: transparent; border: none; padding: 2px 4px; color: {COLORS["accent"]};
    font-weight: 600; }}
QPushButton#link:hover {{ text-decoration: underline; }}
QPushButton#link:focus {{ border: 1px solid {COLORS["accent"]}; border-radius: 4px; }}
QFrame#markerRow {{ background: {COLORS["bg"]}; border: 1px solid transparent; border-radius: 8px; }}
QFrame#markerRow[current="true"] {{ background: {COLORS["accent_soft"]}; border-color: {COLORS["accent"]}; }}
QLabel#flagNumber {{ background: {COLORS["marker"]}; color: white; border-radius: 10px; font-weight: 700;
    font-size: 8.5pt; }}
QLabel#statValue {{ font-size: 13pt; font-weight: 600; }}
QLabel#statCaption {{ color: {COLORS["muted"]}; font-size: 8.5pt; }}
QLabel#legend {{ color: {COLORS["muted"]}; font-size: 8.5pt; }}
QPushButton#danger:hover {{ background: {COLORS["record_soft"]}; }}
QScrollArea#markerScroll {{ background: transparent; border: none; }}
QWidget#markerScrollBody {{ background: transparent; }}
"""


def confirm_box(parent: QWidget | None, title: str, text: str) -> tuple[QMessageBox, QPushButton]:
    """The discard confirmation: a warning whose safe choice (Keep) is the default and the Escape button.
    Returns the box and its discard button."""
    box = QMessageBox(parent)
    box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 380px; }")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(f"<b>{title}</b>")
    box.setInformativeText(text)
    discard = box.addButton("Discard recording", QMessageBox.ButtonRole.DestructiveRole)
    discard.setStyleSheet(f"color: {COLORS['record']}; border: 1px solid {COLORS['record']};")
    keep = box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    return box, discard


def _ask(parent: QWidget, title: str, text: str) -> bool:
    box, discard = confirm_box(parent, title, text)
    box.exec()
    return box.clickedButton() is discard


class _Lifetime:
    """Outlives the page's C++ object: if the page is deleted without being closed, `end` still stops the
    frame service, which closes the bundle in its worker lane."""

    def __init__(self) -> None:
        self.ended = False
        self.service: FrameService | None = None

    def end(self) -> None:
        self.ended = True
        if self.service is not None:
            self.service.shutdown()
            self.service = None


class ReviewPage(QWidget):
    """Review a sealed recording; emits what the expert decided. See the module docstring."""

    loaded = Signal(object)  # Path, once the recording is on screen
    load_failed = Signal(str)
    discard_requested = Signal(object)  # Path
    submit_requested = Signal(object, object, object, object)  # Path, start_ns | None, end_ns | None, notes

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: ReviewData | None = None
        self.bundle: Path | None = None
        self.loader: Callable[[Path], ReviewData] = load_review  # replaceable in tests
        # Asked before discarding: (title, text) -> True to go ahead. Replaceable in tests.
        self.confirm: Callable[[str, str], bool] = lambda title, text: _ask(self, title, text)
        self._generation = 0
        self._window_times: list[int] = []
        self._life = _Lifetime()
        self.destroyed.connect(self._life.end)  # deleted without a close: still stop and close the bundle
        self._closed = False
        self.setStyleSheet(_LOCAL_STYLE)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 24)
        outer.setSpacing(16)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack)
        self.stack.addWidget(self._build_waiting())
        self.stack.addWidget(self._build_content())
        self._set_waiting("Opening the recording...", "Reading the video, input events and voiceover.", busy=True)

    # --- layout -----------------------------------------------------------------------------------------
    def _build_waiting(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        card, inner = _card()
        card.setFixedWidth(460)
        inner.setContentsMargins(28, 24, 28, 24)
        self.waiting_title = _label("", "subtitle")
        self.waiting_text = _label("", "muted")
        self.waiting_text.setWordWrap(True)
        self.waiting_bar = QProgressBar()
        self.waiting_bar.setRange(0, 0)
        self.waiting_bar.setTextVisible(False)
        inner.addWidget(self.waiting_title)
        inner.addWidget(self.waiting_text)
        inner.addWidget(self.waiting_bar)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        return page

    def _build_content(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(16)

        # header: what this is, and its numbers
        head = QHBoxLayout()
        head.setSpacing(24)
        titles = QVBoxLayout()
        titles.setSpacing(4)
        title_row = QHBoxLayout()
        title_row.setSpacing(12)
        title_row.addWidget(_label("Review recording", "title"))
        self.status_badge = _label("", "badge")
        title_row.addWidget(self.status_badge, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addStretch(1)
        titles.addLayout(title_row)
        self.task_label = _label("", "muted")
        self.task_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        titles.addWidget(self.task_label)
        head.addLayout(titles, 1)
        self.stat_labels: dict[str, QLabel] = {}
        for key, caption in (
            ("duration", "Duration"),
            ("frames", "Frames"),
            ("events", "Input events"),
            ("markers", "Markers"),
        ):
            box = QVBoxLayout()
            box.setSpacing(0)
            value = _label("-", "statValue")
            value.setAlignment(Qt.AlignmentFlag.AlignRight)
            cap = _label(caption, "statCaption")
            cap.setAlignment(Qt.AlignmentFlag.AlignRight)
            box.addWidget(value)
            box.addWidget(cap)
            head.addLayout(box)
            self.stat_labels[key] = value
        layout.addLayout(head)

        body = QHBoxLayout()
        body.setSpacing(16)
        left = QVBoxLayout()
        left.setSpacing(16)
        player_card, pl = _card()
        self.player = Player()
        pl.addWidget(self.player)
        left.addWidget(player_card, 1)
        timeline_card, tl = _card()
        tl.setSpacing(8)
        trow = QHBoxLayout()
        trow.addWidget(_label("Timeline", "subtitle"))
        trow.addStretch(1)
        self.trim_label = _label("", "muted")
        trow.addWidget(self.trim_label)
        self.reset_trim_button = QPushButton("Reset trim")
        self.reset_trim_button.setToolTip("Keep the whole recording")
        self.reset_trim_button.clicked.connect(self._reset_trim)
        trow.addWidget(self.reset_trim_button)
        tl.addLayout(trow)
        self.timeline = Timeline()
        tl.addWidget(self.timeline)
        legend = QHBoxLayout()
        legend.setSpacing(8)
        for color, text in (
            ("wave", "Voiceover"),
            ("event", "Clicks and keys"),
            ("marker", "Markers"),
            ("border", "Paused"),
        ):
            dot = QLabel()
            dot.setFixedSize(10, 10)
            edge = COLORS["wave"] if color == "border" else COLORS[color]
            dot.setStyleSheet(f"background: {COLORS[color]}; border: 1px solid {edge}; border-radius: 5px;")
            legend.addWidget(dot)
            legend.addWidget(_label(text, "legend"))
            legend.addSpacing(6)
        legend.addStretch(1)
        keys = _label("← → 1 s  ·  [ ] trim  ·  Space play", "legend")
        keys.setToolTip(
            "Click or drag on the timeline to move the playhead; drag the green handles to trim.\n"
            "Left / Right: back / forward 1 s (Shift: 5 s).  [ / ]: trim start / end at the playhead.\n"
            "Space: play or pause.  Home / End: start / end of the kept part."
        )
        legend.addWidget(keys)
        tl.addLayout(legend)
        left.addWidget(timeline_card)
        body.addLayout(left, 1)

        side_card, sl = _card()
        side_card.setFixedWidth(300)
        sl.addWidget(_label("Markers", "subtitle"))
        hint = _label("Click a marker to jump to it. Notes you edit are saved when you submit.", "muted")
        hint.setWordWrap(True)
        sl.addWidget(hint)
        self.markers = MarkerList()
        scroll = QScrollArea()
        scroll.setObjectName("markerScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.markers.setObjectName("markerScrollBody")
        scroll.setWidget(self.markers)
        sl.addWidget(scroll, 1)
        body.addWidget(side_card)
        layout.addLayout(body, 1)

        # actions
        actions = QHBoxLayout()
        actions.setSpacing(10)
        note = _label("Nothing leaves this computer until you submit.", "muted")
        actions.addWidget(note)
        actions.addStretch(1)
        self.discard_button = QPushButton("Discard recording")
        self.discard_button.setObjectName("danger")
        self.discard_button.setToolTip("Delete this recording (asks first)")
        self.discard_button.clicked.connect(self.discard)
        self.submit_button = QPushButton("Submit")
        self.submit_button.setObjectName("primary")
        self.submit_button.setMinimumWidth(120)
        self.submit_button.setToolTip("Apply the trim and notes, and queue the recording for upload")
        self.submit_button.clicked.connect(self.submit)
        actions.addWidget(self.discard_button)
        actions.addWidget(self.submit_button)
        layout.addLayout(actions)

        self.timeline.seek_requested.connect(self.player.seek)
        self.timeline.marker_activated.connect(self.jump_to_marker)
        self.timeline.trim_changed.connect(self._on_trim)
        self.player.position_changed.connect(self.timeline.set_position)
        self.player.position_changed.connect(self._on_position)
        self.markers.activated.connect(self.jump_to_marker)
        for b in self.player.speed_buttons.values():
            b.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        QWidget.setTabOrder(self.player.play_button, self.player.speed_buttons[1.0])
        QWidget.setTabOrder(self.player.speed_buttons[1.0], self.player.speed_buttons[2.0])
        QWidget.setTabOrder(self.player.speed_buttons[2.0], self.timeline)
        QWidget.setTabOrder(self.timeline, self.reset_trim_button)
        return page

    def _set_waiting(self, title: str, text: str, busy: bool) -> None:
        self.waiting_title.setText(title)
        self.waiting_text.setText(text)
        self.waiting_bar.setVisible(busy)
        self.stack.setCurrentIndex(0)

    def is_loading(self) -> bool:
        return self.stack.currentIndex() == 0 and self.waiting_bar.isVisible()

    # --- loading ----------------------------------------------------------------------------------------
    def load(self, bundle: Path) -> None:
        """Open `bundle` off the GUI thread, then show it (`loaded` or `load_failed` tells when)."""
        self._release()
        self._closed = False
        self._generation += 1
        gen = self._generation
        self.bundle = Path(bundle)
        self._set_waiting("Opening the recording...", "Reading the video, input events and voiceover.", busy=True)
        loader = self.loader
        path = self.bundle
        run_task(lambda: loader(path), lambda data: self._on_loaded(gen, data), lambda e: self._on_load_error(gen, e))

    def _on_loaded(self, gen: int, data: ReviewData) -> None:
        if gen != self._generation or self._closed or self._life.ended:  # superseded or closed: drop it
            run_task(data.close)
            return
        self.data = data
        self._window_times = [t for t, _ in data.windows]
        complete = data.status == "complete"
        self.status_badge.setText("Complete" if complete else "Recovered: the end may be missing")
        self.status_badge.setStyleSheet(
            "" if complete else f"background: {COLORS['record_soft']}; color: {COLORS['warn']};"
        )
        self.task_label.setText(f"{data.title}  ·  {data.session_id}")
        flagged = data.flagged()
        counts = self.counts()
        self.stat_labels["duration"].setText(_duration_text(data.duration_ns))
        for key in ("frames", "events", "markers"):
            self.stat_labels[key].setText(f"{counts[key]:,}")
        self.timeline.set_data(
            data.start_ns,
            data.end_ns,
            data.envelope,
            data.click_ticks,
            data.key_ticks,
            [
                Flag(
                    i,
                    m.t_ns,
                    str(n),
                    f"{m.kind.value.capitalize()} {n} at {format_time(m.t_ns - data.start_ns)}"
                    + (f": {m.text}" if m.text else ""),
                )
                for n, (i, m) in enumerate(flagged, 1)
            ],
            data.pauses,
        )
        self.markers.set_markers(flagged, data.start_ns)
        service = None
        if data.video_size is not None and data.frames:
            service = FrameService(data.reader, data.frame_times, data.video_size, data.overlays, self)
            self._life.service = service
        else:  # nothing to decode: the reader is only needed by the loader
            run_task(data.reader.close)
        self.player.set_source(service, data.start_ns, data.end_ns, data.pauses)
        self._on_trim(*self.timeline.trim_range())
        self.stack.setCurrentIndex(1)
        self.loaded.emit(data.path)

    def _on_load_error(self, gen: int, error: BaseException) -> None:
        if gen != self._generation or self._closed or self._life.ended:
            return
        if isinstance(error, TrajrecError):  # a bundle problem, said in its message
            log.warning("opening %s for review failed: %s", self.bundle, error)
            message = str(error)
        else:
            log.error("opening %s for review failed", self.bundle, exc_info=(type(error), error, error.__traceback__))
            message = f"{self.bundle}: {type(error).__name__}: {error}"
        self._set_waiting("This recording cannot be opened", message, busy=False)
        self.load_failed.emit(str(error))

    # --- state the host reads ---------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        d = self.data
        if d is None:
            return {"frames": 0, "events": 0, "markers": 0}
        return {"frames": d.frames, "events": d.events, "markers": len(d.flagged())}

    def trim_range(self) -> tuple[int, int]:
        return self.timeline.trim_range()

    def set_trim(self, start_ns: int | None = None, end_ns: int | None = None) -> None:
        self.timeline.set_trim(start_ns, end_ns)

    def marker_notes(self) -> dict[int, str]:
        """The notes the expert changed, by marker index in BundleReader.markers() order."""
        return self.markers.notes()

    # --- actions ----------------------------------------------------------------------------------------
    def window_at(self, t_ns: int) -> str:
        """The focused window at `t_ns`, as shown under the player."""
        if self.data is None:
            return ""
        if not self.data.windows:
            return ""
        i = bisect.bisect_right(self._window_times, t_ns) - 1
        return self.data.windows[max(0, i)][1]  # before the first record: the window as first seen

    def _on_position(self, t_ns: int) -> None:
        self.player.set_context(self.window_at(t_ns))

    def jump_to_marker(self, index: int) -> None:
        if self.data is None or not 0 <= index < len(self.data.markers):
            return
        self.player.seek(self.data.markers[index].t_ns)
        self.markers.select(index)

    def _on_trim(self, start: int, end: int) -> None:
        self.player.set_bounds(start, end)
        cut_start, cut_end = self.timeline.is_trimmed()
        if cut_start or cut_end:
            assert self.data is not None
            self.trim_label.setText(
                f"Keeping {format_time(start - self.data.start_ns)} to {format_time(end - self.data.start_ns)}"
                f"  ({_duration_text(end - start)})"
            )
        else:
            self.trim_label.setText("Whole recording kept")
        self.reset_trim_button.setEnabled(cut_start or cut_end)

    def _reset_trim(self) -> None:
        self.timeline.reset_trim()

    def submit(self) -> None:
        if self.data is None or self.bundle is None:
            return
        self.player.pause()
        start, end = self.timeline.trim_range()
        cut_start, cut_end = self.timeline.is_trimmed()
        self.submit_requested.emit(
            self.bundle, start if cut_start else None, end if cut_end else None, self.marker_notes()
        )

    def discard(self) -> None:
        if self.data is None or self.bundle is None:
            return
        self.player.pause()
        d = self.data
        parts = [f"{_duration_text(d.duration_ns)} of screen video" if d.frames else "the recording"]
        parts.append(_plural(d.events, "input event"))
        if d.flagged():
            parts.append(_plural(len(d.flagged()), "marker") + " with their notes")
        if d.envelope is not None:
            parts.append("the voiceover")
        lost = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        text = f"“{d.title}” will be deleted from this computer: {lost}. This cannot be undone."
        if self.confirm("Discard this recording?", text):
            self.discard_requested.emit(self.bundle)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Keys the focused child did not use: Space plays/pauses, the timeline keys work anywhere."""
        key = event.key()
        if self.data is None:
            return super().keyPressEvent(event)
        if key == Qt.Key.Key_Space:
            self.player.toggle_play()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight):
            self.timeline.keyPressEvent(event)
        else:
            super().keyPressEvent(event)

    # --- teardown ---------------------------------------------------------------------------------------
    def _release(self) -> None:
        self.player.shutdown()  # closes the reader in the decode lane
        self.data = None

    def shutdown(self) -> None:
        """Stop playback and rendering and close the bundle (in the worker lane). Safe to call twice."""
        self._closed = True
        self._release()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)


__all__ = ["MarkerList", "ReviewData", "ReviewPage", "confirm_box", "load_review"]
