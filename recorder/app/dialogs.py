"""Settings, the log viewer, and warnings that show outside text as plain text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from recorder.app.keys import HotkeyEdit, hotkey_problems
from recorder.app.settings import AppSettings
from recorder.privacy.denylist import DenyList


def warn(parent: QWidget | None, title: str, text: str) -> None:
    """A modal warning whose text is shown as written: errors carry names from bundles, stores and devices, and
    Qt would otherwise render anything that looks like a tag as rich text."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.exec()


class SettingsDialog(QDialog):
    """Store, video, audio, hotkeys and data folder. The store part is the shared store.toml."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None, *, recording: bool = False) -> None:
        super().__init__(parent)
        from recorder.dirs import uploader_dirs
        from uploader.config import load_config

        settings_path = uploader_dirs().settings

        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.settings = settings
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d92d20;")
        self.error.setWordWrap(True)
        tabs = QTabWidget()

        store = QWidget()
        form = QFormLayout(store)
        try:
            current = load_config(path=settings_path)
        except Exception:
            current = None
        embedded = current is None or current.embedded
        self.embedded = QCheckBox("Use the local store on this computer (no set-up needed)")
        self.embedded.setChecked(embedded)
        self.endpoint = QLineEdit("" if embedded or current is None else current.endpoint_url or "")
        self.endpoint.setPlaceholderText("https://s3.example.com (empty: AWS S3)")
        self.bucket = QLineEdit(current.bucket if current else "trajectories")
        self.prefix = QLineEdit(current.prefix if current else "")
        self.profile = QLineEdit((current.profile or "") if current else "")
        self.profile.setPlaceholderText("AWS profile (empty: the standard credentials)")
        form.addRow(self.embedded)
        form.addRow("Endpoint", self.endpoint)
        form.addRow("Bucket", self.bucket)
        form.addRow("Prefix", self.prefix)
        form.addRow("Profile", self.profile)
        # A lab's grant service: only a URL and a token here, no storage keys (uploader.grants).
        self.grant_url = QLineEdit((current.grant_url or "") if current else "")
        self.grant_url.setPlaceholderText("https://lab.example:8443 (from your lab; empty: the store above)")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("kept: type a new token to replace it" if self.grant_url.text() else "trg_...")
        form.addRow("Grant service", self.grant_url)
        form.addRow("Token", self.token)
        note = QLabel(f"Shared with the trajrec command line: {settings_path}")
        note.setObjectName("muted")
        note.setWordWrap(True)
        form.addRow(note)
        self.embedded.toggled.connect(lambda _on: self._store_fields())
        self.grant_url.textChanged.connect(lambda _text: self._store_fields())
        self._store_fields()
        tabs.addTab(store, "Uploads")

        video = QWidget()
        form = QFormLayout(video)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(settings.fps)
        self.crf = QSlider(Qt.Orientation.Horizontal)  # x264's CRF: lower is sharper and larger
        self.crf.setRange(15, 35)
        self.crf.setInvertedAppearance(True)  # right is sharper
        self.crf.setValue(settings.crf)
        self.crf.setToolTip("The middle (23) keeps small text readable at about 250 MB per hour")
        quality = QWidget()
        qrow = QHBoxLayout(quality)
        qrow.setContentsMargins(0, 0, 0, 0)
        qrow.addWidget(QLabel("Smaller file"))
        qrow.addWidget(self.crf, 1)
        qrow.addWidget(QLabel("Sharper text"))
        self.draw_cursor = QCheckBox("Draw the pointer into the video")
        self.draw_cursor.setChecked(settings.draw_cursor)
        self.microphone = QComboBox()
        from recorder.app.setup.devices import microphone_choices

        for text, device in microphone_choices():
            if device is not None:  # "no microphone" is the setup screen's choice for one recording
                self.microphone.addItem(text, device)
        self.microphone.setCurrentIndex(max(0, self.microphone.findData(settings.audio_device)))
        form.addRow("Frames per second", self.fps)
        form.addRow("Video quality", quality)
        form.addRow(self.draw_cursor)
        self.minimize = QCheckBox("Minimise this window while recording (a small control stays on top)")
        self.minimize.setChecked(settings.minimize_on_record)
        form.addRow(self.minimize)
        form.addRow("Microphone", self.microphone)
        tabs.addTab(video, "Recording")

        keys = QWidget()
        form = QFormLayout(keys)
        self.hotkeys = {a: HotkeyEdit(c) for a, c in settings.hotkeys.items()}
        form.addRow(QLabel("Click a field and press the keys, e.g. Ctrl+Alt+P. They work from any window."))
        for action, edit in self.hotkeys.items():
            names = {"pause": "Pause / resume", "stop": "Stop", "marker": "Step marker", "hide_keys": "Hide typed keys"}
            form.addRow(names.get(action, action), edit)
        tabs.addTab(keys, "Hotkeys")

        privacy = QWidget()
        form = QFormLayout(privacy)
        intro = QLabel(
            "Windows never recorded: while one has the focus nothing is recorded, and where one shows it is "
            "filled in the video. Password managers and private browser windows are on the list already; add "
            "more here, one per line (a lab's task file may add its own)."
        )
        intro.setWordWrap(True)
        form.addRow(intro)
        self.deny_apps = QPlainTextEdit("\n".join(settings.deny_apps))
        self.deny_apps.setTabChangesFocus(True)
        self.deny_apps.setPlaceholderText("application names (window class), e.g. slack")
        self.deny_titles = QPlainTextEdit("\n".join(settings.deny_titles))
        self.deny_titles.setTabChangesFocus(True)
        self.deny_titles.setPlaceholderText("title patterns (regular expressions), e.g. \\bpayroll\\b")
        form.addRow("Applications", self.deny_apps)
        form.addRow("Window titles", self.deny_titles)
        tabs.addTab(privacy, "Privacy")

        data = QWidget()
        form = QFormLayout(data)
        row = QHBoxLayout()
        self.folder = QLineEdit(str(settings.out_dir))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Recordings folder", row)
        tabs.addTab(data, "Data")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.when = QLabel(
            "A recording is running: the store applies at once; video, microphone, hotkeys and folder apply from "
            "the next recording."
            if recording
            else "Changes apply at once: nothing needs a restart."
        )
        self.when.setObjectName("muted")
        self.when.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.when)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _store_fields(self) -> None:
        """With a grant service, the store's own fields do not apply (the lab's service decides)."""
        grants = bool(self.grant_url.text().strip())
        self.embedded.setEnabled(not grants)
        for field in (self.bucket, self.prefix, self.profile):
            field.setEnabled(not grants)
        self.endpoint.setEnabled(not grants and not self.embedded.isChecked())
        self.token.setEnabled(grants)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Recordings folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def save(self) -> None:
        """Validate everything, then write both files; on a problem, say it and keep the dialog open."""
        from recorder.dirs import uploader_dirs
        from uploader.config import DEFAULT_BUCKET, StoreConfig, save_config
        from uploader.grants.credential import load_token, save_token

        self.error.setText("")
        hotkeys = {a: e.chord() for a, e in self.hotkeys.items()}
        problems = hotkey_problems(hotkeys, held=self.settings.hotkeys)
        if problems:
            self.error.setText("; ".join(problems))
            return
        try:
            deny_apps = [x.strip() for x in self.deny_apps.toPlainText().splitlines() if x.strip()]
            deny_titles = [x.strip() for x in self.deny_titles.toPlainText().splitlines() if x.strip()]
            DenyList().extended(deny_apps, deny_titles)  # a pattern that is not a regular expression: say so
            token = self.token.text().strip()
            if self.grant_url.text().strip():
                store = StoreConfig(bucket=DEFAULT_BUCKET, grant_url=self.grant_url.text().strip())
                if not token and not load_token(store.grant_url or "", uploader_dirs().config):
                    raise ValueError("the grant service needs the token your lab gave you")
            elif self.embedded.isChecked():
                store = StoreConfig(
                    bucket=self.bucket.text().strip() or "trajectories",
                    prefix=self.prefix.text(),
                    addressing_style="path",
                    embedded=True,
                )
            else:
                store = StoreConfig(
                    bucket=self.bucket.text().strip(),
                    prefix=self.prefix.text(),
                    endpoint_url=self.endpoint.text().strip() or None,
                    profile=self.profile.text().strip() or None,
                )
        except Exception as e:
            self.error.setText(str(e))
            return
        save_config(store, uploader_dirs().settings)
        if store.grant_url and token:
            save_token(store.grant_url, token, uploader_dirs().config)
        s = self.settings
        s.fps, s.crf, s.draw_cursor = self.fps.value(), self.crf.value(), self.draw_cursor.isChecked()
        s.minimize_on_record = self.minimize.isChecked()
        s.audio_device = str(self.microphone.currentData() or "")
        s.hotkeys = hotkeys
        s.data_folder = self.folder.text().strip()
        s.deny_apps, s.deny_titles = deny_apps, deny_titles
        s.save()
        self.accept()


class LogDialog(QDialog):
    """The tail of the app's log file, and a button to open the log folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from recorder.logs import log_dir

        self.setWindowTitle("Logs")
        self.resize(820, 520)
        path = log_dir() / "trajrec.log"
        text = QPlainTextEdit()
        text.setReadOnly(True)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        text.setFont(mono)
        text.setPlainText(_tail(path, 400) or f"No log yet ({path}).")
        text.moveCursor(text.textCursor().MoveOperation.End)
        open_folder = QPushButton("Open log folder")
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        where = QLabel(str(path))
        where.setObjectName("muted")
        where.setTextFormat(Qt.TextFormat.PlainText)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where = where

        def open_logs() -> None:
            if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))):
                QApplication.clipboard().setText(str(path.parent))
                where.setText(f"No file manager to open it with: the logs are in {path.parent} (path copied)")

        open_folder.clicked.connect(open_logs)
        row.addWidget(where, 1)
        row.addWidget(open_folder)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(row)


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 200_000))
            data: Any = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(str(data).splitlines()[-lines:])
