"""The app's uploads: the durable queue (uploader.queue) running in the background for as long as the app
runs, its progress turned into Qt signals, and the Uploads panel that shows it.

The store is opened on the GUI thread at start-up (the embedded server is tied to the thread that starts
it), the queue runs on its own thread with `until_idle=False`, and every progress event reaches the panel
through a queued signal. If another process already sends the queue (`trajrec upload` in a shell), the
panel still shows the ledger's states and the app takes over when that process is done."""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recorder.app.theme import COLORS, clock_text
from recorder.units import human_bytes

log = logging.getLogger(__name__)

STATE_WORDS = {
    "queued": "Waiting",
    "uploading": "Uploading",
    "verifying": "Verifying",
    "done": "Uploaded",
    "failed": "Failed",
}


class UploadService(QObject):
    """Owns the ledger, the open store and the queue thread. Signals arrive on the GUI thread."""

    progress = Signal(object)  # uploader.queue.ProgressEvent
    changed = Signal()  # the list of bundles or their states changed
    store_error = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ledger: Any = None
        self.queue: Any = None
        self.handle: Any = None
        self.url = ""
        self._stack = contextlib.ExitStack()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.busy_elsewhere: int | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(1000)
        self._poll.timeout.connect(self._poll_tick)

    def open(self) -> None:
        """Open the ledger and the store (starting the embedded one if that is the store) and start sending."""
        from recorder.dirs import uploader_dirs
        from uploader.config import load_config
        from uploader.ledger import Ledger
        from uploader.queue import UploadQueue
        from uploader.server import open_store

        dirs = uploader_dirs()
        self.ledger = self._stack.enter_context(Ledger(dirs.ledger))
        try:
            config = load_config(path=dirs.settings)
            self.handle = self._stack.enter_context(open_store(config, dirs))
        except Exception as e:
            log.warning("store unavailable: %s", e)
            self.store_error.emit(str(e))
            self._poll.start()
            return
        self.url = self.handle.config.url
        self.queue = UploadQueue(self.ledger, self.handle.client, self.handle.config, translate=self.handle.translate)
        self.queue.subscribers.append(self.progress.emit)  # called on the queue's threads: queued to the GUI
        self._start_thread()
        self._poll.start()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uploads", daemon=True)
        self._thread.start()

    def reopen(self) -> None:
        """Apply changed store settings now (the Settings dialog calls it): the store is opened again, and what
        waits or failed for another store is sent to the new one (its part in flight stops; `close`)."""
        self.close()
        self._stack = contextlib.ExitStack()
        self._stop = threading.Event()
        self._thread = None
        self.queue = self.handle = None
        self.url = ""
        self.busy_elsewhere = None
        self.open()
        self.changed.emit()

    def _retarget(self, row: Any) -> None:
        """Queue `row`'s bundle for this store instead of the one it was queued for (blocking: hashes it)."""
        try:
            self.queue.enqueue(Path(row.path))
        except Exception as e:
            from uploader.ledger import States

            self.ledger.set_state(row.id, States.FAILED, reason=f"could not queue it for {self.url}: {e}")
            return
        self.ledger.remove(row.id)
        log.info("%s: queued for %s instead of %s", row.session_id, self.url, row.dest)

    def _run(self) -> None:
        from uploader.errors import QueueBusy

        for row in self.ledger.bundles():  # queued for a store the settings no longer name
            if row.state != "done" and row.dest != self.queue.dest.url and not self._stop.is_set():
                self._retarget(row)
        while not self._stop.is_set():
            try:
                self.queue.run(until_idle=False, stop=self._stop)
                self.busy_elsewhere = None
            except QueueBusy as e:  # another process sends the queue: watch, and take over when it is done
                self.busy_elsewhere = e.pid
                self._stop.wait(3.0)
            except Exception:
                log.exception("the upload queue stopped; restarting it in 5 s")
                self._stop.wait(5.0)

    def _poll_tick(self) -> None:
        self.changed.emit()  # the ledger may have moved in another process (or states we were not told)

    def check(self) -> str:
        """Preflight: the store answers and accepts us (blocking: run it with run_task)."""
        if self.handle is None:
            raise RuntimeError("no store configured or reachable; see Settings")
        self.handle.check()
        return self.url

    def submit(self, bundle: Path) -> None:
        """Queue a sealed bundle (hashing it: blocking, run it with run_task)."""
        if self.queue is not None:
            self.queue.enqueue(bundle)
        else:
            from recorder.dirs import uploader_dirs
            from uploader.config import load_config
            from uploader.queue import enqueue_bundle

            enqueue_bundle(self.ledger, bundle, load_config(path=uploader_dirs().settings))
        self.changed.emit()

    def rows(self) -> list[Any]:
        return self.ledger.bundles() if self.ledger is not None and not self._stop.is_set() else []

    def retry(self, bundle_id: int) -> None:
        from uploader.ledger import States

        row = self.ledger.bundle(bundle_id)
        if self.queue is not None and row.dest != self.queue.dest.url:
            self._retarget(row)  # failed on a store the settings no longer name: to today's
        else:
            self.ledger.set_state(bundle_id, States.QUEUED, attempts=0)
        self.changed.emit()

    def set_paused(self, paused: bool) -> None:
        self.ledger.set_setting("paused", "1" if paused else "0")
        self.changed.emit()

    @property
    def paused(self) -> bool:
        return self.ledger is not None and not self._stop.is_set() and self.ledger.get_setting("paused", "0") == "1"

    def close(self) -> None:
        self._poll.stop()
        self._stop.set()  # from here on the panel sees no rows: events still in flight change nothing
        if self.queue is not None:
            self.queue.cancel.set()  # the part in flight stops; everything resumes next time
        if self._thread is not None:
            self._thread.join(10)
        self._stack.close()


