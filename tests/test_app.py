"""The desktop app's screens and state machine (pytest-qt, offscreen Qt; capture on the real Xvfb display)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from recorder.app.controller import Phase, RecordingController
from recorder.app.settings import AppSettings
from recorder.app.setup.screen import SetupPage
from recorder.app.setup.taskfile import load_task
from recorder.errors import TaskFileError
from recorder.plan import Plan
from tests.helpers.harness import Display
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

HOTKEYS = {"pause": "ctrl+alt+p", "stop": "ctrl+alt+s", "marker": "ctrl+alt+m", "hide_keys": "ctrl+alt+h"}


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    s = AppSettings()
    s.data_folder = str(tmp_path / "bundles")
    return s


# --- task files -----------------------------------------------------------------------------------
def test_task_files_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({"id": "stats-017", "title": "Fit", "expected_minutes": 40}))
    (tmp_path / "t.yaml").write_text("id: stats-018\ntitle: Plot\ninstruction: |\n  Make the plot.\n")
    assert load_task(tmp_path / "t.json").expected_minutes == 40
    task = load_task(tmp_path / "t.yaml")
    assert (task.id, task.title, task.instruction) == ("stats-018", "Plot", "Make the plot.\n")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.json", '{"title": "no id"}', "the field 'id' is missing"),
        ("b.json", '{"id": "x y", "title": "t"}', "the field 'id' is 'x y': write letters, digits"),
        ("c.yaml", "id: [unclosed", "not valid YAML"),
        ("d.json", "[1, 2]", "not a list"),
        ("e.json", '{"id": "a", "title": "t", "colour": "red"}', "unknown field 'colour' (known: deny_list,"),
        ("f.json", '{"id": "a", "title": "", "expected_minutes": "ten"}', "'expected_minutes' should be a number"),
        ("g.json", '{"id": "a", "title": ""}', "the field 'title' is empty"),
        ("h.json", '{"id": "a", "title": "t", "expected_minutes": 0}', "'expected_minutes' must be more than 0"),
    ],
)
def test_bad_task_files_say_what_is_wrong(tmp_path: Path, name: str, text: str, expected: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(TaskFileError) as e:
        load_task(tmp_path / name)
    assert expected in str(e.value) and str(tmp_path / name) in str(e.value)
    assert "\n" not in str(e.value)


# --- settings ---------------------------------------------------------------------------------------
def test_settings_round_trip_in_the_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(tmp_path / "cfg"))
    s = AppSettings.load()
    assert s.hotkeys == HOTKEYS and s.fps == 30.0
    s.fps, s.crf, s.expert, s.hotkeys["marker"] = 15.0, 28, "expert-7", "f9"
    s.save()
    assert (tmp_path / "cfg" / "app.ini").is_file()
    again = AppSettings.load()
    assert (again.fps, again.crf, again.expert, again.hotkeys["marker"]) == (15.0, 28, "expert-7", "f9")


# --- setup screen ---------------------------------------------------------------------------------
def test_record_is_enabled_only_with_task_pseudonym_and_consent(
    qtbot: Any, settings: AppSettings, tmp_path: Path
) -> None:
    page = SetupPage(settings)
    qtbot.addWidget(page)
    assert not page.record_button.isEnabled()
    assert "a task ID and title" in page.missing.text() and "your consent" in page.missing.text()
    (tmp_path / "task.yaml").write_text("id: stats-017\ntitle: Fit a mixed model\ninstruction: Go.\n")
    assert page.load_task_file(tmp_path / "task.yaml")
    assert (page.task_id.text(), page.task_title.text()) == ("stats-017", "Fit a mixed model")
    page.expert.setText("expert-042")
    assert not page.record_button.isEnabled() and page.problems() == ["your consent"]
    page.consent.setChecked(True)
    assert page.record_button.isEnabled()
    (tmp_path / "bad.json").write_text('{"id": "x"}')
    assert not page.load_task_file(tmp_path / "bad.json")
    assert "the field 'title' is missing" in page.task_error.text()
    from recorder.app.setup.preflight import Check

    page._show_check(Check("disk", False, "Disk: only 3 MiB free"))
    assert not page.record_button.isEnabled() and "failed checks (disk)" in page.missing.text()
    page.deactivate()


# --- the recording state machine on real capture ---------------------------------------------------
def test_controller_records_pauses_marks_and_seals(qtbot: Any, x_display: Display, tmp_path: Path) -> None:
    controller = RecordingController()
    phases: list[str] = []
    controller.phase_changed.connect(phases.append)
    plan = Plan(
        out=tmp_path,
        task={"id": "t-1", "title": "Demo", "instruction": "", "expert": "e-1", "consent": True},
        audio=False,
    )
    controller.start(plan, HOTKEYS)
    qtbot.waitUntil(lambda: controller.phase == Phase.RECORDING, timeout=10_000)
    qtbot.wait(600)
    controller.relay("marker")  # what the input filter calls when the hotkey is pressed anywhere
    qtbot.waitUntil(lambda: controller.markers == 1, timeout=2000)
    controller.relay("pause")
    qtbot.waitUntil(lambda: controller.phase == Phase.PAUSED, timeout=2000)
    paused_at = controller.recorded_s()
    qtbot.wait(400)
    assert controller.recorded_s() == paused_at  # the clock stands still while paused
    with qtbot.waitSignal(controller.notice, timeout=1000) as notice:
        controller.marker("while paused")  # refused: a marker marks a moment of the recording
    assert "resume first" in notice.args[0] and controller.markers == 1
    controller.toggle_pause()
    controller.marker("a note")
    qtbot.wait(400)
    assert controller.busy
    with qtbot.waitSignal(controller.sealed, timeout=30_000) as sealed:
        controller.stop()
    bundle = Path(sealed.args[0])
    assert phases == ["starting", "recording", "paused", "recording", "sealing", "review"]
    assert validate_bundle(str(bundle), deep=True).findings == []
    with BundleReader(bundle) as b:
        markers = [(str(m.kind), m.text) for m in b.markers()]
        assert b.manifest["task"]["id"] == "t-1"
    assert ("step", None) in markers and ("step", "a note") in markers, markers
    assert ("step", "while paused") not in markers
    controller.reset()
    assert controller.phase == Phase.IDLE and not controller.busy


def test_controller_says_why_it_cannot_start(qtbot: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    controller = RecordingController()
    with qtbot.waitSignal(controller.failed, timeout=10_000) as failed:
        controller.start(Plan(out=tmp_path, task={}, audio=False), HOTKEYS)
    assert "no X display" in failed.args[0]
    assert controller.phase == Phase.IDLE


# --- the uploads panel on the real embedded store ------------------------------------------------------
@pytest.fixture
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No store settings and no AWS environment: the app's uploads use the embedded store under tmp_path."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAJREC_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("own_store")
def test_uploads_panel_shows_progress_failure_retry_and_pause(qtbot: Any, tmp_path: Path) -> None:
    from recorder.app.uploads import UploadService, UploadsPanel
    from tests.helpers.bundles import make_bundle

    service = UploadService()
    service.open()  # no settings: the embedded store, started here on the GUI thread
    panel = UploadsPanel(service)
    qtbot.addWidget(panel)
    try:
        assert service.url == "s3://trajectories" and panel.table.rowCount() == 0 and not panel.empty.isHidden()
        good = make_bundle(tmp_path / "b", "good-session", {"screen/video.mp4": 3_000_000})
        bad = make_bundle(tmp_path / "b", "bad-session", {"screen/video.mp4": 2000})
        service.submit(good)
        service.submit(bad)
        (bad / "screen/video.mp4").write_bytes(b"y" * 2000)  # changed after it was queued: refused
        qtbot.waitUntil(
            lambda: (
                {r.session_id: r.state for r in service.rows()} == {"good-session": "done", "bad-session": "failed"}
            ),
            timeout=30_000,
        )
        panel.refresh()
        cells = {panel.table.item(i, 0).text(): i for i in range(panel.table.rowCount())}
        good_row, bad_row = cells["good-session"], cells["bad-session"]
        assert panel.table.item(good_row, 1).text() == "Uploaded"
        assert "verified" in panel.table.item(good_row, 5).text()
        assert panel.table.item(bad_row, 1).text() == "Failed"
        assert "does not match its SHA-256" in panel.table.item(bad_row, 5).text()
        retry = panel.table.cellWidget(bad_row, 6)
        assert retry is not None and retry.text() == "Retry"
        assert panel.summary.text() == "1 failed: see why in its row, then Retry"  # not "Everything is uploaded"
        assert (tmp_path / "data" / "store" / "trajectories" / "good-session" / "manifest.json").is_file()
        panel.pause_button.click()
        assert service.paused and panel.pause_button.text() == "Resume uploads"
        panel.pause_button.click()
        assert not service.paused
    finally:
        service.close()


def test_the_qt_binding_keeps_none_alive(qtbot: Any) -> None:
    """PySide6 6.12.0 (abi3, Python < 3.12) dropped a reference to None on every void call; the app then
    aborted after minutes of use. Whatever version is installed must not."""
    import sys

    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
    assert sys.getrefcount(None) >= before - 50


# --- crash recovery, closing while recording, settings ---------------------------------------------------
def test_the_app_offers_to_recover_a_crashed_session(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from recorder.app.main import crashed_sessions, offer_repair
    from recorder.sealing.synthetic import SyntheticSpec, synthesize_live

    out = tmp_path / "bundles"
    synthesize_live(
        out / ".crashed-1.live",
        SyntheticSpec(duration_s=3, width=160, height=120, seed=2),
        session_id="crashed-1",
        stop=False,
    )  # no stop anchor: what a crash leaves
    assert crashed_sessions(out) == [out / ".crashed-1.live"]
    asked: list[str] = []

    def answer(_parent: Any, _title: str, text: str, *_args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    offer_repair(None, out)
    qtbot.waitUntil(lambda: (out / "crashed-1" / "manifest.json").is_file(), timeout=20_000)
    assert "1 recording was interrupted" in asked[0]
    report = validate_bundle(str(out / "crashed-1"), deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"]
    qtbot.waitUntil(lambda: not (out / ".crashed-1.live").exists(), timeout=5000)  # sealed: its live dir goes
    offer_repair(None, out)  # the next launch
    assert len(asked) == 1  # is not asked again
    synthesize_live(
        out / ".crashed-2.live", SyntheticSpec(duration_s=1, width=160, height=120), session_id="crashed-2", stop=False
    )
    (out / "crashed-2").mkdir()  # sealed by `trajrec repair`, which leaves the live directory as it is
    assert crashed_sessions(out) == []


def test_recovery_at_launch_is_contained_against_hostile_live_directories(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live directory that is a link to another folder is not offered; one whose session.json names a folder
    outside the recordings folder is refused with a plain-text warning; nothing is written outside."""
    from PySide6.QtWidgets import QMessageBox

    import recorder.app.dialogs as dialogs
    from recorder.app.main import crashed_sessions, offer_repair
    from recorder.sealing.synthetic import SyntheticSpec, synthesize_live
    from trajrec import format as fmt

    out = tmp_path / "bundles"
    elsewhere = tmp_path / "elsewhere"
    synthesize_live(elsewhere / "live", SyntheticSpec(duration_s=1, width=96, height=64), session_id="x", stop=False)
    out.mkdir()
    (out / ".linked.live").symlink_to(elsewhere / "live")
    hostile = out / ".hostile.live"
    synthesize_live(hostile, SyntheticSpec(duration_s=1, width=96, height=64), session_id="h", stop=False)
    session = json.loads((hostile / fmt.LIVE_SESSION).read_text())
    session["session_id"] = "../../<b>escape</b>"
    (hostile / fmt.LIVE_SESSION).write_text(json.dumps(session))
    assert crashed_sessions(out) == [hostile]

    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(dialogs, "warn", lambda _parent, _title, text: warned.append(text))
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    offer_repair(None, out)
    qtbot.waitUntil(lambda: bool(warned), timeout=20_000)
    assert "session_id" in warned[0] and "nothing was sealed" in warned[0]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


