"""The Review screen's marker list: the step and note markers, each with its time (click to jump) and its note.

The notes are edited in place; `MarkerList.notes()` gives only the ones the expert changed, by marker index in
BundleReader.markers() order, for Submit to write into the new bundle.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from recorder.app.review.data import format_time
from recorder.app.review.parts import label
from trajrec import format as fmt


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
        num = label(str(number), "flagNumber")
        num.setAlignment(Qt.AlignmentFlag.AlignCenter)
        num.setFixedSize(20, 20)
        head.addWidget(num)
        head.addWidget(label(marker.kind.value.capitalize()))
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
        self.empty = label(
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


__all__ = ["MarkerList"]
