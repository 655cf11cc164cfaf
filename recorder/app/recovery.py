"""Sessions a crash left behind: found at launch (offered once), and sealed into bundles with status recovered."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

log = logging.getLogger(__name__)


def crashed_sessions(out_dir: Path) -> list[Path]:
    """Live directories a crash left in the recordings folder (`.<session_id>.live`) and nobody sealed yet (one
    that `trajrec repair` sealed, which leaves it in place, is not offered again)."""
    if not out_dir.is_dir():
        return []
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.name.startswith(".")
        and p.name.endswith(".live")
        and p.is_dir()
        and not p.is_symlink()
        and not (out_dir / p.name[1 : -len(".live")]).exists()
    )


def recover(live: Path, out_dir: Path) -> Path:
    """Seal what an interrupted session left (blocking: run it with run_task); its live directory goes once the
    bundle holds all of it, as after a clean stop."""
    from recorder.sealing.seal import seal

    bundle = seal(live, out_dir, recover=True)  # into the recordings folder, wherever a link might point
    shutil.rmtree(live, ignore_errors=True)
    return bundle


def offer_repair(window: object, out_dir: Path, on_recovered: Callable[[Path], None] | None = None) -> None:
    from PySide6.QtWidgets import QMessageBox, QWidget

    from recorder.app.dialogs import warn
    from recorder.app.threads import run_task

    found = crashed_sessions(out_dir)
    if not found:
        return
    parent = window if isinstance(window, QWidget) else None
    answer = QMessageBox.question(
        parent,
        "Unfinished recording",
        f"{len(found)} recording{'s were' if len(found) > 1 else ' was'} interrupted (the app or the computer "
        "stopped). Recover what was recorded? It is kept either way.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    if answer != QMessageBox.StandardButton.Yes:
        return

    def recovered(bundle: Path) -> None:
        log.info("recovered %s", bundle)
        if on_recovered is not None:
            on_recovered(bundle)

    def failed(error: BaseException) -> None:
        warn(parent, "Recovery", f"Could not recover a recording: {error}. Its files are kept.")

    for live in found:
        run_task(partial(recover, live, out_dir), recovered, failed)