def test_closing_while_recording_asks_first(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtGui import QCloseEvent
    from PySide6.QtWidgets import QMessageBox

    from recorder.app.window import MainWindow

    window = MainWindow(start_uploads=False)
    qtbot.addWidget(window)
    window.controller.phase = Phase.RECORDING  # as if recording (no session: the answer is No)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.No)
    event = QCloseEvent()
    window.closeEvent(event)
    assert not event.isAccepted()
    window.controller.phase = Phase.IDLE
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()


def test_settings_dialog_saves_store_and_preferences_or_says_what_is_wrong(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recorder.app.dialogs import SettingsDialog
    from recorder.dirs import uploader_dirs
    from uploader.config import load_config

    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(tmp_path / "cfg"))
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    settings = AppSettings.load()
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.embedded.isChecked()  # nothing configured: the local store
    assert dialog.when.text() == "Changes apply at once: nothing needs a restart."
    assert "apply from the next recording" in SettingsDialog(settings, recording=True).when.text()
    from PySide6.QtCore import Qt

    pause = dialog.hotkeys["pause"]
    assert pause.chord() == "ctrl+alt+p"  # shown as set
    pause.clear()
    qtbot.keyClick(pause, Qt.Key.Key_P)  # hotkeys are set by pressing them
    assert pause.chord() == "p"
    dialog.save()
    assert "alone would be taken from every application" in dialog.error.text()
    assert not (tmp_path / "cfg" / "store.toml").exists()
    pause.clear()
    qtbot.keyClick(pause, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert pause.chord() == "ctrl+alt+m"
    dialog.save()
    assert "ctrl+alt+m is already the pause hotkey" in dialog.error.text()  # two actions, one chord
    pause.clear()
    qtbot.keyClick(pause, Qt.Key.Key_F8)
    assert pause.chord() == "f8"
    dialog.deny_titles.setPlainText("(unclosed")
    dialog.save()
    assert "not regular expressions" in dialog.error.text()
    dialog.deny_apps.setPlainText("Slack\n\n  signal  ")
    dialog.deny_titles.setPlainText(r"\bpayroll\b")
    dialog.embedded.setChecked(False)
    dialog.endpoint.setText("https://s3.example.com")
    dialog.bucket.setText("lab-trajectories")
    dialog.prefix.setText("team-a")
    dialog.fps.setValue(15)
    dialog.save()
    assert dialog.error.text() == ""
    store = load_config(path=uploader_dirs().settings)
    assert (store.bucket, store.prefix, store.endpoint_url, store.embedded) == (
        "lab-trajectories",
        "team-a",
        "https://s3.example.com",
        False,
    )
    again = AppSettings.load()
    assert (again.hotkeys["pause"], again.fps) == ("f8", 15.0)
    assert (again.deny_apps, again.deny_titles) == (["Slack", "signal"], [r"\bpayroll\b"])
    deny = again.deny_list({"deny_list": {"apps": ["zoom"]}})  # the defaults, the expert's, a lab's task file
    assert deny.denies("slack", "x") and deny.denies("zoom", "x") and deny.denies("KeePassXC", "x")
    assert deny.denies("libreoffice", "Payroll.ods") and not deny.denies("libreoffice", "Thesis.odt")


def test_a_task_file_may_add_to_the_deny_list(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(
        json.dumps({"id": "hr-1", "title": "Payroll", "deny_list": {"apps": ["Slack"], "titles": ["salary"]}})
    )
    assert load_task(tmp_path / "t.json").deny_list == {"apps": ["Slack"], "titles": ["salary"]}
    (tmp_path / "bad.json").write_text(json.dumps({"id": "hr-1", "title": "Payroll", "deny_list": {"apps": "Slack"}}))
    with pytest.raises(TaskFileError, match="deny_list"):
        load_task(tmp_path / "bad.json")


def test_the_recording_screen_says_when_a_private_window_is_handled(qtbot: Any) -> None:
    from recorder.app.controller import RecordingController
    from recorder.app.recording import RecordingPage

    controller = RecordingController()
    page = RecordingPage(controller)
    qtbot.addWidget(page)
    page.show()
    controller.private_now.emit("focused")
    assert page.private_label.isVisible() and "nothing is being recorded" in page.private_label.text()
    controller.private_now.emit("masked")
    assert "blanked out" in page.private_label.text()
    controller.private_now.emit("")
    assert not page.private_label.isVisible()
    controller.keys_hidden_changed.emit(True)
    assert page.hide_button.isChecked() and "hidden" in page.hide_button.text()


def test_a_300_character_title_leaves_every_screen_within_1280x720(
    qtbot: Any, settings: AppSettings, tmp_path: Path
) -> None:
    from PySide6.QtCore import QPoint, QRect

    from recorder.app import threads
    from recorder.app.window import MainWindow
    from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
    from tests.helpers.bundles import edit_manifest

    title = ("Fit a mixed-effects model to the clinic data and explain the residuals " * 5)[:300]
    bundle, _ = synthesize_bundle(tmp_path / "b", SyntheticSpec(duration_s=2.0))
    edit_manifest(bundle, lambda m: m["task"].update(title=title))
    window = MainWindow(settings, start_uploads=False)
    qtbot.addWidget(window)
    window.show()
    window.setup.task_title.setText(title)
    window.recording.show_task({"id": "t-long", "title": title}, settings.hotkeys)
    with qtbot.waitSignal(window.review.loaded, timeout=8000):
        window.review.load(bundle)
    window.stack.setCurrentWidget(window.review)
    for page in (window.setup, window.recording, window.review, window.uploads_panel):
        window.stack.setCurrentWidget(page)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 720, (type(page).__name__, hint)
    window.resize(1280, 720)
    window.stack.setCurrentWidget(window.review)
    qtbot.waitUntil(lambda: window.width() <= 1280)
    button = window.review.submit_button
    top_left = button.mapTo(window, QPoint(0, 0))
    assert QRect(0, 0, window.width(), window.height()).contains(QRect(top_left, button.size()))
    assert window.review.task_label.toolTip() == f"{title}  ·  {window.review.data.session_id}"
    window.review.shutdown()
    qtbot.waitUntil(lambda: not threads.busy(), timeout=8000)


@pytest.mark.usefixtures("own_store")
def test_a_store_change_applies_at_once_to_checks_and_to_waiting_and_failed_uploads(qtbot: Any, tmp_path: Path) -> None:
    from recorder.app.uploads import UploadService
    from recorder.dirs import uploader_dirs
    from tests.helpers.bundles import make_bundle
    from uploader.config import StoreConfig, save_config
    from uploader.queue import enqueue_bundle

    service = UploadService()
    service.open()  # no settings: the embedded store
    try:
        assert service.check() == "s3://trajectories"
        service.set_paused(True)
        service.submit(make_bundle(tmp_path / "b", "waiting-session", {"screen/video.mp4": 5000}))
        failed = make_bundle(tmp_path / "b", "failed-session", {"screen/video.mp4": 5000})
        service.submit(failed)
        (row,) = [r for r in service.rows() if r.session_id == "failed-session"]
        service.ledger.set_state(row.id, "failed", reason="the old store said no")
        save_config(StoreConfig(bucket="trajectories", prefix="lab-b", embedded=True), uploader_dirs().settings)
        service.reopen()  # what the Settings dialog does when the store settings changed
        assert service.check() == "s3://trajectories/lab-b"
        qtbot.waitUntil(  # both go to the new store: the one waiting, and the one that failed on the old store
            lambda: (
                {(r.session_id, r.dest, r.state) for r in service.rows()}
                == {
                    ("waiting-session", "s3://trajectories/lab-b", "queued"),
                    ("failed-session", "s3://trajectories/lab-b", "queued"),
                }
            ),
            timeout=10_000,
        )
        service.set_paused(False)
        qtbot.waitUntil(lambda: all(r.state == "done" for r in service.rows()), timeout=30_000)
        store = tmp_path / "data" / "store" / "trajectories"
        assert (store / "lab-b" / "waiting-session" / "manifest.json").is_file()
        assert (store / "lab-b" / "failed-session" / "manifest.json").is_file()
        assert not (store / "waiting-session").exists()
        other = make_bundle(tmp_path / "b", "cli-session", {"screen/video.mp4": 100})
        row, _ = enqueue_bundle(service.ledger, other, StoreConfig(bucket="elsewhere"))  # as `trajrec upload` may
        service.ledger.set_state(row.id, "failed", reason="elsewhere said no")
        service.retry(row.id)  # Retry sends it to the store the settings name now
        assert {r.session_id: r.dest for r in service.rows()}["cli-session"] == "s3://trajectories/lab-b"
    finally:
        service.close()


def test_tab_leaves_the_instruction_field_and_is_never_typed(qtbot: Any, settings: AppSettings) -> None:
    from PySide6.QtCore import Qt

    page = SetupPage(settings)
    qtbot.addWidget(page)
    page.show()
    page.instruction.setFocus()
    qtbot.waitUntil(page.instruction.hasFocus)
    qtbot.keyClicks(page.instruction, "line one")
    qtbot.keyClick(page.instruction, Qt.Key.Key_Tab)
    assert "\t" not in page.instruction.toPlainText() and not page.instruction.hasFocus()
