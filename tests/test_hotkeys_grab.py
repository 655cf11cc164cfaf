"""The recorder's hotkeys act on the recorder alone: pressed while another application has the focus, they never
reach it (a passive key grab), and neither the hotkey nor its modifier presses are in the trajectory. Logic of
the input guard's retraction, then the real recorder on Xvfb with a key-logging window in another process and
real injected input (XTEST through xdotool)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import trajrec
from recorder.capture.exclusion import Hotkey, OwnInputFilter
from recorder.platform import DummyHotkeyGrab
from recorder.privacy.guard import HOLD_NS, HotkeyChord, InputGuard, modifier_of
from recorder.privacy.state import PrivacyState
from recorder.session import Session
from tests.helpers.harness import Display, wait_until
from tests.helpers.sessions import desktop_config
from trajrec import format as fmt

K = fmt.EventKind


def key(t: int, kind: fmt.EventKind, name: str, code: int) -> fmt.InputEvent:
    return fmt.InputEvent(t_ns=t, seq=t, kind=kind, key=name, scancode=code)


def test_modifier_names() -> None:
    assert [modifier_of(k) for k in ("ctrl_l", "ctrl", "alt_r", "alt_gr", "shift_r", "cmd", "a", None)] == [
        "ctrl", "ctrl", "alt", "alt_gr", "shift", "super", None, None,
    ]  # fmt: skip


def test_a_hotkeys_modifier_presses_still_held_back_are_left_out_with_their_releases() -> None:
    guard = InputGuard(PrivacyState())
    ms = 1_000_000
    out = []
    out += guard.offer(key(0, K.KEY_DOWN, "shift", 50), 0)  # shift typed before, released: the expert's
    out += guard.offer(key(10 * ms, K.KEY_UP, "shift", 50), 10 * ms)
    out += guard.offer(key(100 * ms, K.KEY_DOWN, "ctrl_l", 37), 100 * ms)
    out += guard.offer(key(120 * ms, K.KEY_DOWN, "alt_l", 64), 120 * ms)
    guard.retract(HotkeyChord(150 * ms, frozenset({"ctrl", "alt"})))  # ctrl+alt+m: the m itself never came
    out += guard.offer(key(200 * ms, K.KEY_UP, "alt_l", 64), 200 * ms)
    out += guard.offer(key(210 * ms, K.KEY_UP, "ctrl_l", 37), 210 * ms)
    out += guard.offer(key(300 * ms, K.KEY_DOWN, "ctrl_l", 37), 300 * ms)  # a later ctrl+c is the expert's
    out += guard.offer(key(310 * ms, K.KEY_UP, "ctrl_l", 37), 310 * ms)
    out += guard.drain()
    assert [(e.t_ns // ms, e.key) for e in out if isinstance(e, fmt.InputEvent)] == [
        (0, "shift"), (10, "shift"), (300, "ctrl_l"), (310, "ctrl_l"),
    ]  # fmt: skip
    assert guard.retracted == 2 and guard.dropped == 0


def test_a_modifier_held_longer_than_the_hold_keeps_both_its_press_and_release() -> None:
    guard = InputGuard(PrivacyState())
    out = guard.offer(key(0, K.KEY_DOWN, "ctrl_l", 37), 0)
    out += guard.offer(key(HOLD_NS + 1, K.KEY_DOWN, "a", 38), HOLD_NS + 1)  # the ctrl press is written now
    guard.retract(HotkeyChord(HOLD_NS + 2, frozenset({"ctrl"})))
    out += guard.offer(key(HOLD_NS + 3, K.KEY_UP, "ctrl_l", 37), HOLD_NS + 3)
    out += guard.drain()
    assert [e.key for e in out if isinstance(e, fmt.InputEvent)] == ["ctrl_l", "a", "ctrl_l"]


def test_refused_chords_are_reported_in_words() -> None:
    grab = DummyHotkeyGrab(refuse={"alt+ctrl+p"})
    refused = grab.grab([("p", frozenset({"ctrl", "alt"})), ("m", frozenset({"ctrl", "alt"}))])
    assert refused == ["alt+ctrl+p (another application holds it)"] and len(grab.grabbed) == 1


KEYLOGGER = """
import json, sys
from Xlib import X, XK, display
d = display.Display()
s = d.screen()
w = s.root.create_window(0, 0, 400, 300, 0, s.root_depth, X.InputOutput, X.CopyFromParent,
                         background_pixel=s.white_pixel, event_mask=X.KeyPressMask | X.ExposureMask)
