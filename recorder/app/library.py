"""The Recordings screen: every recording on this machine (recorder.library) with its task title, date, length
and state, and what can be done with it: review (then submit), retry a failed upload, recover an interrupted
one, discard. Nothing is ever orphaned: a recording stopped by quitting, left on the review screen or recovered
after a crash is listed here until it is uploaded or discarded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recorder.app.elided import ElidedLabel
from recorder.app.theme import COLORS, clock_text
from recorder.app.threads import run_task
from recorder.library import Recording, recordings

STATE_COLOURS = {"done": "ok", "failed": "record", "interrupted": "warn", "unreadable": "record", "review": "accent"}


class LibraryPage(QWidget):
    review_requested = Signal(object)  # Path of a sealed bundle
    recover_requested = Signal(object)  # Path of an interrupted session's live directory
    discard_requested = Signal(object)  # Path
    retry_requested = Signal(int)  # upload ledger row id

    COLUMNS = ("Recording", "Date", "Length", "State", "")

    def __init__(
        self, folder: Callable[[], Path], rows: Callable[[], list[Any]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.folder = folder  # the recordings folder (from the settings: it may change)
        self.rows = rows  # the upload ledger's rows
        self.entries: list[Recording] = []
        self._generation = 0
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 24)
        outer.setSpacing(12)
        head = QHBoxLayout()
        title = QLabel("Recordings")
        title.setObjectName("title")
        head.addWidget(title)
        head.addStretch(1)
        self.summary = ElidedLabel("")
        self.summary.setObjectName("muted")
        head.addWidget(self.summary, 1)
        outer.addLayout(head)
        self.empty = QLabel("No recordings yet: they appear here as soon as one is stopped.")
        self.empty.setObjectName("muted")
        outer.addWidget(self.empty)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(40)  # room for the action buttons
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Fixed)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._open(row))
        outer.addWidget(self.table, 1)

    def refresh(self) -> None:
        """Read the folder and the ledger off the GUI thread, then show them."""
        self._generation += 1
        gen, folder, rows = self._generation, self.folder(), self.rows()

        def shown(found: list[Recording]) -> None:
            if gen == self._generation:
                self.show_entries(found)

        run_task(
            lambda: recordings(folder, rows), shown, lambda e: self.summary.setText(f"Cannot list: {e}"), owner=self
        )

    def show_entries(self, entries: list[Recording]) -> None:
        self.entries = entries
        self.empty.setVisible(not entries)
        self.table.setVisible(bool(entries))
        self.table.setRowCount(len(entries))
        widest = 0
        for i, r in enumerate(entries):
            name = QTableWidgetItem(r.title or r.session_id)
            name.setToolTip(f"{r.title}\n{r.session_id}\n{r.path}" if r.title else f"{r.session_id}\n{r.path}")
            self.table.setItem(i, 0, name)
            when = r.when
            self.table.setItem(i, 1, QTableWidgetItem(when.astimezone().strftime("%Y-%m-%d %H:%M") if when else ""))
            self.table.setItem(i, 2, QTableWidgetItem(clock_text(r.recorded_s) if r.recorded_s is not None else ""))
            state = QTableWidgetItem(r.state_words)
            state.setForeground(QColor(COLORS[STATE_COLOURS.get(r.state, "text")]))
            if r.reason:
                state.setToolTip(r.reason)
            self.table.setItem(i, 3, state)
            actions = self._actions(r)
            self.table.setCellWidget(i, 4, actions)
            widest = max(widest, actions.sizeHint().width())
        self.table.setColumnWidth(4, widest + 8)
        waiting = sum(r.state == "review" for r in entries)
        self.summary.setText(f"{len(entries)} recording(s), {waiting} not yet submitted" if entries else "")

    def _actions(self, r: Recording) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(6)

        def button(text: str, slot: Callable[[], None], tip: str) -> None:
            b = QPushButton(text)
            b.setStyleSheet("padding: 3px 10px;")
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False: slot())
            row.addWidget(b)

        if r.state == "interrupted":
            button("Recover", lambda: self.recover_requested.emit(r.path), "Seal what was recorded before it stopped")
        elif r.state != "unreadable":
            verb = "Review" if r.state == "review" else "Open"
            button(verb, lambda: self.review_requested.emit(r.path), "Watch it, trim it, add notes, submit it")
        if r.state == "failed" and r.upload_id is not None:
            uid = r.upload_id
            button("Retry", lambda: self.retry_requested.emit(uid), r.reason or "Upload it again")
        if r.state in ("review", "interrupted", "unreadable", "failed", "done"):
            button("Discard", lambda: self.discard_requested.emit(r.path), "Delete it from this computer")
        return box

    def _open(self, index: int) -> None:
        if 0 <= index < len(self.entries) and self.entries[index].state not in ("interrupted", "unreadable"):
            self.review_requested.emit(self.entries[index].path)
