"""The small recording control: an always-on-top window with the timer, the state, pause/resume, a step marker
and stop, shown while a recording runs (the main window may minimise itself meanwhile). The expert moves it
where it hides nothing; like every window of the app it is filled in the video and its input is not recorded."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from recorder.app.controller import Phase, RecordingController
from recorder.app.theme import COLORS, clock_text


class RecordingControl(QWidget):
    def __init__(self, controller: RecordingController, parent: QWidget | None = None) -> None:
        flags = Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.WindowDoesNotAcceptFocus
        super().__init__(parent, flags)
        self.setWindowTitle("Recording")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)  # the expert's window keeps the focus
        self.controller = controller
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.setSpacing(8)
        self.state = QLabel("●")
        self.clock = QLabel("00:00")
        self.clock.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.pause_button = QPushButton("Pause")
        self.marker_button = QPushButton("Marker")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("danger")
        for w in (self.state, self.clock, self.pause_button, self.marker_button, self.stop_button):
            row.addWidget(w)
        for b in (self.pause_button, self.marker_button, self.stop_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pause_button.clicked.connect(controller.toggle_pause)
        self.marker_button.clicked.connect(lambda: controller.marker())
        self.stop_button.clicked.connect(controller.stop)
        controller.elapsed.connect(lambda s: self.clock.setText(clock_text(s)))
        controller.phase_changed.connect(self._phase)

    def _phase(self, phase: str) -> None:
        p = Phase(phase)
        paused = p == Phase.PAUSED
        self.pause_button.setText("Resume" if paused else "Pause")
        self.marker_button.setEnabled(p == Phase.RECORDING)
        colour = COLORS["warn"] if paused else COLORS["record"]
        self.state.setStyleSheet(f"color: {colour}; font-size: 14pt;")
        self.state.setToolTip("Paused" if paused else "Recording")
        if p in (Phase.RECORDING, Phase.PAUSED):
            if not self.isVisible():
                self.show()
        else:
            self.hide()
