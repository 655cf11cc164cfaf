"""Render packaging/trajrec.svg to PNGs for the desktop entry: render_icon.py OUT_DIR [SIZE ...] (default 256 128 48).

Uses Qt's SVG renderer (PySide6.QtSvg, part of PySide6-Essentials) on the offscreen platform: no display needed.
Writes OUT_DIR/<size>x<size>/trajrec.png for each size."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SVG = Path(__file__).with_name("trajrec.svg")


def render(out_dir: Path, sizes: list[int]) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"render_icon: {SVG} is not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"{size}x{size}" / "trajrec.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path)):  # PNG, from the suffix
            raise SystemExit(f"render_icon: cannot write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in render(Path(sys.argv[1]), [int(s) for s in sys.argv[2:]] or [256, 128, 48]):
        print(p)
