"""The small recording control: shown on top while a real recording runs (the main window minimised), it pauses,
resumes, marks and stops; it and every other window of the app are published as the app's own (filled in the
video, their input not recorded), the minimised main window not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from recorder.app.controller import Phase
from recorder.plan import Plan
from trajrec.reader import BundleReader


@pytest.fixture
def window(app_window: Any) -> Any:
    return app_window


def test_the_control_runs_a_recording_while_the_main_window_is_minimised(
    qtbot: Any, window: Any, x_display: Any, tmp_path: Path
) -> None:
    control = window.control
    assert not control.isVisible()
    task = {"id": "t-c", "title": "Control", "instruction": "", "expert": "e", "consent": True}
    window.controller.start(Plan(out=tmp_path / "recordings", task=task, audio=False), window.settings.hotkeys)
    qtbot.waitUntil(lambda: window.controller.phase == Phase.RECORDING, timeout=10_000)
    assert control.isVisible() and window.isMinimized()
    qtbot.waitUntil(lambda: control.clock.text() != "00:00", timeout=3000)  # the timer runs
    rects, _focused = window.own_windows.snapshot()
    g = control.frameGeometry()
    assert any((r.x, r.y, r.w, r.h) == (g.x(), g.y(), g.width(), g.height()) for r in rects)
    assert len(rects) == 1  # the control only: the minimised main window is nowhere on screen
    control.marker_button.click()
    qtbot.waitUntil(lambda: window.controller.markers == 1, timeout=2000)
    control.pause_button.click()
    assert window.controller.phase == Phase.PAUSED and control.pause_button.text() == "Resume"
    assert not control.marker_button.isEnabled()  # no marker while paused
    control.pause_button.click()
    assert window.controller.phase == Phase.RECORDING
    with qtbot.waitSignal(window.controller.sealed, timeout=30_000) as sealed:
        control.stop_button.click()
    qtbot.waitUntil(lambda: not control.isVisible(), timeout=3000)
    assert not window.isMinimized()  # back for the review
    with BundleReader(Path(sealed.args[0])) as b:
        assert [str(m.kind) for m in b.markers() if str(m.kind) == "step"] == ["step"]