w.set_wm_class("keylog", "Keylog")
w.set_wm_name("keylog")
w.map()
d.sync()
w.set_input_focus(X.RevertToParent, X.CurrentTime)
d.sync()
print(json.dumps({"ready": True}), flush=True)
while True:
    e = d.next_event()
    if e.type == X.KeyPress:
        sym = d.keycode_to_keysym(e.detail, 0)
        print(json.dumps({"key": XK.keysym_to_string(sym), "state": e.state}), flush=True)
"""


@pytest.mark.x11
def test_a_hotkey_pressed_in_another_application_reaches_only_the_recorder(x_display: Display, tmp_path: Path) -> None:
    typed: list[str | None] = []
    proc = subprocess.Popen(
        [sys.executable, "-c", KEYLOGGER], env={"DISPLAY": x_display.name, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    hits: list[str] = []
    own = OwnInputFilter({"marker": "ctrl+alt+m", "pause": "ctrl+alt+p"}, on_hotkey=hits.append)
    config = desktop_config(tmp_path, x_display, "hotkeys", fps=5, exclude_input=own)
    session = Session(config)
    session.start()
    try:
        assert session.hotkey_problems == []
        time.sleep(0.5)
        xdo = ["xdotool"]
        subprocess.run([*xdo, "type", "--delay", "40", "ab"], env=x_display.env, check=True)
        time.sleep(0.3)
        subprocess.run([*xdo, "key", "--delay", "60", "ctrl+alt+m"], env=x_display.env, check=True)
        time.sleep(0.3)
        subprocess.run([*xdo, "type", "--delay", "40", "cd"], env=x_display.env, check=True)
        wait_until(lambda: hits == ["marker"], "the recorder heard the hotkey", timeout=5)
        time.sleep(0.8)
    finally:
        bundle = session.stop()
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    typed = [json.loads(line)["key"] for line in out.splitlines() if line.strip()]
    # the m of ctrl+alt+m never reached the focused window; its ctrl and alt did (pressed alone, they type nothing)
    assert [k for k in typed if k is not None] == ["a", "b", "c", "d"] and typed.count(None) == 2, typed
    with trajrec.open(bundle) as b:
        events = b.event_records()
    keys = [(e.kind, e.key) for e in events if e.kind in (K.KEY_DOWN, K.KEY_UP)]
    assert [k for kind, k in keys if kind == K.KEY_DOWN] == ["a", "b", "c", "d"], keys  # no ctrl, alt or m
    assert len(keys) == 8
    assert Hotkey.parse("ctrl+alt+m") in own.hotkeys


@pytest.mark.x11
def test_a_chord_another_application_holds_is_refused_in_the_settings(x_display: Display) -> None:
    from Xlib import XK, X  # type: ignore[import-untyped]
    from Xlib import display as xdisplay

    from recorder.app.keys import hotkey_problems

    other = xdisplay.Display(x_display.name)  # another application, holding ctrl+alt+y
    root = other.screen().root
    keycode = other.keysym_to_keycode(XK.string_to_keysym("y"))
    for lock in (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask):
        root.grab_key(keycode, X.ControlMask | X.Mod1Mask | lock, False, X.GrabModeAsync, X.GrabModeAsync)
    other.sync()
    try:
        keys = {"pause": "ctrl+alt+y", "marker": "ctrl+alt+m"}
        assert hotkey_problems(keys) == ["pause: alt+ctrl+y is taken by another application"]
        assert hotkey_problems(keys, held={"pause": "ctrl+alt+y"}) == []  # in use by this app: not grabbed again
        assert hotkey_problems({"pause": "ctrl+alt+u", "marker": "ctrl+alt+m"}) == []  # free: released again
        assert hotkey_problems({"pause": "ctrl+alt+u"}) == []
    finally:
        other.close()
