"""A real Chromium incognito window is recognised by what the browser itself says (its accessibility tree names
the window "… (Incognito)"; its X title, class and pid are a normal window's) and never recorded: opened
mid-recording next to a normal window of the same browser process, typed into and clicked, it is in no frame
(its red page is in none), its keys and its title are in no file, and its focus is a deny-list privacy gap.

Real parts: Xvfb, openbox, a private session bus with the accessibility bus, Debian's Chromium, XTEST input
(xdotool) and the real recorder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest

import trajrec
from recorder.platform.x11 import X11WindowBackend
from recorder.session import Session
from tests.helpers.a11y import SessionBus, child_env, openbox
from tests.helpers.harness import Display, wait_until
from tests.test_privacy_desktop import config, desktop, everything, xdotool  # noqa: F401  (desktop: a fixture)
from trajrec import format as fmt

pytestmark = [pytest.mark.x11, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
NOTES, RECIPES = "Notes", "Recipes"  # the pages' titles: the private one's is in no file
WORD, SECRET = "plainword", "incognito7"
BROWSER_FLAGS = (
    "--no-sandbox", "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--password-store=basic",
    "--disable-dev-shm-usage", "--window-size=600,400",
)  # fmt: skip


def page(title: str, colour: str) -> str:
    return f"data:text/html,<title>{title}</title><body%20style=background:{colour}><input%20autofocus>"


def test_a_chromium_incognito_window_is_never_recorded(
    desktop: SessionBus,  # noqa: F811
    x_display: Display,
    tmp_path: Path,
) -> None:
    log = tmp_path / "chromium.log"
    procs: list[subprocess.Popen[bytes]] = []

    def browser(*extra: str) -> None:
        assert CHROMIUM is not None, "chromium is missing: scripts/setup.sh installs it"
        argv = [CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra]
        with log.open("ab") as err:
            env = child_env(desktop.env)
            procs.append(
                subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True
                )
            )

    windows = X11WindowBackend()

    def shown(title: str) -> int | None:
        return next((w.window_id for w in windows.stacked() if w.title.startswith(title + " - ")), None)

    def why() -> str:
        return log.read_text(errors="replace")[-2000:]

    with openbox(x_display, desktop.env):
        session = Session(config(tmp_path / "out", x_display))
        session.start()  # turns accessibility on: the browser started next exposes its tree
        try:
            browser(page(NOTES, "rgb(0,0,255)"))
            wait_until(lambda: shown(NOTES) is not None, f"the normal window ({why()})", timeout=60)
            notes = shown(NOTES)
            xdotool(desktop, "windowmove", str(notes), "0", "0")
            time.sleep(1.0)
            browser("--incognito", page(RECIPES, "rgb(255,0,0)"))  # joins the running browser process
            wait_until(lambda: shown(RECIPES) is not None, f"the incognito window ({why()})", timeout=60)
            recipes = shown(RECIPES)
            xdotool(desktop, "windowmove", str(recipes), "640", "0")
            time.sleep(1.5)
            xdotool(desktop, "mousemove", "940", "250", "click", "1")  # into the incognito page
            time.sleep(0.8)
            xdotool(desktop, "type", "--delay", "40", SECRET)
            time.sleep(0.8)
            xdotool(desktop, "mousemove", "300", "250", "click", "1")  # back to the normal one
            time.sleep(0.8)
            xdotool(desktop, "type", "--delay", "40", WORD)
            time.sleep(1.0)
        finally:
            try:
                bundle = session.stop()
            finally:  # the browser and our X connection go whatever sealing did
                for p in procs:
                    with suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)
                windows.close()

    with trajrec.open(bundle) as b:
        events = b.event_records()
        window_records = b.window_records()
        frames = b.frame_times()
        m = b.manifest
        red = [i for i in range(len(frames)) if _red_pixels(b.frame(i)) > 100]
        last = b.frame(len(frames) - 1)
    typed = "".join(e.char or "" for e in events if e.kind == fmt.EventKind.KEY_DOWN)
    assert typed == WORD, typed  # the secret's keys are gone, the word's are all there
    gaps = [s for s in m["privacy"]["spans"] if s["kind"] == "deny-list"]
    assert gaps and m["privacy"]["gaps"] == len(gaps)
    assert not any(g["start_ns"] <= t <= g["end_ns"] for g in gaps for t in frames)
    assert red == [], f"the incognito page shows in {len(red)} of {len(frames)} frames"
    assert abs(int(last[200, 940].mean()) - 48) <= 6  # beside the focused normal window: filled
    assert last[200, 300, 2] > 200 and last[200, 300, 0] < 60  # the normal page: blue (RGB)
    assert any(w.title.startswith(NOTES) for w in window_records)
    assert not any(RECIPES in w.title for w in window_records)
    blob = everything(bundle)
    for secret in (SECRET, RECIPES, "Incognito"):
        assert secret.encode() not in blob, secret
    assert m["privacy"]["masked_frames"] > 0
    report = trajrec.validate(bundle, deep=True)
    assert report.valid, report.findings


def _red_pixels(rgb: np.ndarray) -> int:
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return int(((r > 200) & (g < 60) & (b < 60)).sum())


def test_a_browser_started_before_accessibility_was_on_is_named_in_the_preflight(
    desktop: SessionBus,  # noqa: F811
    x_display: Display,
    tmp_path: Path,
) -> None:
    from recorder.app.setup.preflight import check_privacy
    from recorder.platform import accessibility_on

    log = tmp_path / "chromium.log"
    windows = X11WindowBackend()
    assert not a11y_enabled(desktop)
    argv = [str(CHROMIUM), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", page(NOTES, "white")]
    with openbox(x_display, desktop.env), log.open("ab") as err:
        proc = subprocess.Popen(argv, env=child_env(desktop.env), stdout=err, stderr=err, start_new_session=True)
        try:
            wait_until(lambda: any(w.app == "Chromium" for w in windows.stacked()), "chromium", timeout=60)
            check = check_privacy("ctrl+alt+h")
            assert check.ok is None and "Restart Chromium" in check.message, check
            assert not a11y_enabled(desktop)  # the check put the desktop's setting back
            restore = accessibility_on()  # what the app holds while it is open
            try:
                assert a11y_enabled(desktop)
            finally:
                restore()
            assert not a11y_enabled(desktop)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            windows.close()
    assert check_privacy("ctrl+alt+h").ok is True  # no browser left that cannot be told apart


def a11y_enabled(bus: SessionBus) -> bool:
    from jeepney import DBusAddress, Properties
    from jeepney.io.blocking import open_dbus_connection

    status = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")
    with open_dbus_connection(bus.address) as conn:
        return bool(conn.send_and_get_reply(Properties(status).get("IsEnabled"), timeout=5).body[0][1])
