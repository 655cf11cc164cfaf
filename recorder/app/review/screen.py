"""The Review screen, shown after Stop: play the recording back with the pointer, clicks and typing drawn over
it, scrub a timeline of the voiceover, input events and markers, trim the start and end, edit the markers'
notes, then Submit or Discard.

The page never blocks the GUI thread: `load()` opens the bundle and precomputes everything the screen shows
(`data.load_review`, run through `run_task`), frames are rendered by the player's FrameService, and the reader
is closed in that same worker lane on `shutdown()`. The page edits nothing itself: it emits `submit_requested`
with the trim and the changed notes, or `discard_requested` once the expert confirmed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from recorder.app.elided import ElidedLabel
from recorder.app.palette import COLORS
from recorder.app.review.data import ReviewData, duration_text, load_review
from recorder.app.review.frames import FrameService
from recorder.app.review.markers import MarkerList
from recorder.app.review.parts import LOCAL_STYLE, ask_discard, card, label, stat, timeline_legend, waiting_page
from recorder.app.review.player import Player
from recorder.app.review.privacy import PrivacyCard
from recorder.app.review.quality import QualityCard
from recorder.app.review.timeline import Timeline
from recorder.app.review.voice import VoiceControls
from recorder.app.threads import run_task
from recorder.errors import TrajrecError
from recorder.sealing.edit import Redaction, redact_bundle

log = logging.getLogger(__name__)


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
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask_discard(self, title, text)
        self._generation = 0
        self._life = _Lifetime()
        # Deleted without a close: still stop and close the bundle. A partial holds the _Lifetime strongly (a
        # bound method of a plain object does not keep it alive, and the page's cycle may be cleared first).
        self.destroyed.connect(functools.partial(_Lifetime.end, self._life))
        self._closed = False
        self.setStyleSheet(LOCAL_STYLE)

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
        page, self.waiting_title, self.waiting_text, self.waiting_bar = waiting_page()
        return page

    def _build_content(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(16)
        layout.addLayout(self._build_header())
        body = QHBoxLayout()
        body.setSpacing(16)
        left = QVBoxLayout()
        left.setSpacing(16)
        player_card, pl = card()
        self.player = Player()
        self.voice = VoiceControls(self.player)  # the voiceover, in step with the video
        pl.addWidget(self.player)
        left.addWidget(player_card, 1)
        left.addWidget(self._build_timeline_card())
        body.addLayout(left, 1)
        side = QVBoxLayout()
        side.setSpacing(16)
        side.addWidget(self._build_markers_card(), 1)
        self.quality = QualityCard()  # the lab's grade of this recording, and why
        self.quality.setFixedWidth(300)
        side.addWidget(self.quality)
        self.privacy = PrivacyCard(self.player.position)
        self.privacy.setFixedWidth(300)
        self.privacy.redact_requested.connect(self.redact)
        self.privacy.seek_requested.connect(self.player.seek)
        self.privacy.drawing_toggled.connect(self.player.set_drawing)
        self.player.box_drawn.connect(self.privacy.set_box)
        side.addWidget(self.privacy)
        body.addLayout(side)
        layout.addLayout(body, 1)
        layout.addLayout(self._build_actions())
        self._connect()
        return page

    def _build_header(self) -> QHBoxLayout:
        """What this is, and its numbers."""
        head = QHBoxLayout()
        head.setSpacing(24)
        titles = QVBoxLayout()
        titles.setSpacing(4)
        title_row = QHBoxLayout()
        title_row.setSpacing(12)
        title_row.addWidget(label("Review recording", "title"))
        self.status_badge = label("", "badge")
        title_row.addWidget(self.status_badge, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addStretch(1)
        titles.addLayout(title_row)
        self.task_label = ElidedLabel("")  # a task title of any length: elided, whole in its tooltip
        self.task_label.setObjectName("muted")
        titles.addWidget(self.task_label)
        head.addLayout(titles, 1)
        self.stat_labels: dict[str, QLabel] = {}
        for key, caption in (
            ("duration", "Recorded"),
            ("frames", "Frames"),
            ("events", "Input events"),
            ("markers", "Markers"),
        ):
            box, value = stat(caption)
            head.addLayout(box)
            self.stat_labels[key] = value
        return head

    def _build_timeline_card(self) -> QFrame:
        timeline_card, tl = card()
        tl.setSpacing(8)
        trow = QHBoxLayout()
        trow.addWidget(label("Timeline", "subtitle"))
        trow.addStretch(1)
        self.trim_label = label("", "muted")
        trow.addWidget(self.trim_label)
        self.reset_trim_button = QPushButton("Reset trim")
        self.reset_trim_button.setToolTip("Keep the whole recording")
        self.reset_trim_button.clicked.connect(self._reset_trim)
        trow.addWidget(self.reset_trim_button)
        tl.addLayout(trow)
        self.timeline = Timeline()
        tl.addWidget(self.timeline)
        tl.addLayout(timeline_legend())
        return timeline_card

    def _build_markers_card(self) -> QFrame:
        side_card, sl = card()
        side_card.setFixedWidth(300)
        sl.addWidget(label("Markers", "subtitle"))
        hint = label("Click a marker to jump to it. Notes you edit are saved when you submit.", "muted")
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
        return side_card

    def _build_actions(self) -> QHBoxLayout:
        actions = QHBoxLayout()
        actions.setSpacing(10)
        note = label("Nothing leaves this computer until you submit.", "muted")
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
        return actions

    def _connect(self) -> None:
        """Wire the timeline, the player and the marker list to each other; the tab order of the controls."""
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
        complete = data.status == "complete"
        self.status_badge.setText("Complete" if complete else "Recovered: the end may be missing")
        self.status_badge.setStyleSheet(
            "" if complete else f"background: {COLORS['record_soft']}; color: {COLORS['warn']};"
        )
        self.task_label.setText(f"{data.title}  ·  {data.session_id}")
        counts = self.counts()
        self.stat_labels["duration"].setText(duration_text(data.recorded_ns))  # as the recording timer counted
        paused = f"; {duration_text(data.paused_ns)} paused (shaded, not counted)" if data.pauses else ""
        self.stat_labels["duration"].setToolTip(f"Recorded time, as the timer showed it{paused}")
        for key in ("frames", "events", "markers"):
            self.stat_labels[key].setText(f"{counts[key]:,}")
        self.timeline.set_data(
            data.start_ns,
            data.end_ns,
            data.envelope,
            data.click_ticks,
            data.key_ticks,
            data.flags(),
            data.pauses,
            data.privacy,
        )
        self.markers.set_markers(data.flagged(), data.start_ns)
        self.privacy.set_bundle(self.bundle, data.start_ns)
        self.quality.set_bundle(data.path)
        service = None
        if data.video_size is not None and data.frames:
            service = FrameService(data.reader, data.frame_times, data.video_size, data.overlays, self)
            self._life.service = service
        else:  # nothing to decode: the reader is only needed by the loader
            run_task(data.reader.close)
        self.player.set_source(service, data.start_ns, data.end_ns, data.pauses)
        self.voice.set_source(data.path, data.voice)
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
        if self.data is None:
            return {"frames": 0, "events": 0, "markers": 0}
        return self.data.counts()

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
        return "" if self.data is None else self.data.window_at(t_ns)

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
            self.trim_label.setText(self.data.trim_text(start, end))
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

    def redact(self, redactions: list[Redaction]) -> None:
        """Write the bundle with `redactions` applied (off the GUI thread), then show it again."""
        if self.data is None or self.bundle is None:
            return
        bundle = self.bundle
        self._release()
        self._set_waiting("Removing it for good...", "Rewriting the recording without what you removed.", busy=True)
        run_task(lambda: redact_bundle(bundle, redactions), lambda _b: self.load(bundle), self._redact_failed)

    def _redact_failed(self, error: BaseException) -> None:
        if self.bundle is not None:
            self.load(self.bundle)
        self.privacy.status.setText(f"Not applied: {' '.join(str(error).split())[:200]}")

    def discard(self) -> None:
        if self.data is None or self.bundle is None:
            return
        self.player.pause()
        if self.confirm("Discard this recording?", self.data.discard_text()):
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
        elif key == Qt.Key.Key_M and self.voice.mute_button.isEnabled():
            self.voice.mute_button.toggle()
        else:
            super().keyPressEvent(event)

    # --- teardown ---------------------------------------------------------------------------------------
    def _release(self) -> None:
        self.voice.set_source(None, None)
        self.player.shutdown()  # closes the reader in the decode lane
        self.data = None

    def shutdown(self) -> None:
        """Stop playback and rendering and close the bundle (in the worker lane). Safe to call twice."""
        self._closed = True
        self._release()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)


__all__ = ["ReviewPage"]
