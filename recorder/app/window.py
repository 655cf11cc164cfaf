"""The main window: a sidebar (New recording, Uploads, Settings, Logs) and the screens of a session
(setup -> recording -> review). It wires the controller, the upload service and the pages together."""

from __future__ import annotations

import importlib
import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QAction, QCloseEvent, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from recorder.app.control import RecordingControl
from recorder.app.controller import Phase, RecordingController
from recorder.app.dialogs import LogDialog, SettingsDialog, warn
from recorder.app.library import LibraryPage
from recorder.app.recording import RecordingPage
from recorder.app.settings import AppSettings
from recorder.app.setup.screen import SetupPage
from recorder.app.theme import COLORS
from recorder.app.threads import run_task, wait_idle
from recorder.app.uploads import UploadService, UploadsPanel
from recorder.capture.exclusion import OwnWindows, Rect
from recorder.plan import Plan

log = logging.getLogger(__name__)


def app_icon(colour: str = COLORS["accent"]) -> QIcon:
    pix = QPixmap(64, 64)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(colour))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(4, 4, 56, 56, 14, 14)
    p.setBrush(QColor("white"))
    p.drawEllipse(20, 20, 24, 24)
    p.end()
    return QIcon(pix)


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, *, start_uploads: bool = True) -> None:
        super().__init__()
        self.settings = settings or AppSettings.load()
        self.setWindowTitle("Trajectory Recorder")
        self.setWindowIcon(app_icon())
        self.resize(1180, 820)
        self.own_windows = OwnWindows()
        self.controller = RecordingController(self.own_windows, self)
        self.uploads = UploadService(self)
        if start_uploads:
            self.uploads.open()

        root = QWidget()
        layout = QHBoxLayout(root)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.setCentralWidget(root)
        layout.addWidget(self._sidebar())
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)

        self.setup = SetupPage(self.settings, self.uploads.check if start_uploads else None)
        self.recording = RecordingPage(self.controller)
        self.review: Any = self._make_review()
        self.uploads_panel = UploadsPanel(self.uploads)
        self.library = LibraryPage(lambda: self.settings.out_dir, self.uploads.rows)
        for page in (self.setup, self.recording, self.review, self.uploads_panel, self.library):
            self.stack.addWidget(page)
        self.library.review_requested.connect(self.open_recording)
        self.library.recover_requested.connect(self.recover)
        self.library.discard_requested.connect(self.discard_from_library)
        self.library.retry_requested.connect(self.retry_upload)

        self.setup.record_requested.connect(self.start_recording)
        self.controller.phase_changed.connect(self._phase)
        self.controller.sealed.connect(self._sealed)
        self.controller.failed.connect(self._failed)
        self.tray = self._tray()
        self.control = RecordingControl(self.controller)  # top level: shown while recording
        self.control.installEventFilter(self)  # its moves are published like the main window's
        self._last_phase = Phase.IDLE
        self.show_page("record")

    # --- layout -----------------------------------------------------------------------------------
    def _sidebar(self) -> QFrame:
        bar = QFrame()
        bar.setObjectName("sidebar")
        bar.setFixedWidth(210)
        box = QVBoxLayout(bar)
        box.setContentsMargins(14, 20, 14, 16)
        box.setSpacing(4)
        name = QLabel("Trajectory\nRecorder")
        name.setStyleSheet("font-size: 14pt; font-weight: 700; color: white; padding: 4px 8px 18px 8px;")
        box.addWidget(name)
        self.nav: dict[str, QPushButton] = {}
        for key, text in (("record", "●  Record"), ("library", "▤  Recordings"), ("uploads", "⇪  Uploads")):
            b = QPushButton(text)
            b.setObjectName("navButton")
            b.setCheckable(True)
            b.clicked.connect(lambda _=False, k=key: self.show_page(k))
            box.addWidget(b)
            self.nav[key] = b
        box.addStretch(1)
        for text, slot in (("⚙  Settings", self.open_settings), ("☰  Logs", self.open_logs)):
            b = QPushButton(text)
            b.setObjectName("navButton")
            b.clicked.connect(slot)
            box.addWidget(b)
        return bar

    def _make_review(self) -> QWidget:
        try:
            review: Any = importlib.import_module("recorder.app.review.screen")
        except ImportError:  # the review screen is being built
            return QLabel("Review is not available in this build.")
        page: QWidget = review.ReviewPage()
        page.submit_requested.connect(self.submit)  # type: ignore[attr-defined]
        page.discard_requested.connect(self.discard)  # type: ignore[attr-defined]
        return page

    def _tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(app_icon(), self)
        menu = QMenu()
        for text, slot in (
            ("Show", self.showNormal),
            ("Pause / resume", self.controller.toggle_pause),
            ("Step marker", self.controller.marker),
            ("Stop", self.controller.stop),
        ):
            action = QAction(text, menu)
            action.triggered.connect(lambda _=False, s=slot: s())
            menu.addAction(action)
        tray.setContextMenu(menu)
        tray.setToolTip("Trajectory Recorder")
        tray.show()
        return tray

    def show_page(self, key: str) -> None:
        phase = self.controller.phase
        if key == "record":
            page: QWidget = {Phase.IDLE: self.setup, Phase.STARTING: self.setup, Phase.REVIEW: self.review}.get(
                phase, self.recording
            )
        else:
            page = self.library if key == "library" else self.uploads_panel
        self.stack.setCurrentWidget(page)
        for k, b in self.nav.items():
            b.setChecked(k == key)
        if page is self.setup:
            self.setup.activate()
        else:
            self.setup.deactivate()
        if page is self.uploads_panel:
            self.uploads_panel.refresh()
        if page is self.library:
            self.library.refresh()

    # --- the session ------------------------------------------------------------------------------
    def start_recording(self) -> None:
        task = self.setup.task_fields()
        device = self.setup.audio_device()
        s = self.settings
        s.expert, s.monitor = task["expert"], self.setup.monitor()
        s.audio_device = device or ""
        s.save()
        self.setup.deactivate()  # the level meter lets go of the microphone
        plan = Plan(
            out=s.out_dir,
            task=task,
            monitor=self.setup.monitor(),
            fps=s.fps,
            crf=s.crf,
            draw_cursor=s.draw_cursor,
            audio=device is not None,
            audio_device=device or None,
            deny=s.deny_list({"deny_list": self.setup.task.deny_list} if self.setup.task else None),
        )
        self.recording.show_task(task, s.hotkeys)
        self.controller.start(plan, s.hotkeys)

    def _phase(self, phase: str) -> None:
        p = Phase(phase)
        previous, self._last_phase = self._last_phase, p
        if p == Phase.RECORDING and previous == Phase.STARTING:
            self._place_control()
            if self.settings.minimize_on_record:
                self.showMinimized()
        elif p == Phase.REVIEW and previous == Phase.SEALING and self.isMinimized():
            self.showNormal()  # the recording is stopped: review it here
            self.raise_()
        if p in (Phase.RECORDING, Phase.PAUSED, Phase.SEALING):
            self.stack.setCurrentWidget(self.recording)
        elif p == Phase.IDLE:
            self.show_page("record")
        if self.tray is not None:
            self.tray.setIcon(app_icon(COLORS["record"] if p == Phase.RECORDING else COLORS["accent"]))
        self.setWindowTitle(
            {Phase.RECORDING: "● Recording · Trajectory Recorder", Phase.PAUSED: "Paused · Trajectory Recorder"}.get(
                p, "Trajectory Recorder"
            )
        )

    def _sealed(self, bundle: Path) -> None:
        if hasattr(self.review, "load"):
            self.review.load(bundle)
        self.stack.setCurrentWidget(self.review)
        for k, b in self.nav.items():
            b.setChecked(k == "record")
        self.library.refresh()

    # --- the library ------------------------------------------------------------------------------
    def open_recording(self, bundle: Path) -> None:
        """Review a recording from the library (not while a session runs)."""
        if self.controller.busy:
            warn(self, "Recordings", "Stop the recording first: one recording at a time.")
            return
        self.controller.review(bundle)

    def retry_upload(self, upload_id: int) -> None:
        self.uploads.retry(upload_id)
        self.library.refresh()

    def recover(self, live: Path) -> None:
        from recorder.app.recovery import recover

        def failed(error: BaseException) -> None:
            warn(self, "Recovery", f"Could not recover the recording: {error}. Its files are kept.")

        run_task(partial(recover, live, self.settings.out_dir), lambda _b: self.library.refresh(), failed)

    def discard_from_library(self, path: Path) -> None:
        answer = QMessageBox.question(
            self,
            "Discard recording?",
            f"Delete this recording from this computer? This cannot be undone.\n\n{path.name}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            if self.controller.phase == Phase.REVIEW and self.controller.bundle == path:
                self.discard(path)
            else:
                shutil.rmtree(path, ignore_errors=True)
                log.info("discarded %s", path)
            self.library.refresh()

    def _failed(self, message: str) -> None:
        warn(self, "Recording", message)

    def submit(
        self, bundle: Path, start_ns: int | None = None, end_ns: int | None = None, notes: dict[int, str] | None = None
    ) -> None:
        """Apply the review's edits (a new sealed bundle), queue it, and go back to setup."""

        def work() -> Path:
            if start_ns is not None or end_ns is not None or notes:
                from recorder.sealing.edit import edit_bundle

                edit_bundle(bundle, start_ns=start_ns, end_ns=end_ns, marker_notes=notes or None)
            self.uploads.submit(bundle)
            return bundle

        run_task(work, self._submitted, self._submit_failed)

    def _submit_failed(self, error: BaseException) -> None:
        warn(self, "Submit", f"The recording was not submitted: {error}. It is kept; try again.")

    def _submitted(self, bundle: Path) -> None:
        self.controller.reset()
        self.show_page("uploads")
        self.library.refresh()

    def discard(self, bundle: Path) -> None:
        shutil.rmtree(bundle, ignore_errors=True)
        log.info("discarded %s", bundle)
        self.controller.reset()

    # --- own windows: their input never enters the trajectory --------------------------------------
    def publish_own_windows(self) -> None:
        rects = []
        for w in QApplication.topLevelWidgets():
            if w.isVisible() and not w.isMinimized():
                g: QRect = w.frameGeometry()
                ratio = w.devicePixelRatioF()
                rects.append(
                    Rect(int(g.x() * ratio), int(g.y() * ratio), int(g.width() * ratio), int(g.height() * ratio))
                )
        self.own_windows.publish(rects, focused=QApplication.activeWindow() is not None)

    def _place_control(self) -> None:
        screen = self.screen().availableGeometry()
        self.control.adjustSize()
        self.control.move(screen.right() - self.control.width() - 24, screen.top() + 24)

    def eventFilter(self, watched: QObject, e: QEvent) -> bool:
        if watched is self.control and e.type() in (
            QEvent.Type.Move,
            QEvent.Type.Resize,
            QEvent.Type.Show,
            QEvent.Type.Hide,
        ):
            self.publish_own_windows()
        return super().eventFilter(watched, e)

    def event(self, e: QEvent) -> bool:
        if e.type() in (
            QEvent.Type.Move,
            QEvent.Type.Resize,
            QEvent.Type.WindowActivate,
            QEvent.Type.WindowDeactivate,
            QEvent.Type.Show,
            QEvent.Type.Hide,
            QEvent.Type.WindowStateChange,
        ):
            self.publish_own_windows()
        return super().event(e)

    # --- menus ------------------------------------------------------------------------------------
    def open_settings(self) -> None:
        before = _store_settings()
        if SettingsDialog(self.settings, self, recording=self.controller.busy).exec():
            if _store_settings() != before and self.uploads.ledger is not None:
                self.uploads.reopen()  # at once: the next check, upload and retry use the new store
            self.setup.run_checks()

    def open_logs(self) -> None:
        LogDialog(self).exec()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.busy:
            answer = QMessageBox.question(
                self,
                "Stop recording?",
                "A recording is running. Stop it, save it and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            if self.controller.session is not None:
                self.controller.session.stop()  # seal now: the app is going away
        elif self.controller.phase == Phase.REVIEW:
            answer = QMessageBox.question(
                self,
                "Quit without submitting?",
                "This recording is not submitted yet. It stays in Recordings, where you can review and submit it "
                "later. Quit now?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.setup.deactivate()
        wait_idle()  # a submit or recovery in flight finishes before the app goes (its bundle stays whole either way)
        if hasattr(self.review, "shutdown"):
            self.review.shutdown()
        self.uploads.close()
        self.control.close()
        if self.tray is not None:
            self.tray.hide()
        event.accept()


def _store_settings() -> bytes:
    """The store settings as saved (store.toml), to tell whether the Settings dialog changed them."""
    from recorder.dirs import uploader_dirs

    try:
        return uploader_dirs().settings.read_bytes()
    except OSError:
        return b""
