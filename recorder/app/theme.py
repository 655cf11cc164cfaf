"""The app's look: a calm light palette, one accent, one recording red, generous spacing.

Every screen takes its colours from here (`COLORS`) and its widgets' look from `STYLESHEET`, so the app
reads as one product. Object names used by the stylesheet: `card` (white rounded panel), `title`,
`subtitle`, `muted`, `primary` (accent button), `danger` (red button), `recordButton`, `sidebar`,
`navButton`, `badge`. The colours themselves live in `palette` (Qt-free) and are re-exported here."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from recorder.app.palette import COLORS

STYLESHEET = f"""
QWidget {{ color: {COLORS["text"]}; font-size: 10pt; }}
QMainWindow, QDialog {{ background: {COLORS["bg"]}; }}
QFrame#card {{ background: {COLORS["card"]}; border: 1px solid {COLORS["border"]}; border-radius: 10px; }}
QLabel#title {{ font-size: 17pt; font-weight: 600; }}
QLabel#subtitle {{ font-size: 12pt; font-weight: 600; }}
QLabel#muted {{ color: {COLORS["muted"]}; }}
QLabel#badge {{ background: {COLORS["accent_soft"]}; color: {COLORS["accent"]}; border-radius: 9px;
    padding: 2px 10px; font-weight: 600; }}
QLineEdit, QPlainTextEdit, QComboBox, QSpinBox {{ background: white; border: 1px solid {COLORS["border"]};
    border-radius: 6px; padding: 5px 8px; selection-background-color: {COLORS["accent"]}; }}
QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus, QSpinBox:focus {{ border: 1px solid {COLORS["accent"]}; }}
QPushButton {{ background: white; border: 1px solid {COLORS["border"]}; border-radius: 6px; padding: 6px 14px; }}
QPushButton:hover {{ border-color: {COLORS["accent"]}; }}
QPushButton:disabled {{ color: #a0a7b1; background: #f2f3f5; }}
QPushButton#primary {{ background: {COLORS["accent"]}; color: white; border: none; font-weight: 600; }}
QPushButton#primary:hover {{ background: {COLORS["accent_hover"]}; }}
QPushButton#primary:disabled {{ background: #9fbfbb; }}
QPushButton#danger {{ background: white; color: {COLORS["record"]}; border: 1px solid {COLORS["record"]}; }}
QPushButton#recordButton {{ background: {COLORS["record"]}; color: white; border: none; border-radius: 28px;
    font-size: 13pt; font-weight: 600; padding: 14px 30px; }}
QPushButton#recordButton:disabled {{ background: #eba49e; }}
QPushButton:focus {{ border: 2px solid {COLORS["accent"]}; }}
QPushButton#primary:focus, QPushButton#danger:focus, QPushButton#recordButton:focus {{
    border: 3px solid {COLORS["text"]}; }}
QCheckBox:focus, QSlider:focus {{ border: 1px dashed {COLORS["accent"]}; border-radius: 4px; }}
QProgressBar {{ background: #eceef1; border: none; border-radius: 4px; height: 8px; text-align: center; }}
QProgressBar::chunk {{ background: {COLORS["accent"]}; border-radius: 4px; }}
QFrame#sidebar {{ background: {COLORS["sidebar"]}; }}
QFrame#sidebar QLabel {{ color: white; }}
QPushButton#navButton {{ background: transparent; color: {COLORS["sidebar_text"]}; border: none; text-align: left;
    padding: 10px 16px; border-radius: 6px; font-size: 10.5pt; }}
QPushButton#navButton:hover {{ background: #2a3643; }}
QPushButton#navButton:checked {{ background: #34424f; color: white; font-weight: 600; }}
QCheckBox {{ spacing: 8px; }}
QTableWidget {{ background: white; border: 1px solid {COLORS["border"]}; border-radius: 8px;
    gridline-color: transparent; }}
QHeaderView::section {{ background: white; border: none; border-bottom: 1px solid {COLORS["border"]};
    padding: 6px; color: {COLORS["muted"]}; font-weight: 600; }}
"""


def apply(app: QApplication) -> None:
    """Set the palette, font and stylesheet once, at start-up."""
    app.setStyle("Fusion")
    palette = app.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(COLORS["bg"]))
    palette.setColor(QPalette.ColorRole.Base, QColor("white"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(COLORS["accent"]))
    palette.setColor(QPalette.ColorRole.Text, QColor(COLORS["text"]))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(COLORS["text"]))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)


def clock_text(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


__all__ = ["COLORS", "STYLESHEET", "apply", "clock_text"]
