"""The app's preferences, kept with QSettings as an INI file in the platform's config dir
(`~/.config/trajrec/app.ini` on Linux; `TRAJREC_CONFIG_DIR` moves it, as it does `store.toml`).

Where bundles are uploaded is not here: it is the store settings file (`uploader.config`), shared with the
`trajrec` command line, so the app and the CLI always agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from recorder.privacy.denylist import DenyList

DEFAULT_HOTKEYS = {"pause": "ctrl+alt+p", "stop": "ctrl+alt+s", "marker": "ctrl+alt+m", "hide_keys": "ctrl+alt+h"}


def settings_file() -> Path:
    from recorder.logs import config_dir

    return config_dir() / "app.ini"


def default_data_folder() -> Path:
    from recorder.plan import default_out_dir

    return default_out_dir()


@dataclass
class AppSettings:
    fps: float = 30.0
    crf: int = 23
    audio_device: str = ""  # "" = the system default
    monitor: int = 1
    expert: str = ""
    data_folder: str = ""
    hotkeys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))
    draw_cursor: bool = False
    minimize_on_record: bool = True  # the main window gets out of the way; the small control stays on top
    deny_apps: list[str] = field(default_factory=list)  # on top of recorder.privacy.denylist's defaults
    deny_titles: list[str] = field(default_factory=list)

    @property
    def out_dir(self) -> Path:
        return Path(self.data_folder) if self.data_folder else default_data_folder()

    @classmethod
    def load(cls, path: Path | None = None) -> AppSettings:
        qs = QSettings(str(path or settings_file()), QSettings.Format.IniFormat)
        s = cls()
        s.fps = _float(qs.value("video/fps"), s.fps)
        s.crf = int(_float(qs.value("video/crf"), s.crf))
        s.draw_cursor = str(qs.value("video/draw_cursor", "false")).lower() == "true"
        s.minimize_on_record = str(qs.value("session/minimize_on_record", "true")).lower() == "true"
        s.audio_device = str(qs.value("audio/device", "") or "")
        s.monitor = int(_float(qs.value("screen/monitor"), s.monitor))
        s.expert = str(qs.value("session/expert", "") or "")
        s.data_folder = str(qs.value("session/data_folder", "") or "")
        for action in DEFAULT_HOTKEYS:
            value = qs.value(f"hotkeys/{action}")
            if value:
                s.hotkeys[action] = str(value)
        s.deny_apps = _lines(qs.value("privacy/deny_apps", ""))
        s.deny_titles = _lines(qs.value("privacy/deny_titles", ""))
        return s

    def save(self, path: Path | None = None) -> None:
        target = path or settings_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        qs = QSettings(str(target), QSettings.Format.IniFormat)
        qs.setValue("video/fps", self.fps)
        qs.setValue("video/crf", self.crf)
        qs.setValue("video/draw_cursor", "true" if self.draw_cursor else "false")
        qs.setValue("session/minimize_on_record", "true" if self.minimize_on_record else "false")
        qs.setValue("audio/device", self.audio_device)
        qs.setValue("screen/monitor", self.monitor)
        qs.setValue("session/expert", self.expert)
        qs.setValue("session/data_folder", self.data_folder)
        for action, combo in self.hotkeys.items():
            qs.setValue(f"hotkeys/{action}", combo)
        qs.setValue("privacy/deny_apps", "\n".join(self.deny_apps))
        qs.setValue("privacy/deny_titles", "\n".join(self.deny_titles))
        qs.sync()

    def deny_list(self, task: Mapping[str, Any] | None = None) -> DenyList:
        """The defaults, the expert's additions, and the task file's (a lab's) additions."""
        mine = DenyList().extended(self.deny_apps, self.deny_titles)
        return DenyList.from_json((task or {}).get("deny_list"), mine)


def _lines(value: object) -> list[str]:
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def _float(value: object, default: float) -> float:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return default
