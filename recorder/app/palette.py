"""The app's colours, one table for every screen: hex strings for Qt style sheets, RGB tuples for drawing on
video frames. Qt-free, so the frame renderer and its tests need no GUI stack."""

from __future__ import annotations

COLORS = {
    "bg": "#f4f5f7",
    "card": "#ffffff",
    "border": "#e3e6ea",
    "text": "#1f2933",
    "muted": "#667085",
    "accent": "#0f6b63",
    "accent_hover": "#0c5952",
    "accent_soft": "#e3f1ef",
    "record": "#d92d20",
    "record_soft": "#fdecea",
    "warn": "#b54708",
    "ok": "#067647",
    "sidebar": "#1d2731",
    "sidebar_text": "#c9d1d9",
    "event": "#2e90fa",
    "marker": "#f79009",
    "wave": "#98a2b3",
}


def rgb(name: str) -> tuple[int, int, int]:
    """A theme colour as an (r, g, b) tuple, for drawing on RGB frames."""
    h = COLORS[name].lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


__all__ = ["COLORS", "rgb"]
