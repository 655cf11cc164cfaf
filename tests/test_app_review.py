"""The Review screen on a real (synthetic) bundle: loading off the GUI thread, the timeline, the player and its
overlays, playback, trim, marker notes, Submit and Discard, and a screenshot of the finished page."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from recorder.app import theme, threads
from recorder.app.review.data import ReviewData, load_review
from recorder.app.review.screen import ReviewPage
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from tests.helpers.bundles import edit_manifest
from trajrec import format as fmt
from trajrec.reader import BundleReader

NS = 1_000_000_000
WAIT_MS = 8000


@pytest.fixture
def page(qtbot: Any) -> Any:
    p = ReviewPage()
    qtbot.addWidget(p)
    p.resize(1180, 760)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.shutdown()
    qtbot.waitUntil(lambda: not threads.busy(), timeout=WAIT_MS)


def _load(qtbot: Any, page: ReviewPage, path: Path) -> ReviewData:
    with qtbot.waitSignal(page.loaded, timeout=WAIT_MS):
        page.load(path)
    assert page.data is not None
    return page.data


def _shown_at(qtbot: Any, page: ReviewPage, t_ns: int) -> Any:
    """Wait until the player shows the frame rendered for exactly `t_ns`."""
    qtbot.waitUntil(lambda: page.player.current is not None and page.player.current.t_ns == t_ns, timeout=WAIT_MS)
    return page.player.current


def _truth(path: Path) -> dict[str, Any]:
    with BundleReader(path) as r:
        kinds = r.events().column("kind").to_pylist()
        return {
            "frames": len(r.frame_times()),
            "events": len(kinds),
            "downs": kinds.count("down"),
            "key_downs": kinds.count("key_down"),
            "markers": r.markers(),
            "start": r.start_ns,
            "end": r.end_ns,
            "records": r.event_records(),
            "region": r.manifest["streams"]["screen"]["region"],
            "paused": sum(p.end_ns - p.start_ns for p in r.pauses()),
        }


def test_loads_off_the_gui_thread_and_shows_counts(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    seen: list[threading.Thread] = []
    gate = threading.Event()

    def loader(p: Path) -> ReviewData:
        seen.append(threading.current_thread())
        gate.wait(5)
        return load_review(p)

    page.loader = loader
    page.load(path)
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert page.is_loading()  # the GUI thread is free while the bundle opens: the page says so
    assert page.stack.currentIndex() == 0
    with qtbot.waitSignal(page.loaded, timeout=WAIT_MS):
        gate.set()
    assert seen[0] is not threading.main_thread()
    truth = _truth(path)
    flagged = [m for m in truth["markers"] if m.kind in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE)]
    assert flagged and truth["downs"] and truth["key_downs"]
    assert page.counts() == {"frames": truth["frames"], "events": truth["events"], "markers": len(flagged)}
    assert page.stat_labels["frames"].text() == f"{truth['frames']:,}"
    assert page.stat_labels["events"].text() == f"{truth['events']:,}"
    assert page.stat_labels["markers"].text() == str(len(flagged))
    # the time the recording screen's timer counted: pauses shaded on the timeline, not counted
    assert truth["paused"] > 0
    assert page.stat_labels["duration"].text() == f"{(truth['end'] - truth['start'] - truth['paused']) / NS:.1f} s"
    assert "paused (shaded, not counted)" in page.stat_labels["duration"].toolTip()
    from recorder.app.review.player import format_time

    recorded = truth["end"] - truth["start"] - truth["paused"]
    assert page.player.total_label.text() == f"/ {format_time(recorded)}"  # the player counts as the timer did
    page.player.seek(truth["end"])
    assert page.player.time_label.text() == format_time(recorded)
    assert "Synthetic session" in page.task_label.text()
    assert not page.is_loading() and page.stack.currentIndex() == 1
    # the timeline: a tick per click and per key press, a flag per step marker, the pause shaded
    assert len(page.timeline.click_ticks) == truth["downs"]
    assert len(page.timeline.key_ticks) == truth["key_downs"]
    assert [f.t_ns for f in page.timeline.flags] == [m.t_ns for m in flagged]
    assert len(page.timeline.pauses) == 1
    assert page.timeline.envelope is not None and np.abs(page.timeline.envelope).max() > 0.1
    assert len(page.markers.rows) == len(flagged)


def test_a_bundle_that_cannot_be_opened_says_why(qtbot: Any, page: ReviewPage, tmp_path: Path) -> None:
    with qtbot.waitSignal(page.load_failed, timeout=WAIT_MS):
        page.load(tmp_path)
    assert not page.is_loading()
    assert "cannot be opened" in page.waiting_title.text()
    assert str(tmp_path) in page.waiting_text.text()


def test_clicking_a_marker_flag_shows_that_exact_frame(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    data = _load(qtbot, page, path)
    flag = page.timeline.flags[1]
    marker_t = data.markers[flag.index].t_ns
    qtbot.mouseClick(page.timeline, Qt.MouseButton.LeftButton, pos=page.timeline.flag_rect(flag).center().toPoint())
    assert page.player.position() == marker_t
    assert page.timeline.position() == marker_t
    comp = _shown_at(qtbot, page, marker_t)
    with BundleReader(path) as r:
        expected = r.frame_at(marker_t)
    assert expected is not None and comp.raw is not None
    assert np.array_equal(comp.raw, expected)
    assert page.markers.rows[1].property("current") is True
    # a marker row's time jumps too
    first = page.markers.rows[0]
    qtbot.mouseClick(first.time_button, Qt.MouseButton.LeftButton)
    assert page.player.position() == data.markers[first.index].t_ns


def test_pointer_click_and_keys_are_drawn_over_the_frame(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    data = _load(qtbot, page, path)
    truth = _truth(path)
    pointer = [e for e in truth["records"] if e.kind in fmt.POINTER_KINDS]
    # a move that is the last pointer event at its time, well inside the frame
    move = next(
        e
        for i, e in enumerate(pointer[:-1])
        if e.kind == fmt.EventKind.MOVE and pointer[i + 1].t_ns > e.t_ns and 20 < e.x < 280 and 20 < e.y < 180
    )
    ox, oy = truth["region"]["origin"]
    page.player.seek(move.t_ns)
    comp = _shown_at(qtbot, page, move.t_ns)
    assert comp.scale > 1  # the 320x240 sample is enlarged to fit the view
    px, py = comp.to_view(move.x - ox, move.y - oy)
    h, w = comp.image.shape[:2]
    assert 0 <= px < w and 0 <= py < h
    near = (slice(py + 3, py + 14), slice(px + 1, px + 6))  # inside the arrow, just below its tip
    diff = np.abs(comp.image[near].astype(int) - comp.scaled[near].astype(int)).mean()
    assert diff > 30, diff
    assert comp.image[near].mean() > comp.scaled[near].mean()  # a white arrow on a dark desktop
    far = (slice(0, 20), slice(w - 20, w))
    if px < w - 60 or py > 40:
        assert np.array_equal(comp.image[far], comp.scaled[far])
    # a click: a ring around it for a moment after the press, none later
    down = next(e for e in truth["records"] if e.kind == fmt.EventKind.DOWN)
    cx, cy = comp.to_view(down.x - ox, down.y - oy)
    page.player.seek(down.t_ns + 150_000_000)
    comp = _shown_at(qtbot, page, down.t_ns + 150_000_000)
    ring = (slice(max(0, cy - 14), cy + 15), slice(max(0, cx - 14), cx + 15))
    changed = np.abs(comp.image[ring].astype(int) - comp.scaled[ring].astype(int)).sum(axis=2) > 40
    assert changed.sum() > 40
    # keys typed in the last two seconds show as a caption strip at the bottom
    key = data.overlays.key_t[5]
    page.player.seek(int(key))
    comp = _shown_at(qtbot, page, int(key))
    assert data.overlays.caption_at(int(key))
    bottom = (slice(h - 40, h - 10), slice(w // 2 - 20, w // 2 + 20))
    assert not np.array_equal(comp.image[bottom], comp.scaled[bottom])


def test_pointer_positions_are_mapped_from_the_desktop_to_the_video(bundle: Path) -> None:
    def move_region(m: dict[str, Any]) -> None:
        m["environment"]["displays"][0]["origin"] = [100, 50]
        m["streams"]["screen"]["region"]["origin"] = [100, 50]

    edit_manifest(bundle, move_region)
    data = load_review(bundle)
    try:
        ev = next(e for e in data.reader.event_records() if e.kind == fmt.EventKind.MOVE)
        i = int(np.searchsorted(data.overlays.pointer_t, ev.t_ns))
        assert tuple(data.overlays.pointer_xy[i]) == (ev.x - 100, ev.y - 50)  # type: ignore[operator]
    finally:
        data.close()


def test_playing_advances_through_the_recording_and_stops_at_the_end(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    data = _load(qtbot, page, path)
    positions: list[int] = []
    page.player.position_changed.connect(positions.append)
    rendered = page.player.service.rendered if page.player.service else 0
    page.player.set_speed(2.0)
    assert page.player.speed_buttons[2.0].isChecked()
    qtbot.keyClick(page.player.view, Qt.Key.Key_Space)  # Space plays, wherever focus is not typing
    assert page.player.is_playing()
    assert page.player.play_button.accessibleName() == "Pause"
    qtbot.waitUntil(lambda: not page.player.is_playing(), timeout=WAIT_MS)
    assert positions[-1] == data.end_ns
    assert all(a <= b for a, b in itertools.pairwise(positions))
    assert len(set(positions)) > 10
    (p0, p1) = data.pauses[0]
    assert not any(p0 < t < p1 for t in positions)  # nothing was recorded in the pause: skipped
    assert page.player.service is not None and page.player.service.rendered - rendered > 10
    assert page.player.play_button.accessibleName() == "Play"
    assert page.timeline.position() == data.end_ns
    # playing again starts over; Space pauses
    page.player.play()
    qtbot.wait(150)
    page.player.pause()
    assert data.start_ns < page.player.position() < data.end_ns


def test_trim_with_set_trim_and_keys(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    data = _load(qtbot, page, path)
    assert page.trim_range() == (data.start_ns, data.end_ns)
    assert not page.reset_trim_button.isEnabled()
    page.set_trim(data.start_ns + NS // 2, data.end_ns - NS // 2)
    assert page.trim_range() == (data.start_ns + NS // 2, data.end_ns - NS // 2)
    assert page.reset_trim_button.isEnabled() and "Keeping 00:00.5" in page.trim_label.text()
    page.set_trim(data.end_ns + NS, data.start_ns - NS)  # clamped inside the recording, order kept
    s, e = page.trim_range()
    assert data.start_ns <= s < e <= data.end_ns
    page.reset_trim_button.click()
    assert page.trim_range() == (data.start_ns, data.end_ns)
    # keys: the playhead steps a second, [ and ] cut at it
    page.timeline.setFocus()
    page.player.seek(data.start_ns + NS // 4)
    qtbot.keyClick(page.timeline, Qt.Key.Key_Right)
    assert page.player.position() == data.start_ns + NS // 4 + NS
    qtbot.keyClick(page.timeline, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(page.timeline, Qt.Key.Key_Right)
    qtbot.keyClick(page.timeline, Qt.Key.Key_Right)
    qtbot.keyClick(page.timeline, Qt.Key.Key_BracketRight)
    assert page.trim_range() == (data.start_ns + NS // 4 + NS, data.start_ns + NS // 4 + 3 * NS)
    qtbot.keyClick(page.timeline, Qt.Key.Key_Left)
    assert page.player.position() == data.start_ns + NS // 4 + 2 * NS
    # dragging a handle moves that end of the trim
    tl = page.timeline
    y = tl.height() // 2
    start_x = round(tl.x_for(page.trim_range()[0]))
    qtbot.mousePress(tl, Qt.MouseButton.LeftButton, pos=tl.rect().topLeft() + _pt(start_x, y))
    qtbot.mouseMove(tl, pos=_pt(round(tl.x_for(data.start_ns)), y))
    qtbot.mouseRelease(tl, Qt.MouseButton.LeftButton, pos=_pt(round(tl.x_for(data.start_ns)), y))
    assert page.trim_range()[0] == data.start_ns


def _pt(x: int, y: int) -> Any:
    from PySide6.QtCore import QPoint

    return QPoint(x, y)


def test_edited_notes_and_submit(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    data = _load(qtbot, page, path)
    assert page.marker_notes() == {}
    row = page.markers.rows[1]
    row.note.selectAll()
    qtbot.keyClicks(row.note, "opened the log")
    assert page.marker_notes() == {row.index: "opened the log"}
    assert data.markers[row.index].kind == fmt.MarkerKind.STEP
    with qtbot.waitSignal(page.submit_requested, timeout=1000) as sig:
        page.submit_button.click()
    assert sig.args == [path, None, None, {row.index: "opened the log"}]
    page.set_trim(end_ns=data.end_ns - NS)
    with qtbot.waitSignal(page.submit_requested, timeout=1000) as sig:
        page.submit_button.click()
    assert sig.args == [path, None, data.end_ns - NS, {row.index: "opened the log"}]
    row.note.setText(data.markers[row.index].text or "")  # back to what it was: not a change
    assert page.marker_notes() == {}


def test_discard_asks_first(qtbot: Any, page: ReviewPage, sample: Any) -> None:
    path, _ = sample
    _load(qtbot, page, path)
    asked: list[tuple[str, str]] = []

    def refuse(title: str, text: str) -> bool:
        asked.append((title, text))
        return False

    page.confirm = refuse
    with qtbot.assertNotEmitted(page.discard_requested):
        page.discard_button.click()
    assert len(asked) == 1
    title, text = asked[0]
    assert "Discard" in title
    assert "Synthetic session" in text and "input events" in text and "voiceover" in text and "cannot be undone" in text
    page.confirm = lambda title, text: True
    with qtbot.waitSignal(page.discard_requested, timeout=1000) as sig:
        page.discard_button.click()
    assert sig.args == [path]


def test_screenshot_looks_finished(qtbot: Any, page: ReviewPage, tmp_path_factory: Any) -> None:
    theme.apply(QApplication.instance())  # type: ignore[arg-type]
    bundle, _ = synthesize_bundle(
        tmp_path_factory.mktemp("shot"),
        SyntheticSpec(duration_s=8.0, width=1280, height=720, pause=True, audio_gap=True, seed=2),
    )
    page.resize(1280, 820)
    data = _load(qtbot, page, bundle)
    page.jump_to_marker(page.timeline.flags[1].index)
    page.set_trim(data.start_ns + 300_000_000, data.end_ns - 700_000_000)
    t = int(data.overlays.click_t[1]) + 100_000_000
    page.player.seek(t)
    _shown_at(qtbot, page, t)
    out = tmp_path_factory.mktemp("png") / "review.png"
    assert page.grab().save(str(out))
    if os.environ.get("TRAJREC_SCREENSHOT_DIR"):  # keep a copy to look at
        shutil.copy(out, Path(os.environ["TRAJREC_SCREENSHOT_DIR"]) / "review.png")
    img = QImage(str(out)).convertToFormat(QImage.Format.Format_RGB888)
    assert img.width() >= 1280 and img.height() >= 820
    rows = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(img.height(), -1)
    pixels = rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3)
    colours = np.unique(pixels[::4, ::4].reshape(-1, 3), axis=0)
    assert len(colours) > 200  # not a blank or single-colour page


def test_closing_the_page_closes_the_bundle_off_the_gui_thread(qtbot: Any, sample: Any) -> None:
    path, _ = sample
    page = ReviewPage()
    qtbot.addWidget(page)
    page.show()
    data = _load(qtbot, page, path)
    qtbot.waitUntil(lambda: page.player.current is not None, timeout=WAIT_MS)
    closed: list[threading.Thread] = []
    close = data.reader.close

    def spy() -> None:
        closed.append(threading.current_thread())
        close()

    data.reader.close = spy  # type: ignore[method-assign]
    page.player.play()
    page.close()
    assert not page.player.is_playing()
    qtbot.waitUntil(lambda: bool(closed) and not threads.busy(), timeout=WAIT_MS)
    assert closed == [closed[0]] and closed[0] is not threading.main_thread()
    page.shutdown()  # twice is fine
    qtbot.waitUntil(lambda: not threads.busy(), timeout=WAIT_MS)


def test_a_recording_without_voiceover_or_markers(qtbot: Any, page: ReviewPage, tmp_path: Path) -> None:
    bundle, _ = synthesize_bundle(tmp_path, SyntheticSpec(duration_s=1.5, width=160, height=120, audio=False, seed=4))
    data = _load(qtbot, page, bundle)
    assert data.envelope is None and page.timeline.envelope is None
    assert page.counts()["markers"] == 0 and page.markers.empty.isVisibleTo(page)
    asked: list[str] = []

    def refuse(title: str, text: str) -> bool:
        asked.append(text)
        return False

    page.confirm = refuse
    page.discard()
    assert asked and "voiceover" not in asked[0] and "marker" not in asked[0]


def test_review_plays_the_voiceover_in_step_with_the_video(
    qtbot: Any, page: ReviewPage, sample: Any, microphone: Any
) -> None:
    from recorder.capture.audio import AudioSource
    from recorder.clock import SessionClock

    path, _truth_unused = sample
    data = _load(qtbot, page, path)
    assert data.voice is not None and page.voice.volume.isEnabled()
    heard: list[Any] = []
    listener = AudioSource(SessionClock.now_ns, heard.append, samplerate=48_000, blocksize=480)  # the sink's monitor
    listener.start()
    try:
        page.player.seek(data.start_ns)
        page.player.play()
        qtbot.waitUntil(lambda: page.voice.voice is not None and page.voice.voice.playing, timeout=3000)
        qtbot.wait(1200)  # the first second: voice before the pause
        page.player.pause()
        assert page.voice.voice is not None and not page.voice.voice.playing
    finally:
        listener.stop()
    pcm = np.concatenate([c.samples[:, 0] for c in heard]).astype(np.float32) / 32768
    loud = pcm[np.abs(pcm) > 0.02]
    assert len(loud) > 48_000 * 0.3, f"the monitor heard {len(loud)} loud samples"
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    peak_hz = np.argmax(spectrum[1:]) * 48_000 / len(pcm)
    assert abs(peak_hz - 180) < 8, peak_hz  # the synthetic narration's voice
    page.voice.mute_button.click()  # muted: silence
    assert page.voice.voice is not None and page.voice.voice.muted and page.voice.mute_button.text() == "Muted"


# --- privacy: scan for secrets, blur a suggestion, hide a span ------------------------------------------------------
AWS_KEY = "AKIAZ3MHT5QW7XJ2KLPB"


def test_privacy_card_hides_a_marked_span_and_blurs_a_suggested_box(
    qtbot: Any, page: ReviewPage, tmp_path: Path
) -> None:
    spec = SyntheticSpec(duration_s=12.0, width=1280, height=720, audio=True, text=f"export KEY={AWS_KEY}\n")
    bundle, _ = synthesize_bundle(tmp_path, spec)
    data = _load(qtbot, page, bundle)
    t0 = data.start_ns

    # a span marked on the player, then hidden
    page.player.seek(t0 + 1 * NS)
    qtbot.waitUntil(lambda: page.player.position() == t0 + 1 * NS, timeout=WAIT_MS)
    page.privacy.start_button.click()
    assert not page.privacy.hide_button.isEnabled()
    page.player.seek(t0 + 2 * NS)
    qtbot.waitUntil(lambda: page.player.position() == t0 + 2 * NS, timeout=WAIT_MS)
    page.privacy.end_button.click()
    assert page.privacy.hide_button.isEnabled()
    with qtbot.waitSignal(page.loaded, timeout=4 * WAIT_MS):
        page.privacy.hide_button.click()
    with BundleReader(bundle) as r:
        assert [(e["kind"], e["start_ns"], e["end_ns"]) for e in r.manifest["edits"]] == [
            ("hide", t0 + NS, t0 + 2 * NS)
        ]
        ft = r.frame_times()
        assert not ((ft >= t0 + NS) & (ft <= t0 + 2 * NS)).any()

    # a box drawn on the player, filled over a marked span
    for t, button in ((t0 + 4 * NS, page.privacy.start_button), (t0 + 5 * NS, page.privacy.end_button)):
        page.player.seek(t)
        qtbot.waitUntil(lambda t=t: page.player.position() == t and page.player.current is not None, timeout=WAIT_MS)
        button.click()
    page.privacy.draw_button.click()
    view = page.player.view
    assert view.drawing and not page.privacy.fill_button.isEnabled()
    shown = view.image_rect()
    corner = [QPoint(int(shown.left() + shown.width() * f), int(shown.top() + shown.height() * f)) for f in (0.25, 0.5)]
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=corner[0])
    qtbot.mouseMove(view, corner[1])
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=corner[1])
    box = page.privacy.box
    assert box is not None and not view.drawing
    assert all(abs(v - want) <= 8 for v, want in zip(box, (320, 180, 320, 180), strict=True)), box
    with qtbot.waitSignal(page.loaded, timeout=4 * WAIT_MS):
        page.privacy.fill_button.click()
    with BundleReader(bundle) as r:
        filled = r.manifest["edits"][-1]
        assert (filled["kind"], filled["style"], filled["box"], filled["reason"]) == (
            "box",
            "fill",
            list(box),
            "expert",
        )
        assert filled["requested_start_ns"] == t0 + 4 * NS and filled["requested_end_ns"] == t0 + 5 * NS

    # the scan suggests a box over the key on screen; Blur applies it
    page.privacy.start_scan()
    qtbot.waitUntil(lambda: page.privacy.scan_button.isEnabled(), timeout=60_000)
    kinds = [f.kind for f in page.privacy.findings]
    assert "AWS Access Key" in kinds, page.privacy.status.text()
    assert AWS_KEY not in page.privacy.status.text()
    with qtbot.waitSignal(page.loaded, timeout=60_000):
        page.privacy.apply_suggestion(kinds.index("AWS Access Key"))
    with BundleReader(bundle) as r:
        box = r.manifest["edits"][-1]
        assert (box["kind"], box["style"], box["reason"]) == ("box", "blur", "AWS Access Key")


def test_the_quality_card_shows_the_labs_grade_and_what_to_do(qtbot: Any, page: ReviewPage, tmp_path: Path) -> None:
    """The card grades as `trajrec report` does: the built-in policy fails a recording without voiceover and says
    why; a lab's policy.toml in the settings folder replaces it."""
    from recorder.app.review.quality import policy_path
    from trajrec.quality.policy import DEFAULT, load_policy
    from trajrec.quality.report import report

    silent, _ = synthesize_bundle(tmp_path, SyntheticSpec(duration_s=12, width=160, height=120, audio=False, seed=5))
    _load(qtbot, page, silent)
    qtbot.waitUntil(lambda: page.quality.entry is not None, timeout=WAIT_MS)
    with BundleReader(silent) as r:
        expected = report(r, DEFAULT).grade
    assert expected is not None and expected.grade == "fail"
    assert page.quality.badge.text() == "Fail" and "reject" in page.quality.headline.text()
    assert "no voiceover" in page.quality.headline.text()
    assert "record with a microphone" in page.quality.reasons.text()
    lab = policy_path()
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text('name = "lab <b>7</b>"\n[[rule]]\nmetric = "actions.count"\nmin = 1000\ngrade = "warn"\n'
                   'why = "<i>more</i> actions, please"\n')  # fmt: skip
    try:
        page.quality.set_bundle(silent)
        qtbot.waitUntil(lambda: page.quality.badge.text() == "Warn", timeout=WAIT_MS)
        assert page.quality.reasons.text() == "• <i>more</i> actions, please"  # plain text: never markup
        assert page.quality.entry is not None and page.quality.entry.grade is not None
        with BundleReader(silent) as r:
            assert page.quality.entry.grade == report(r, load_policy(lab)).grade
    finally:
        lab.unlink()
