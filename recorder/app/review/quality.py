"""The review's quality card: the grade the lab's report will give this recording (pass, warn, fail) and why, shown
before the expert submits, so a silent microphone or a stalled screen is fixed here, not found at the lab.

The grade is `trajrec report`'s, measured off the GUI thread with its own reader, under the lab's policy when the
settings folder holds one (policy.toml), else the built-in policy."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from recorder.app.palette import COLORS
from recorder.app.review.parts import card, label
from recorder.app.threads import run_task
from trajrec.quality.report import Entry

POLICY_FILE = "policy.toml"
HEADLINE = {
    "pass": "Ready to submit",
    "warn": "Worth a look before you submit",
    "fail": "The lab will likely reject this recording",
}
BADGE = {"pass": "Pass", "warn": "Warn", "fail": "Fail"}


def policy_path() -> Path:
    from recorder.logs import config_dir

    return config_dir() / POLICY_FILE


def grade_bundle(bundle: Path) -> Entry:
    """The report entry of a bundle under the lab's policy (or the built-in one): run off the GUI thread."""
    from trajrec.quality.policy import DEFAULT, load_policy
    from trajrec.quality.report import report
    from trajrec.reader import BundleReader

    path = policy_path()
    policy = load_policy(path) if path.is_file() else DEFAULT
    with BundleReader(bundle) as reader:
        return report(reader, policy)


class QualityCard(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry: Entry | None = None
        self._generation = 0
        frame, inner = card()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(frame)
        inner.setSpacing(8)
        top = QHBoxLayout()
        top.addWidget(label("Quality", "subtitle"))
        top.addStretch(1)
        self.badge = label("", "badge")
        top.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignVCenter)
        inner.addLayout(top)
        self.headline = label("Checking the recording...", "muted")
        self.headline.setWordWrap(True)
        inner.addWidget(self.headline)
        self.reasons = QLabel("")
        self.reasons.setWordWrap(True)
        self.reasons.setTextFormat(Qt.TextFormat.PlainText)  # reasons carry the lab's words: never markup
        inner.addWidget(self.reasons)

    def set_bundle(self, bundle: Path) -> None:
        """Measure and grade `bundle` off the GUI thread; the card says so meanwhile."""
        self._generation += 1
        gen = self._generation
        self.entry = None
        self.badge.setText("")
        self.badge.setStyleSheet("")
        self.headline.setText("Checking narration, activity and frames...")
        self.reasons.setText("")
        run_task(
            lambda: grade_bundle(bundle), lambda e: self._show(gen, e), lambda err: self._failed(gen, err), owner=self
        )

    def _show(self, gen: int, entry: Entry) -> None:
        if gen != self._generation or entry.grade is None or entry.quality is None:
            return
        self.entry = entry
        g, q = entry.grade, entry.quality
        colour = {"pass": COLORS["ok"], "warn": COLORS["warn"], "fail": COLORS["record"]}[g.grade]
        self.badge.setText(BADGE[g.grade])
        self.badge.setStyleSheet(f"color: {colour};")
        narration = f"narration {q['narration']['coverage']:.0%} of the active time" if q["narration"]["present"] else (
            "no voiceover"
        )
        self.headline.setText(f"{HEADLINE[g.grade]}: {narration}, {q['active_s']:.0f} s active.")
        self.reasons.setText("\n".join(f"• {advice}" for advice in dict.fromkeys(g.advice)))
        self.reasons.setToolTip(f"Policy: {g.policy}")

    def _failed(self, gen: int, error: BaseException) -> None:
        if gen != self._generation:
            return
        self.badge.setText("")
        self.headline.setText(f"The quality check could not run: {' '.join(str(error).split())[:200]}")
