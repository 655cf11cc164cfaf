"""The deny-list: while a denied window (a password manager, a private browser window) has the focus nothing is
recorded: no input, no frame, no window record; the span is a privacy gap in the manifest, and the window's
title is in no file. Logic on its own, then the real recorder on Xvfb with real windows and injected input."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import trajrec
from recorder.errors import UsageError
from recorder.privacy.denylist import DenyList
from recorder.session import Session
from recorder.writers.log import read_live_log
from tests.helpers.harness import Display
from tests.helpers.sessions import desktop_config
from tests.helpers.xclient import XClient, x_keepalive
from trajrec import format as fmt


@pytest.mark.parametrize(
    ("app", "title", "denied"),
    [
        ("KeePassXC", "vault.kdbx - KeePassXC", True),
        ("keepassxc", "Passwords", True),  # by its class, whatever the title
        ("firefox", "Bank — Mozilla Firefox Private Browsing", True),
        ("Google-chrome", "New Incognito tab - Google Chrome", True),
        ("firefox", "Docs — Mozilla Firefox", False),
        ("xterm", "~/project: bash", False),
    ],
)
def test_defaults_deny_password_managers_and_private_windows(app: str, title: str, denied: bool) -> None:
    assert DenyList().denies(app, title) is denied


def test_a_lab_extends_the_list_and_the_manifest_fingerprint_changes() -> None:
    base = DenyList()
    lab = DenyList.from_json({"apps": ["Slack"], "titles": [r"\bpayroll\b"]}, base)
    assert lab.denies("slack", "general") and lab.denies("libreoffice", "Payroll 2026.ods")
    assert not base.denies("slack", "general") and len(lab) == len(base) + 2 and lab.sha256 != base.sha256
    with pytest.raises(UsageError, match="not regular expressions"):
        DenyList.from_json({"titles": ["(unclosed"]})


@pytest.fixture
def xclient(x_display: Display) -> Iterator[XClient]:
    with x_keepalive(x_display.name):
        c = XClient(x_display.name)
        try:
            yield c
        finally:
            c.close()


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=30)


@pytest.mark.x11
@pytest.mark.slow
def test_a_focused_denied_window_is_a_gap_with_no_input_no_frames_and_no_title(
    xclient: XClient, x_display: Display, tmp_path: Path
) -> None:
    notes = xclient.window("Gedit", "notes.txt - gedit", 0, 0, 600, 400)
    vault = xclient.window("KeePassXC", "vault.kdbx - KeePassXC", 640, 0, 600, 400)  # denied by its class
    bank = xclient.window("firefox", "My Bank — Mozilla Firefox Private Browsing", 0, 420, 600, 280)  # by title
    config = desktop_config(tmp_path, x_display, "deny")
    xclient.focus(notes)
    session = Session(config)
    session.start()
    try:
        time.sleep(0.5)
        xdotool("type", "--delay", "30", "hello")
        time.sleep(0.7)
        xclient.focus(vault)
        time.sleep(0.4)
        xdotool("type", "--delay", "30", "s3cret")
        xdotool("mousemove", "900", "200", "click", "1")
        time.sleep(0.7)
        xclient.focus(notes)
        time.sleep(0.7)
        xdotool("type", "--delay", "30", "bye")
        time.sleep(0.7)
        xclient.focus(bank)
        time.sleep(0.4)
        xdotool("type", "--delay", "30", "pin1234")
        time.sleep(0.7)
        xclient.focus(notes)
        time.sleep(0.7)
    finally:
        bundle = session.stop()

    with trajrec.open(bundle) as b:
        events = b.event_records()
        windows = b.window_records()
        frames = b.frame_times()
        m = b.manifest
    typed = "".join(e.char or "" for e in events if e.kind == fmt.EventKind.KEY_DOWN)
    assert typed == "hellobye", typed
    assert not any(e.kind == fmt.EventKind.DOWN for e in events)  # the click into the vault is gone too
    gaps = [s for s in m["privacy"]["spans"] if s["kind"] == "deny-list"]
    assert len(gaps) == m["privacy"]["gaps"] == 2
    assert m["privacy"]["gap_ns"] == sum(g["end_ns"] - g["start_ns"] for g in gaps) > 2 * 500_000_000
    for g in gaps:
        assert not any(g["start_ns"] <= t <= g["end_ns"] for t in frames)
        assert not any(g["start_ns"] <= e.t_ns <= g["end_ns"] for e in events)
    gap = gaps[0]
    assert {w.app for w in windows} == {"Gedit"}
    blob = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    blob += repr(read_live_log(bundle / fmt.RAW_LOG).records).encode()
    for secret in (b"vault.kdbx", b"KeePassXC", b"s3cret", b"My Bank", b"Private Browsing", b"pin1234"):
        assert secret not in blob
    # while the notes had the focus, the vault beside them was filled in every frame before encoding
    after = [t for t in frames if gap["end_ns"] < t < gaps[1]["start_ns"]]
    with trajrec.open(bundle) as b:
        for t in (frames[0], after[-1]):
            rgb = b.frame_at(int(t))
            assert rgb[200, 300].min() > 200  # the notes window: white
            assert abs(int(rgb[200, 940].mean()) - 48) <= 6  # the vault: filled
            assert abs(int(rgb[560, 300].mean()) - 48) <= 6  # the private window: filled
    assert m["privacy"]["masked_frames"] > 0
    report = trajrec.validate(bundle, deep=True)
    assert report.valid and report.findings == [], report.findings


def test_a_denied_window_is_filled_only_where_it_shows() -> None:
    import numpy as np

    from recorder.privacy.mask import FILL_BGRA, mask_frame

    image = np.full((100, 200, 4), 255, np.uint8)
    stack = [((50, 0, 100, 100), True), ((100, 50, 200, 100), False)]  # the vault, then a window above it
    filled = mask_frame(image, (10, 0), stack)  # the frame starts at x=10 of the desktop
    hidden = (image == FILL_BGRA).all(axis=2)
    assert filled == hidden.sum() == 100 * 50 + 50 * 50  # the vault's columns 40..140, less the window's corner
    assert hidden[10, 40] and hidden[10, 139] and not hidden[10, 140] and not hidden[60, 100] and hidden[60, 89]
    assert mask_frame(image, (0, 0), [((0, 0, 10, 10), False)]) == 0  # nothing denied: untouched


@pytest.mark.x11
def test_the_recorders_own_windows_never_reach_the_video(xclient: XClient, x_display: Display, tmp_path: Path) -> None:
    from recorder.capture.exclusion import OwnInputFilter, OwnWindows, Rect

    xclient.window("Trajrec", "Trajectory Recorder", 100, 100, 300, 200)  # stands in for the app's control
    xclient.window("Gedit", "notes.txt - gedit", 500, 100, 300, 200)
    own = OwnWindows()
    own.publish([Rect(100, 100, 300, 200)], focused=False)  # what the app publishes from its GUI thread
    config = desktop_config(tmp_path, x_display, "own", exclude_input=OwnInputFilter(windows=own))
    session = Session(config)
    session.start()
    try:
        time.sleep(0.8)
        own.publish([Rect(100, 400, 300, 200)], focused=False)  # the app's window moved
        xclient.window("Trajrec", "Trajectory Recorder", 100, 400, 300, 200)
        time.sleep(0.8)
    finally:
        bundle = session.stop()
    with trajrec.open(bundle) as b:
        frames = b.frame_times()
        first, last = b.frame(0), b.frame(len(frames) - 1)
        m = b.manifest
    assert abs(int(first[200, 250].mean()) - 48) <= 6  # the app's window: filled
    assert first[200, 650].min() > 200  # the other window: as it is
    assert abs(int(last[500, 250].mean()) - 48) <= 6 and last[200, 250].min() > 200  # it moved: so did the fill
    assert m["privacy"]["masked_frames"] == 0  # the app's own windows are not a privacy measure
