"""The review's privacy card: scan the recording for secrets (typed, and on screen by OCR) and show each hit as a
suggested box with its time span; hide or mute a span the expert marks on the player. Applying asks the page
(`redact_requested`) to write the redacted bundle, which it then reloads: what is removed is gone for good."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from recorder.app.elided import ElidedLabel
from recorder.app.review.data import duration_text
from recorder.app.review.parts import card, label
from recorder.app.threads import run_task
from recorder.sealing.edit import Box, Hide, Mute, Redaction
from trajrec.reader import BundleReader
from trajrec.scanning import ScanReport, SecretFinding, scan

MAX_SHOWN = 20


def scan_bundle(bundle: Path) -> ScanReport:
    """The scan the card runs off the GUI thread (its own reader: the player's is busy decoding)."""
    from trajrec.onscreen import ocr_available

    with BundleReader(bundle) as reader:
        return scan(reader, screen=ocr_available() is None, task_patterns=True)  # the expert's own recording


class PrivacyCard(QWidget):
    """See the module docstring. `position()` is asked for the player's time when a span end is set."""

    redact_requested = Signal(object)  # list[Redaction]
    seek_requested = Signal(int)
    drawing_toggled = Signal(bool)  # the player should draw a box on the next drag

    def __init__(self, position: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._position = position
        self.bundle: Path | None = None
        self.start_ns = 0
        self.findings: list[SecretFinding] = []
        self.span: list[int | None] = [None, None]
        self.box: tuple[int, int, int, int] | None = None  # drawn on the player
        self.frame, inner = card()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.frame)
        inner.setSpacing(8)
        top = QHBoxLayout()
        top.addWidget(label("Privacy", "subtitle"))
        top.addStretch(1)
        self.scan_button = QPushButton("Scan for secrets")
        self.scan_button.setToolTip("Look for keys, tokens and card numbers typed or shown on screen")
        self.scan_button.clicked.connect(self.start_scan)
        top.addWidget(self.scan_button)
        inner.addLayout(top)
        self.status = label("What you hide, mute or blur is removed for good.", "muted")
        self.status.setWordWrap(True)
        inner.addWidget(self.status)
        self.rows = QVBoxLayout()
        inner.addLayout(self.rows)
        marks, spans, boxes = QHBoxLayout(), QHBoxLayout(), QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Mark the player's time as the start of a span to hide or mute")
        self.start_button.clicked.connect(lambda: self._mark(0))
        self.end_button = QPushButton("End")
        self.end_button.setToolTip("Mark the player's time as the end of the span")
        self.end_button.clicked.connect(lambda: self._mark(1))
        self.span_label = label("", "muted")
        self.hide_button = QPushButton("Hide span")
        self.hide_button.setToolTip("Remove the span: no picture, no input, silence (a privacy gap)")
        self.hide_button.clicked.connect(lambda: self._apply_span(Hide))
        self.mute_button = QPushButton("Mute span")
        self.mute_button.setToolTip("Silence the voiceover in the span")
        self.mute_button.clicked.connect(lambda: self._apply_span(Mute))
        for w in (self.start_button, self.end_button):
            marks.addWidget(w)
        marks.addWidget(self.span_label, 1)
        for w in (self.hide_button, self.mute_button):
            spans.addWidget(w)
        spans.addStretch(1)
        self.draw_button = QPushButton("Draw box")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag over the frame to draw a box to blur or fill over the marked span")
        self.draw_button.toggled.connect(self.drawing_toggled)
        self.blur_button = QPushButton("Blur")
        self.blur_button.setToolTip("Blur the drawn box over the marked span (widened to whole groups of pictures)")
        self.blur_button.clicked.connect(lambda: self._apply_box("blur"))
        self.fill_button = QPushButton("Fill")
        self.fill_button.setToolTip("Fill the drawn box black over the marked span")
        self.fill_button.clicked.connect(lambda: self._apply_box("fill"))
        for w in (self.draw_button, self.blur_button, self.fill_button):
            boxes.addWidget(w)
        boxes.addStretch(1)
        inner.addLayout(marks)
        inner.addLayout(spans)
        inner.addLayout(boxes)
        self._update_span()

    def set_bundle(self, bundle: Path | None, start_ns: int = 0) -> None:
        self.bundle, self.start_ns = bundle, start_ns
        self.span, self.box = [None, None], None
        self.draw_button.setChecked(False)
        self._show([])
        self._update_span()

    # --- scan ------------------------------------------------------------------------------------------
    def start_scan(self) -> None:
        if self.bundle is None:
            return
        self.scan_button.setEnabled(False)
        self.status.setText("Scanning what was typed and shown... (reading the screen takes a while)")
        bundle = self.bundle
        run_task(lambda: scan_bundle(bundle), self._scanned, self._scan_failed, owner=self)

    def _scanned(self, report: ScanReport) -> None:
        self.scan_button.setEnabled(True)
        typed = sum(f.source == "typed" for f in report.findings)
        what = "typed text and the screen" if report.screen_scanned else "typed text (no OCR: install tesseract-ocr)"
        if not report.findings:
            self.status.setText(f"No secrets found in the {what}.")
        else:
            self.status.setText(
                f"{len(report.findings)} found in the {what}"
                + (f"; {typed} typed ones were removed when the recording was sealed" if typed else "")
                + ". Blur a suggestion to remove it from the video."
            )
        self._show(report.findings)

    def _scan_failed(self, error: BaseException) -> None:
        self.scan_button.setEnabled(True)
        self.status.setText(f"The scan failed: {' '.join(str(error).split())[:200]}")

    def _show(self, findings: list[SecretFinding]) -> None:
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        self.findings = [f for f in findings if f.source == "screen"][:MAX_SHOWN]
        for n, f in enumerate(self.findings):
            self.rows.addWidget(self._row(n, f))

    def _row(self, n: int, f: SecretFinding) -> QFrame:
        row = QFrame()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        span = f"{duration_text(f.start_ns - self.start_ns)}-{duration_text(f.end_ns - self.start_ns)}"
        text = ElidedLabel(f"{f.kind}, {span}")
        text.setToolTip(f"{f.kind} on screen from {span}" + (f", box {f.box}" if f.box else ""))
        show = QPushButton("Show")
        show.setToolTip("Go to where it is on screen")
        show.clicked.connect(lambda: self.seek_requested.emit(f.start_ns))
        blur = QPushButton("Blur")
        blur.setObjectName(f"blur-{n}")
        blur.setToolTip("Blur this box for its whole time span (rewrites the recording)")
        blur.clicked.connect(lambda: self.apply_suggestion(n))
        h.addWidget(text, 1)
        h.addWidget(show)
        h.addWidget(blur)
        return row

    def apply_suggestion(self, n: int) -> None:
        f = self.findings[n]
        if f.box is not None:
            self._request([Box(f.start_ns, f.end_ns, f.box, "blur", f.kind)])

    # --- spans -----------------------------------------------------------------------------------------
    def _mark(self, end: int) -> None:
        self.span[end] = int(self._position())  # type: ignore[operator]
        self._update_span()

    def _update_span(self) -> None:
        a, b = self.span
        ok = a is not None and b is not None and a < b
        if a is None and b is None:
            self.span_label.setText("mark a span")
        else:
            shown = [("?" if t is None else duration_text(t - self.start_ns)) for t in (a, b)]
            self.span_label.setText(f"{shown[0]}-{shown[1]}" + ("" if ok or None in (a, b) else " ?"))
        self.hide_button.setEnabled(ok)
        self.mute_button.setEnabled(ok)
        for button in (self.blur_button, self.fill_button):
            button.setEnabled(ok and self.box is not None)
        self.draw_button.setText("Draw box" if self.box is None else f"Box {self.box[2]}x{self.box[3]}")

    def set_box(self, box: tuple[int, int, int, int]) -> None:
        """The box drawn on the player (video pixels)."""
        self.box = box
        self.draw_button.setChecked(False)
        self._update_span()

    def _apply_box(self, style: str) -> None:
        a, b = self.span
        if a is not None and b is not None and a < b and self.box is not None:
            self._request([Box(a, b, self.box, "blur" if style == "blur" else "fill")])

    def _apply_span(self, kind: type[Hide] | type[Mute]) -> None:
        a, b = self.span
        if a is not None and b is not None and a < b:
            self._request([kind(a, b)])

    def _request(self, redactions: list[Redaction]) -> None:
        self.status.setText("Applying...")
        self.redact_requested.emit(redactions)
