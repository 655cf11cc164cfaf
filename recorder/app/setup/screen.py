"""Session setup: the task (typed or loaded from a lab's task file), the expert's pseudonym and consent, the
screen (live thumbnails), the microphone (live level meter and a "say something" check), and the
preflight checks. Record is enabled only when everything required is there."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from recorder.app.palette import COLORS
from recorder.app.setup.devices import SIGNAL_DBFS, THUMB_SIZE, LevelMeter, grab_thumbnails, microphone_choices
from recorder.app.setup.preflight import Check, still_needed
from recorder.app.setup.taskfile import Task, load_task
from recorder.app.threads import run_task
from recorder.errors import TaskFileError

log = logging.getLogger(__name__)

THUMB = QSize(*THUMB_SIZE)


def card(title: str, subtitle: str = "") -> tuple[QFrame, QVBoxLayout]:
    """A white rounded panel with a title (and a muted subtitle), and its layout."""
    frame = QFrame()
    frame.setObjectName("card")
    box = QVBoxLayout(frame)
    box.setContentsMargins(20, 16, 20, 18)
    box.setSpacing(10)
    head = QLabel(title)
    head.setObjectName("subtitle")
    box.addWidget(head)
    if subtitle:
        sub = QLabel(subtitle)
        sub.setObjectName("muted")
        sub.setWordWrap(True)
        box.addWidget(sub)
    return frame, box


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """An RGB array as a pixmap (GUI thread only)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class SetupPage(QWidget):
    """Emits `record_requested()` when the expert presses Record with everything in place."""

    record_requested = Signal()

    def __init__(self, settings: Any, store_probe: Callable[[], str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.store_probe = store_probe
        self.task: Task | None = None
        self.checks: dict[str, Check] = {}
        self.meter = LevelMeter()
        self.heard = False

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        page = QVBoxLayout(body)
        page.setContentsMargins(28, 24, 28, 24)
        page.setSpacing(16)
        title = QLabel("New recording")
        title.setObjectName("title")
        page.addWidget(title)
        intro = QLabel("Set up the task, choose what to record, and check that everything works before you start.")
        intro.setObjectName("muted")
        page.addWidget(intro)

        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(16)
        page.addLayout(grid)
        grid.addWidget(self._build_task_card(), 0, 0)
        grid.addWidget(self._build_expert_card(), 0, 1)
        grid.addWidget(self._build_screen_card(), 1, 0)
        grid.addWidget(self._build_mic_card(), 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        page.addWidget(self._build_checks_card())
        page.addLayout(self._build_record_row())
        page.addStretch(1)
        self._connect()
        self.update_ready()

    # --- layout -----------------------------------------------------------------------------------
    def _build_task_card(self) -> QFrame:
        task_card, box = card("Task", "Type it, or load the task file your lab sent you (JSON or YAML).")
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.task_id = QLineEdit()
        self.task_id.setPlaceholderText("e.g. stats-017")
        self.task_title = QLineEdit()
        self.task_title.setPlaceholderText("What the task is called")
        self.instruction = QPlainTextEdit()
        self.instruction.setTabChangesFocus(True)  # Tab moves on, as in every other field
        self.instruction.setPlaceholderText("What you are asked to do")
        self.instruction.setFixedHeight(90)
        form.addRow("Task ID", self.task_id)
        form.addRow("Title", self.task_title)
        form.addRow("Instructions", self.instruction)
        box.addLayout(form)
        row = QHBoxLayout()
        load = QPushButton("Load task file…")
        load.clicked.connect(self._choose_task_file)
        row.addWidget(load)
        self.task_error = QLabel("")
        self.task_error.setWordWrap(True)
        self.task_error.setStyleSheet(f"color: {COLORS['record']};")
        row.addWidget(self.task_error, 1)
        box.addLayout(row)
        return task_card

    def _build_expert_card(self) -> QFrame:
        expert_card, box = card("You", "Use your pseudonym, never your real name.")
        self.expert = QLineEdit(self.settings.expert)
        self.expert.setPlaceholderText("Pseudonym, e.g. expert-042")
        box.addWidget(self.expert)
        self.consent = QCheckBox("I consent to this recording")
        self.consent.setStyleSheet("QCheckBox { spacing: 10px; font-weight: 600; }")
        box.addWidget(self.consent)
        consent_note = QLabel(
            "Your screen, your keyboard and mouse input and your voice are recorded for this task and shared "
            "with the lab. Pause stops all capture at any moment: nothing is recorded while paused."
        )
        consent_note.setObjectName("muted")
        consent_note.setWordWrap(True)
        box.addWidget(consent_note)
        box.addStretch(1)
        return expert_card

    def _build_screen_card(self) -> QFrame:
        screen_card, box = card("Screen", "Choose the monitor to record.")
        self.screens = QHBoxLayout()
        self.screen_group = QButtonGroup(self)
        self.screen_group.setExclusive(True)
        box.addLayout(self.screens)
        return screen_card

    def _build_mic_card(self) -> QFrame:
        mic_card, box = card("Microphone", "Narrate as you work. Say something to check the level.")
        self.mic = QComboBox()
        box.addWidget(self.mic)
        self.level = QProgressBar()
        self.level.setRange(0, 60)
        self.level.setTextVisible(False)
        box.addWidget(self.level)
        self.heard_label = QLabel("Waiting for your voice…")
        self.heard_label.setObjectName("muted")
        box.addWidget(self.heard_label)
        box.addStretch(1)
        return mic_card

    def _build_checks_card(self) -> QFrame:
        pre_card, box = card("Ready to record?")
        self.check_rows: dict[str, QLabel] = {}
        for name in ("display", "input", "microphone", "privacy", "disk", "store"):
            label = QLabel("…")
            label.setWordWrap(True)
            self.check_rows[name] = label
            box.addWidget(label)
        again = QHBoxLayout()
        self.recheck = QPushButton("Check again")
        self.recheck.clicked.connect(self.run_checks)
        again.addWidget(self.recheck)
        again.addStretch(1)
        box.addLayout(again)
        return pre_card

    def _build_record_row(self) -> QHBoxLayout:
        bottom = QHBoxLayout()
        self.missing = QLabel("")
        self.missing.setObjectName("muted")
        bottom.addWidget(self.missing, 1)
        self.record_button = QPushButton("●  Start recording")
        self.record_button.setObjectName("recordButton")
        self.record_button.setMinimumHeight(56)
        self.record_button.clicked.connect(self.record_requested.emit)
        bottom.addWidget(self.record_button)
        return bottom

    def _connect(self) -> None:
        """Fields re-check readiness as they change; the level meter and the thumbnails run on timers."""
        for w in (self.task_id, self.task_title, self.expert):
            w.textChanged.connect(self.update_ready)
        self.consent.toggled.connect(self.update_ready)
        self.mic.currentIndexChanged.connect(self._mic_changed)
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(50)
        self._meter_timer.timeout.connect(self._show_level)
        self._thumb_timer = QTimer(self)  # the thumbnails stay live while the page is shown
        self._thumb_timer.setInterval(3000)
        self._thumb_timer.timeout.connect(self.refresh_thumbnails)

    # --- lifecycle --------------------------------------------------------------------------------
    def activate(self) -> None:
        """The page is shown: list devices, grab thumbnails, run the checks, listen to the microphone."""
        self._fill_microphones()
        self.refresh_thumbnails()
        self.run_checks()
        self._meter_timer.start()
        self._thumb_timer.start()

    def deactivate(self) -> None:
        """Recording starts (or the app closes): let go of the microphone."""
        self._meter_timer.stop()
        self._thumb_timer.stop()
        self.meter.close()

    # --- task -------------------------------------------------------------------------------------
    def _choose_task_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load task file", str(Path.home()), "Task files (*.json *.yaml *.yml)"
        )
        if path:
            self.load_task_file(Path(path))

    def load_task_file(self, path: Path) -> bool:
        try:
            task = load_task(path)
        except TaskFileError as e:
            self.task_error.setText(str(e))
            return False
        self.task = task
        self.task_error.setText("")
        self.task_id.setText(task.id)
        self.task_title.setText(task.title)
        self.instruction.setPlainText(task.instruction)
        self.run_checks()
        return True

    def task_fields(self) -> dict[str, Any]:
        return {
            "id": self.task_id.text().strip(),
            "title": self.task_title.text().strip(),
            "instruction": self.instruction.toPlainText().strip(),
            "expert": self.expert.text().strip(),
            "consent": self.consent.isChecked(),
            **({"secret_patterns": list(self.task.secret_patterns)} if self.task and self.task.secret_patterns else {}),
        }

    # --- screen -----------------------------------------------------------------------------------
    def refresh_thumbnails(self) -> None:
        run_task(grab_thumbnails, self._show_thumbnails, lambda e: log.warning("no thumbnails: %s", e), owner=self)

    def _show_thumbnails(self, thumbs: list[tuple[int, str, np.ndarray]]) -> None:
        buttons = {self.screen_group.id(b): b for b in self.screen_group.buttons()}
        if sorted(buttons) == [n for n, _, _ in thumbs]:  # same monitors: refresh the pictures only
            for number, _size, image in thumbs:
                buttons[number].setIcon(to_pixmap(image))
            return
        for b in self.screen_group.buttons():
            self.screen_group.removeButton(b)
            b.deleteLater()
        for number, size, image in thumbs:
            b = QToolButton()
            b.setCheckable(True)
            b.setIcon(to_pixmap(image))
            b.setIconSize(THUMB)
            b.setText(f"Monitor {number}  ·  {size}")
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setStyleSheet(
                f"QToolButton {{ border: 2px solid {COLORS['border']}; border-radius: 8px; padding: 6px; "
                f"background: white; }} QToolButton:checked {{ border-color: {COLORS['accent']}; "
                f"background: {COLORS['accent_soft']}; }}"
            )
            self.screen_group.addButton(b, number)
            self.screens.addWidget(b)
        self.screens.addStretch(1)
        wanted = self.screen_group.button(self.settings.monitor) or self.screen_group.button(1)
        if wanted is not None:
            wanted.setChecked(True)

    def monitor(self) -> int:
        return max(1, self.screen_group.checkedId())

    # --- microphone -------------------------------------------------------------------------------
    def _fill_microphones(self) -> None:
        self.mic.blockSignals(True)
        self.mic.clear()
        for text, device in microphone_choices():
            self.mic.addItem(text, device)
        index = self.mic.findData(self.settings.audio_device) if self.settings.audio_device else 0
        self.mic.setCurrentIndex(max(0, index))
        self.mic.blockSignals(False)
        self._mic_changed()

    def audio_device(self) -> str | None:
        """None: record without a microphone; "": the default one; else a PortAudio index."""
        data = self.mic.currentData()
        return None if data is None else str(data)

    def _mic_changed(self) -> None:
        self.heard = False
        self.meter.peak_db = -120.0
        device = self.audio_device()
        self.meter.close()
        if device is None:
            self.heard_label.setText("Recording without narration")
            self.level.setValue(0)
        else:
            try:
                self.meter.open(device)
                self.heard_label.setText("Waiting for your voice…")
            except Exception as e:
                self.heard_label.setText(f"Cannot open this microphone: {e}")
        self.run_checks()

    def _show_level(self) -> None:
        if self.audio_device() is None:
            return
        level, peak = self.meter.read()
        self.level.setValue(int(max(0.0, min(60.0, level + 60.0))))
        if not self.heard and peak > SIGNAL_DBFS:
            self.heard = True
            self.heard_label.setText("✓  We hear you")
            self.heard_label.setStyleSheet(f"color: {COLORS['ok']}; font-weight: 600;")

    # --- preflight --------------------------------------------------------------------------------
    def run_checks(self) -> None:
        from recorder.app.setup import preflight

        device = self.audio_device()
        out = self.settings.out_dir
        minutes = self.task.expected_minutes if self.task else None
        hide_hotkey = self.settings.hotkeys.get("hide_keys", "the hide-keys hotkey")
        jobs: list[tuple[str, Callable[[], Check]]] = [
            ("display", preflight.check_display),
            ("input", preflight.check_input),
            ("privacy", lambda: preflight.check_privacy(hide_hotkey)),
            ("disk", lambda: preflight.check_disk(out, minutes)),
        ]
        if device is None:
            self._show_check(Check("microphone", None, "No microphone: the recording will have no narration"))
        else:
            jobs.append(("microphone", lambda: preflight.check_microphone(device)))
        if self.store_probe is not None:
            probe = self.store_probe
            jobs.append(("store", lambda: preflight.check_store(probe)))
        else:
            self._show_check(Check("store", None, "Uploads are not set up; recordings wait in the upload queue"))
        for name, job in jobs:
            self.check_rows[name].setText(f"…  {name.capitalize()}: checking")
            run_task(job, self._show_check, self._check_failed(name), owner=self)

    def _check_failed(self, name: str) -> Callable[[BaseException], None]:
        def show(error: BaseException) -> None:
            self._show_check(Check(name, False, f"{name}: {error}"))

        return show

    def _show_check(self, check: Check) -> None:
        self.checks[check.name] = check
        mark, colour = {True: ("✓", COLORS["ok"]), False: ("✗", COLORS["record"]), None: ("!", COLORS["warn"])}[
            check.ok
        ]
        label = self.check_rows[check.name]
        message = html.escape(check.message)  # device names and store errors come from outside
        label.setText(f"<span style='color:{colour}; font-weight:700'>{mark}</span>&nbsp;&nbsp;{message}")
        self.update_ready()

    def problems(self) -> list[str]:
        """What still stands between the expert and Record, in words."""
        return still_needed(self.task_fields(), self.checks.values())

    def update_ready(self) -> None:
        problems = self.problems()
        self.record_button.setEnabled(not problems)
        self.missing.setText("Still needed: " + "; ".join(problems) if problems else "Everything is ready.")
