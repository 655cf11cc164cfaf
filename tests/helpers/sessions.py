"""A recorder session over a whole test display: the settings the desktop tests share (no microphone, no
accessibility unless asked, a small task), so each test states only what it is about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder.capture.screen import Region
from recorder.session import SessionConfig
from tests.helpers.harness import Display
from trajrec import format as fmt


def desktop_config(out_dir: Path, display: Display, title: str, **overrides: Any) -> SessionConfig:
    settings: dict[str, Any] = {
        "out_dir": out_dir,
        "region": Region(0, 0, display.width, display.height),
        "fps": 10,
        "audio": False,
        "elements": False,
        "task": {"id": "t", "title": title, "instruction": "", "expert": "e", "consent": True},
        "environment": {
            "os": "x", "arch": "x", "locale": "", "keyboard_layout": "us", "coordinate_space": fmt.COORDINATE_SPACE,
            "displays": [
                {"id": 0, "origin": [0, 0], "size_px": [display.width, display.height], "primary": True, "scale": 1}
            ],
        },
    }  # fmt: skip
    settings.update(overrides)
    return SessionConfig(**settings)
