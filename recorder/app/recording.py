"""The recording screen: a clear indicator, elapsed time, big Pause/Resume and Stop, a step marker with an
optional one-line note, and the hotkeys that do the same from any window."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from recorder.app.controller import Phase, RecordingController
from recorder.app.elided import ElidedLabel
from recorder.app.theme import COLORS, clock_text


class RecordingPage(QWidget):
    def __init__(self, controller: RecordingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.hotkeys: dict[str, str] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 24)
        outer.setSpacing(18)
        outer.addStretch(1)

        panel = QFrame()
        panel.setObjectName("card")
        panel.setMaximumWidth(720)
        box = QVBoxLayout(panel)
        box.setContentsMargins(36, 30, 36, 30)
        box.setSpacing(16)
        self.indicator = QLabel("●  Recording")
        self.indicator.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box.addWidget(self.indicator)
        self.clock = QLabel("00:00")
        self.clock.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.clock.setStyleSheet("font-size: 44pt; font-weight: 300; letter-spacing: 2px;")
        box.addWidget(self.clock)
        self.task_label = ElidedLabel("")  # a task title of any length: elided, whole in its tooltip
        self.task_label.setObjectName("muted")
        self.task_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box.addWidget(self.task_label)

        buttons = QHBoxLayout()
        buttons.setSpacing(12)
        self.pause_button = QPushButton("❚❚  Pause")
        self.pause_button.setMinimumHeight(52)
        self.pause_button.clicked.connect(controller.toggle_pause)
        self.stop_button = QPushButton("■  Stop and review")
        self.stop_button.setObjectName("recordButton")
        self.stop_button.setMinimumHeight(52)
        self.stop_button.clicked.connect(controller.stop)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        box.addLayout(buttons)

        privacy = QHBoxLayout()
        self.guard_label = QLabel("")
        self.guard_label.setObjectName("muted")
        self.guard_label.setWordWrap(True)
        self.hide_button = QPushButton("Hide typed keys")
        self.hide_button.setCheckable(True)
        self.hide_button.setToolTip("While on, keys are recorded without what they type (for secrets)")
        self.hide_button.clicked.connect(controller.toggle_hide_keys)
        privacy.addWidget(self.guard_label, 1)
        privacy.addWidget(self.hide_button)
        box.addLayout(privacy)
        self.private_label = QLabel("")
        self.private_label.setStyleSheet(f"color: {COLORS['warn']}; font-weight: 600;")
        self.private_label.setVisible(False)
        box.addWidget(self.private_label)

        mark = QHBoxLayout()
        self.note = QLineEdit()
        self.note.setPlaceholderText("Optional note for a step marker, e.g. “data loaded”")
        self.note.returnPressed.connect(self.add_marker)
        self.mark_button = QPushButton("⚑  Mark step")
        self.mark_button.clicked.connect(self.add_marker)
        mark.addWidget(self.note, 1)
        mark.addWidget(self.mark_button)
        box.addLayout(mark)
        self.markers_label = QLabel("No step markers yet")
        self.markers_label.setObjectName("muted")
        box.addWidget(self.markers_label)
        self.hint = QLabel("")
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)  # hotkey names and problems come from settings
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box.addWidget(self.hint)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(panel, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        controller.elapsed.connect(lambda s: self.clock.setText(clock_text(s)))
        controller.phase_changed.connect(self._phase)
        controller.markers_changed.connect(self._markers)
        controller.keys_hidden_changed.connect(self._keys_hidden)
        controller.guard_status.connect(self._guard)
        controller.private_now.connect(self._private)
        controller.hotkey_problems.connect(self._hotkey_problems)
        controller.notice.connect(self._notice)
        self._blink = QTimer(self)
        self._blink.setInterval(700)
        self._blink.timeout.connect(self._toggle_dot)
        self._dot = True

    def show_task(self, task: dict[str, Any], hotkeys: dict[str, str]) -> None:
        self.task_label.setText(f"{task.get('id', '')}  ·  {task.get('title', '')}")
        self.hotkeys = hotkeys
        self.hint.setText(
            f"Hotkeys from any window: {hotkeys.get('pause', '')} pause/resume, {hotkeys.get('marker', '')} step "
            f"marker, {hotkeys.get('hide_keys', '')} hide typed keys, {hotkeys.get('stop', '')} stop. "
            "They are never recorded."
        )

    def _notice(self, text: str) -> None:
        """Shown in place of the marker count for a few seconds."""
        self.markers_label.setText(text)
        QTimer.singleShot(4000, self, lambda: self._markers(self.controller.markers))

    def _hotkey_problems(self, problems: object) -> None:
        if isinstance(problems, list) and problems:
            self.hint.setText(f"{self.hint.text()}\n⚠  {'; '.join(map(str, problems))}.")

    def _guard(self, reason: object) -> None:
        hide = self.hotkeys.get("hide_keys", "")
        if reason is None:
            self.guard_label.setText("🔒  Password fields are recognised: what you type into them is never recorded.")
        else:
            self.guard_label.setText(f"⚠  Password fields are not recognised here: press {hide} before a secret.")
        self.guard_label.setToolTip("" if reason is None else str(reason))

    def _private(self, state: str) -> None:
        text = {
            "focused": "🔒  A private window has the focus: nothing is being recorded",
            "masked": "🔒  A private window is on screen: it is blanked out in the video",
        }.get(state, "")
        self.private_label.setText(text)
        self.private_label.setVisible(bool(text))

    def _keys_hidden(self, hidden: bool) -> None:
        self.hide_button.setChecked(hidden)
        self.hide_button.setText("Typed keys hidden: show again" if hidden else "Hide typed keys")
        self.hide_button.setStyleSheet(
            f"color: {COLORS['warn']}; border: 1px solid {COLORS['warn']}; font-weight: 600;" if hidden else ""
        )
        self._style_indicator()

    def add_marker(self) -> None:
        self.controller.marker(self.note.text().strip() or None)
        self.note.clear()

    def _markers(self, count: int) -> None:
        self.markers_label.setText(
            f"{count} step marker{'s' if count != 1 else ''}" if count else "No step markers yet"
        )

    def _toggle_dot(self) -> None:
        self._dot = not self._dot
        self._style_indicator()

    def _style_indicator(self) -> None:
        paused = self.controller.phase == Phase.PAUSED
        colour = COLORS["warn"] if paused else COLORS["record"]
        bg = "#fef0c7" if paused else COLORS["record_soft"]
        dot = "❚❚" if paused else ("●" if self._dot else "○")
        hidden = self.hide_button.isChecked()
        state = "Recording" + (" · typed keys hidden" if hidden else "")
        if paused:
            state = "Paused: nothing is being recorded"
        self.indicator.setText(f"{dot}  {state}")
        self.indicator.setStyleSheet(
            f"color: {colour}; background: {bg}; border-radius: 14px; padding: 6px 16px; font-weight: 600;"
        )

    def _phase(self, phase: str) -> None:
        p = Phase(phase)
        self.pause_button.setText("▶  Resume" if p == Phase.PAUSED else "❚❚  Pause")
        busy = p == Phase.SEALING
        for b in (self.pause_button, self.stop_button, self.mark_button):
            b.setEnabled(not busy)
        if busy:
            self.indicator.setText("Saving the recording…")
            self.indicator.setStyleSheet(f"color: {COLORS['accent']}; font-weight: 600;")
        if p in (Phase.RECORDING, Phase.PAUSED):
            self._blink.start()
            self._style_indicator()
        else:
            self._blink.stop()
