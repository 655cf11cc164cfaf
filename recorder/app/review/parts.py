"""The Review screen's small parts: its style sheet, cards, labels and figures, the waiting page, the timeline's
legend, and the discard confirmation box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from recorder.app.palette import COLORS


def card() -> tuple[QFrame, QVBoxLayout]:
    """A white rounded panel (the theme's `card`) and its layout."""
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(18, 16, 18, 16)
    layout.setSpacing(12)
    return frame, layout


def label(text: str, name: str | None = None) -> QLabel:
    """A label with an optional object name, which picks its look from the style sheets."""
    widget = QLabel(text)
    if name:
        widget.setObjectName(name)
    return widget


def stat(caption: str) -> tuple[QVBoxLayout, QLabel]:
    """A number over its caption, right-aligned (the header's figures); the number's label to fill in."""
    box = QVBoxLayout()
    box.setSpacing(0)
    value = label("-", "statValue")
    value.setAlignment(Qt.AlignmentFlag.AlignRight)
    cap = label(caption, "statCaption")
    cap.setAlignment(Qt.AlignmentFlag.AlignRight)
    box.addWidget(value)
    box.addWidget(cap)
    return box, value


def waiting_page() -> tuple[QWidget, QLabel, QLabel, QProgressBar]:
    """The page shown while a recording opens or is rewritten: a card with a title, a text and a busy bar."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addStretch(1)
    box, inner = card()
    box.setFixedWidth(460)
    inner.setContentsMargins(28, 24, 28, 24)
    title, text = label("", "subtitle"), label("", "muted")
    text.setWordWrap(True)
    bar = QProgressBar()
    bar.setRange(0, 0)
    bar.setTextVisible(False)
    for w in (title, text, bar):
        inner.addWidget(w)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(box)
    row.addStretch(1)
    layout.addLayout(row)
    layout.addStretch(2)
    return page, title, text, bar


def timeline_legend() -> QHBoxLayout:
    """The row under the timeline: what its colours mean, and its keys (in the tooltip)."""
    legend = QHBoxLayout()
    legend.setSpacing(8)
    for color, text in (
        ("wave", "Voiceover"),
        ("event", "Clicks and keys"),
        ("marker", "Markers"),
        ("border", "Paused"),
    ):
        dot = QLabel()
        dot.setFixedSize(10, 10)
        edge = COLORS["wave"] if color == "border" else COLORS[color]
        dot.setStyleSheet(f"background: {COLORS[color]}; border: 1px solid {edge}; border-radius: 5px;")
        legend.addWidget(dot)
        legend.addWidget(label(text, "legend"))
        legend.addSpacing(6)
    legend.addStretch(1)
    keys = label("← → 1 s  ·  [ ] trim  ·  Space play", "legend")
    keys.setToolTip(
        "Click or drag on the timeline to move the playhead; drag the green handles to trim.\n"
        "Left / Right: back / forward 1 s (Shift: 5 s).  [ / ]: trim start / end at the playhead.\n"
        "Space: play or pause.  Home / End: start / end of the kept part."
    )
    legend.addWidget(keys)
    return legend


LOCAL_STYLE = f"""
QPushButton#primary[round="true"] {{ border-radius: 19px; padding: 0; }}
QPushButton#segment {{ border-radius: 0; padding: 5px 12px; min-width: 28px; }}
QPushButton#segment[position="left"] {{ border-top-left-radius: 6px; border-bottom-left-radius: 6px; }}
QPushButton#segment[position="right"] {{ border-top-right-radius: 6px; border-bottom-right-radius: 6px;
    border-left: none; }}
QPushButton#segment:checked {{ background: {COLORS["accent_soft"]}; color: {COLORS["accent"]}; font-weight: 600;
    border-color: {COLORS["accent"]}; }}
QPushButton#link {{ background: transparent; border: none; padding: 2px 4px; color: {COLORS["accent"]};
    font-weight: 600; }}
QPushButton#link:hover {{ text-decoration: underline; }}
QPushButton#link:focus {{ border: 1px solid {COLORS["accent"]}; border-radius: 4px; }}
QFrame#markerRow {{ background: {COLORS["bg"]}; border: 1px solid transparent; border-radius: 8px; }}
QFrame#markerRow[current="true"] {{ background: {COLORS["accent_soft"]}; border-color: {COLORS["accent"]}; }}
QLabel#flagNumber {{ background: {COLORS["marker"]}; color: white; border-radius: 10px; font-weight: 700;
    font-size: 8.5pt; }}
QLabel#statValue {{ font-size: 13pt; font-weight: 600; }}
QLabel#statCaption {{ color: {COLORS["muted"]}; font-size: 8.5pt; }}
QLabel#legend {{ color: {COLORS["muted"]}; font-size: 8.5pt; }}
QPushButton#danger:hover {{ background: {COLORS["record_soft"]}; }}
QScrollArea#markerScroll {{ background: transparent; border: none; }}
QWidget#markerScrollBody {{ background: transparent; }}
"""


def confirm_box(parent: QWidget | None, title: str, text: str) -> tuple[QMessageBox, QPushButton]:
    """The discard confirmation: a warning whose safe choice (Keep) is the default and the Escape button.
    Returns the box and its discard button."""
    box = QMessageBox(parent)
    box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 380px; }")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(f"<b>{title}</b>")
    box.setInformativeText(text)
    discard = box.addButton("Discard recording", QMessageBox.ButtonRole.DestructiveRole)
    discard.setStyleSheet(f"color: {COLORS['record']}; border: 1px solid {COLORS['record']};")
    keep = box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    return box, discard


def ask_discard(parent: QWidget, title: str, text: str) -> bool:
    box, discard = confirm_box(parent, title, text)
    box.exec()
    return box.clickedButton() is discard


__all__ = ["LOCAL_STYLE", "ask_discard", "card", "confirm_box", "label", "timeline_legend"]