class UploadsPanel(QWidget):
    """Every queued bundle: state in words, a progress bar, rate and time left, the reason for a failure,
    Retry for failed ones, and Pause/Resume for all."""

    COLUMNS = ("Recording", "State", "Progress", "Speed", "Time left", "Details", "")

    def __init__(self, service: UploadService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._live: dict[int, Any] = {}  # bundle id -> last ProgressEvent
        self._titles: dict[int, str] = {}  # bundle id -> its task title
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 24)
        outer.setSpacing(14)
        head = QHBoxLayout()
        title = QLabel("Uploads")
        title.setObjectName("title")
        head.addWidget(title)
        head.addStretch(1)
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        head.addWidget(self.summary)
        self.pause_button = QPushButton("Pause uploads")
        self.pause_button.clicked.connect(self._toggle_pause)
        head.addWidget(self.pause_button)
        outer.addLayout(head)
        card = QFrame()
        card.setObjectName("card")
        inner = QVBoxLayout(card)
        inner.setContentsMargins(12, 12, 12, 12)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(44)
        self.table.setShowGrid(False)
        self.table.setFrameShape(QFrame.Shape.NoFrame)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMaximumSectionSize(420)  # a long task title is elided, whole in its tooltip
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        inner.addWidget(self.table)
        self.empty = QLabel("Nothing to upload yet. Submitted recordings appear here and upload in the background.")
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner.addWidget(self.empty)
        outer.addWidget(card, 1)
        service.progress.connect(self._on_progress)
        service.changed.connect(self.refresh)
        service.store_error.connect(lambda msg: self.summary.setText(f"Store unavailable: {msg}"))
        self.refresh()

    def _bar(self, i: int, bundle_id: int) -> QProgressBar:
        """The row's progress bar, made once per bundle and kept (a new widget per event would flicker)."""
        holder = self.table.cellWidget(i, 2)
        bar = holder.findChild(QProgressBar) if holder is not None else None
        if bar is not None and holder.property("bundle_id") == bundle_id:
            return bar
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setTextVisible(False)
        bar.setFixedSize(160, 8)
        holder = QWidget()
        holder.setProperty("bundle_id", bundle_id)
        cell = QHBoxLayout(holder)
        cell.setContentsMargins(8, 0, 8, 0)
        cell.addWidget(bar, 0, Qt.AlignmentFlag.AlignVCenter)
        self.table.setCellWidget(i, 2, holder)
        return bar

    def _on_progress(self, event: Any) -> None:
        self._live[event.bundle_id] = event
        self.refresh()

    def _title(self, row: Any) -> str:
        """The recording's task title (read once per bundle from its manifest)."""
        if row.id not in self._titles:
            from recorder.library import title_of

            self._titles[row.id] = title_of(Path(row.path))
        return self._titles[row.id]

    def _toggle_pause(self) -> None:
        self.service.set_paused(not self.service.paused)

    def refresh(self) -> None:
        rows = list(reversed(self.service.rows()))
        self.table.setRowCount(len(rows))
        self.empty.setVisible(not rows)
        self.table.setVisible(bool(rows))
        for i, row in enumerate(rows):
            live = self._live.get(row.id)
            state = live.state if live is not None and row.state not in ("done", "failed") else row.state
            done = live.bytes_done if live is not None and state == "uploading" else row.bytes_done
            if state == "done":
                done = row.bytes_total
            title = self._title(row)
            name = QTableWidgetItem(f"{title}  ·  {row.session_id}" if title else row.session_id)
            name.setToolTip(f"{title}\n{row.session_id}" if title else row.session_id)
            name.setData(Qt.ItemDataRole.UserRole, row.session_id)
            self.table.setItem(i, 0, name)
            word = QTableWidgetItem(STATE_WORDS.get(state, state))
            colour = {"done": COLORS["ok"], "failed": COLORS["record"]}.get(state, COLORS["text"])
            word.setForeground(QColor(colour))
            self.table.setItem(i, 1, word)
            bar = self._bar(i, row.id)
            bar.setValue(int(1000 * done / row.bytes_total) if row.bytes_total else 0)
            rate = live.rate_bps if live is not None and state == "uploading" else 0.0
            eta = live.eta_s if live is not None and state == "uploading" else None
            self.table.setItem(i, 3, QTableWidgetItem(f"{human_bytes(rate)}/s" if rate else ""))
            self.table.setItem(i, 4, QTableWidgetItem(clock_text(eta) if eta is not None else ""))
            size = human_bytes(row.bytes_total)
            detail = {"done": f"{size}, verified on the store"}.get(state, size)
            if state in ("failed", "queued") and row.reason:
                detail = row.reason
            self.table.setItem(i, 5, QTableWidgetItem(detail))
            if row.state == "failed":
                retry = QPushButton("Retry")
                retry.clicked.connect(lambda _=False, bid=row.id: self.service.retry(bid))
                self.table.setCellWidget(i, 6, retry)
            else:
                self.table.removeCellWidget(i, 6)
        paused = self.service.paused
        self.pause_button.setText("Resume uploads" if paused else "Pause uploads")
        waiting = sum(r.state not in ("done", "failed") for r in rows)
        where = f" to {self.service.url}" if self.service.url else ""
        elsewhere = (
            f" (sent by another trajrec, pid {self.service.busy_elsewhere})" if self.service.busy_elsewhere else ""
        )
        failed = sum(r.state == "failed" for r in rows)
        counts = [f"{waiting} waiting"] if waiting else []
        if failed:
            counts.append(f"{failed} failed: see why in its row, then Retry")
        if not rows:
            text = f"Uploads go{where}"
        elif counts:
            text = f"{', '.join(counts)}{where if waiting else ''}{elsewhere}"
        else:
            text = f"Everything is uploaded{where}"
        self.summary.setText(("Paused. " if paused else "") + text)
