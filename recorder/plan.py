"""From what the expert chose (screen, microphone, task) to a SessionConfig, with the checks that can be made
before anything starts. Shared by `trajrec record` and the app, so both refuse the same things with the same
one-line messages."""

from __future__ import annotations

import locale
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.errors import BackendUnavailable, UsageError
from recorder.logs import data_dir
from recorder.platform import detect, display_backend
from recorder.privacy.denylist import DenyList
from trajrec import format as fmt

# Refuse to start with less free space than this (a 1080p hour is ~300 MB); TRAJREC_MIN_FREE_MB overrides.
MIN_FREE_MB = 500
BYTES_PER_HOUR = 400 * 10**6  # a generous hour of 1080p video + FLAC voiceover, for disk estimates


def default_out_dir() -> Path:
    """Where sealed bundles go unless told otherwise: `bundles/` in the data directory (TRAJREC_DATA_DIR)."""
    return data_dir() / "bundles"


def check_display() -> None:
    """One-line UsageError when no platform backend can capture this desktop (recorder.platform.detect)."""
    try:
        name = detect()
    except BackendUnavailable as e:  # TRAJREC_PLATFORM names no platform
        raise UsageError(str(e)) from e
    if name is None:
        raise UsageError("no X display: set DISPLAY (e.g. DISPLAY=:0), or run inside an X11 session")


def check_disk(out: Path, expected_minutes: float | None = None) -> int:
    """Create `out` and check its free space (at least MIN_FREE_MB, more for a long expected session).
    Returns the free bytes."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{out}: cannot create it ({e.strerror})") from e
    free = shutil.disk_usage(out).free
    need = int(os.environ.get("TRAJREC_MIN_FREE_MB", MIN_FREE_MB)) * 2**20
    if expected_minutes:
        need = max(need, int(BYTES_PER_HOUR * expected_minutes / 60 * 1.5))
    if free < need:
        raise UsageError(f"only {free // 2**20} MiB free in {out}: free at least {need // 2**20} MiB first")
    return free


def environment(displays: list[Any]) -> dict[str, Any]:
    loc = locale.getlocale()
    return {
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "locale": ".".join(p for p in loc if p) or os.environ.get("LANG", ""),
        "keyboard_layout": os.environ.get("XKB_DEFAULT_LAYOUT", ""),
        "coordinate_space": "virtual-desktop-physical-px",
        "displays": [d.to_json() for d in displays],
    }


@dataclass
class Plan:
    """What to record. `monitor`: 1.. one monitor, 0 all of them; `region` (w, h, x, y) wins over it."""

    out: Path
    task: dict[str, Any]
    monitor: int = 1
    region: tuple[int, int, int, int] | None = None
    fps: float = 30.0
    crf: int = 23
    preset: str = "veryfast"
    draw_cursor: bool = False
    audio: bool = True
    audio_device: str | int | None = None
    exclude_input: Callable[[fmt.InputEvent], bool] | None = None
    deny: DenyList = field(default_factory=DenyList)  # windows never recorded


def session_config(plan: Plan) -> Any:
    """The SessionConfig for `plan`, after the preflight checks (one-line UsageError when one fails)."""
    from recorder.capture.screen import Region, monitors
    from recorder.session import SessionConfig

    check_display()
    check_disk(plan.out)
    layout = monitors()
    displays = display_backend().displays()  # ids follow mss's monitor order: display i is monitor i + 1
    if plan.region is not None:
        w, h, x, y = plan.region
        region, display_id = Region(x, y, w, h), -1
    else:
        if not 0 <= plan.monitor < len(layout):
            raise UsageError(f"monitor {plan.monitor}: this desktop has monitors 1..{len(layout) - 1} (0 = all)")
        region, display_id = layout[plan.monitor], (plan.monitor - 1 if plan.monitor else -1)
    if plan.audio:
        from recorder.capture.audio import resolve_device

        resolve_device(plan.audio_device)  # a bad or missing microphone is one line, before anything starts
    return SessionConfig(
        out_dir=plan.out,
        region=region,
        display_id=display_id,
        fps=plan.fps,
        crf=plan.crf,
        preset=plan.preset,
        draw_cursor=plan.draw_cursor,
        audio=plan.audio,
        audio_device=plan.audio_device,
        task=plan.task,
        environment=environment(displays),
        exclude_input=plan.exclude_input,
        deny=plan.deny,
    )
