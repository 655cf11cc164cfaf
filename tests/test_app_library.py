"""The recording library: every recording on this machine is listed until it is uploaded or discarded, whichever
way its session ended (stopped by quitting, left on the review screen, recovered after a crash). The listing
logic on real synthetic bundles, then the app's screens."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from recorder.library import recordings
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle, synthesize_live
from tests.helpers.bundles import edit_manifest

SMALL = SyntheticSpec(duration_s=1.5, width=160, height=120, audio=False)


@dataclass
class Row:
    id: int
    path: str
    state: str
    reason: str | None = None


def sealed(out: Path, sid: str, title: str) -> Path:
    bundle, _ = synthesize_bundle(out / ".scratch", SMALL, session_id=sid)
    final = out / sid
    bundle.rename(final)
    edit_manifest(final, lambda m: m["task"].update(title=title))
    return final


def test_every_recording_in_the_folder_is_listed_with_its_state(tmp_path: Path) -> None:
    out = tmp_path / "recordings"
    fresh = sealed(out, "s-fresh", "Fit the model")
    sent = sealed(out, "s-sent", "Plot the data")
    broken = sealed(out, "s-failed", "Clean the table")
    synthesize_live(out / ".s-crashed.live", SMALL, session_id="s-crashed", stop=False)
    synthesize_live(out / ".s-sent.live", SMALL, session_id="s-sent", stop=False)  # sealed already: not listed
    (out / "s-garbled").mkdir()
    (out / "s-garbled" / "manifest.json").write_text("{not json")
    (out / "s-link").symlink_to(fresh)  # links are never followed
    (out / ".s-x.partial").mkdir()  # a seal in progress
    rows = [Row(1, str(sent), "done"), Row(2, str(broken), "failed", "the store said no")]
    found = {r.session_id: r for r in recordings(out, rows)}
    assert set(found) == {"s-fresh", "s-sent", "s-failed", "s-crashed", "s-garbled"}
    assert (found["s-fresh"].title, found["s-fresh"].state, found["s-fresh"].state_words) == (
        "Fit the model", "review", "Not yet submitted",
    )  # fmt: skip
    assert found["s-fresh"].recorded_s is not None and 1.0 < found["s-fresh"].recorded_s < 2.0
    assert found["s-sent"].state_words == "Uploaded"
    assert (found["s-failed"].state, found["s-failed"].reason, found["s-failed"].upload_id) == (
        "failed", "the store said no", 2,
    )  # fmt: skip
    assert found["s-crashed"].state == "interrupted"
    assert found["s-garbled"].state == "unreadable" and "JSON" in found["s-garbled"].reason
    assert recordings(tmp_path / "nowhere") == []


def test_the_uploads_panel_names_a_recording_by_its_task_title(tmp_path: Path) -> None:
    from recorder.library import title_of

    bundle = sealed(tmp_path, "s-t", "Fit the model")
    assert title_of(bundle) == "Fit the model"
    assert title_of(tmp_path / "missing") == ""


def test_a_recovered_recording_says_so(tmp_path: Path) -> None:
    out = tmp_path / "recordings"
    bundle = sealed(out, "s-rec", "Recovered one")
    edit_manifest(bundle, lambda m: m.update(status="recovered"))
    (entry,) = recordings(out)
    assert entry.recovered and entry.state_words == "Not yet submitted (recovered)"


@pytest.fixture
def window(app_window: Any) -> Any:
    return app_window


def test_the_library_lists_recordings_and_opens_one_for_review(qtbot: Any, window: Any, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QPushButton

    out = tmp_path / "recordings"
    sealed(out, "s-one", "A task")
    synthesize_live(out / ".s-two.live", SMALL, session_id="s-two", stop=False)
    window.show_page("library")
    qtbot.waitUntil(lambda: window.library.table.rowCount() == 2, timeout=8000)
    titles = {window.library.table.item(i, 0).text(): i for i in range(2)}
    assert set(titles) == {"A task", "s-two"}
    states = {window.library.table.item(i, 3).text() for i in range(2)}
    assert states == {"Not yet submitted", "Interrupted: recover it"}
    buttons = window.library.table.cellWidget(titles["s-two"], 4).findChildren(QPushButton)
    assert [b.text() for b in buttons] == ["Recover", "Discard"]
    with qtbot.waitSignal(window.review.loaded, timeout=8000):
        window.library.review_requested.emit(out / "s-one")
    assert window.stack.currentWidget() is window.review
    window.recover(out / ".s-two.live")  # the Recover button's action
    qtbot.waitUntil(lambda: (out / "s-two" / "manifest.json").is_file() and not (out / ".s-two.live").exists())
    qtbot.waitUntil(lambda: {e.state for e in window.library.entries} == {"review"}, timeout=8000)


def test_closing_on_the_review_screen_asks_and_the_recording_stays_listed(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QCloseEvent
    from PySide6.QtWidgets import QMessageBox

    out = tmp_path / "recordings"
    bundle = sealed(out, "s-left", "Left on review")
    with qtbot.waitSignal(window.review.loaded, timeout=8000):
        window.open_recording(bundle)
    asked: list[str] = []

    def answer(_parent: Any, title: str, _text: str, *_a: Any) -> QMessageBox.StandardButton:
        asked.append(title)
        return QMessageBox.StandardButton.No if len(asked) == 1 else QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    event = QCloseEvent()
    window.closeEvent(event)
    assert not event.isAccepted() and asked == ["Quit without submitting?"]
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()
    assert [(e.session_id, e.state) for e in recordings(out)] == [("s-left", "review")]


def test_quitting_while_recording_seals_it_into_the_library(
    qtbot: Any, window: Any, x_display: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QCloseEvent
    from PySide6.QtWidgets import QMessageBox

    from recorder.app.controller import Phase
    from recorder.plan import Plan

    out = tmp_path / "recordings"
    task = {"id": "t-q", "title": "Quit mid-way", "instruction": "", "expert": "e", "consent": True}
    window.controller.start(Plan(out=out, task=task, audio=False), window.settings.hotkeys)
    qtbot.waitUntil(lambda: window.controller.phase == Phase.RECORDING, timeout=10_000)
    qtbot.wait(500)
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Yes)  # "Stop, save, quit?"
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()
    window.controller.session = None
    window.controller.phase = Phase.IDLE
    assert [(e.title, e.state) for e in recordings(out)] == [("Quit mid-way", "review")]
