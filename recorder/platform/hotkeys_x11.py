"""The recorder's hotkeys consumed on X11: a passive key grab on the root window for each chord, so a hotkey
pressed while a terminal has the focus reaches the recorder alone (the terminal gets no control character).

The chords are still heard where they always were, by the input listener (XRecord sees every key, grabbed or
not); this module only keeps them from the focused application. Each chord is grabbed with and without the lock
modifiers (Caps Lock, Num Lock), which X counts as modifiers. A chord another client has grabbed already is
refused by the server (BadAccess) and reported, in words. The grab's own connection is drained on a thread of its
own (the server sends it the grabbed key events, which nobody needs).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Sequence
from typing import Any

from Xlib import XK, X  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib import error as xerror

from recorder.errors import BackendUnavailable, CaptureError
from recorder.platform.base import HotkeyGrab, one_line

MASKS = {"shift": X.ShiftMask, "ctrl": X.ControlMask, "alt": X.Mod1Mask, "meta": X.Mod1Mask, "super": X.Mod4Mask}
MASKS["alt_gr"] = X.Mod5Mask
LOCKS = (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)  # Caps Lock, Num Lock: any state of them
KEYSYM_NAMES = {
    "esc": "Escape", "enter": "Return", "tab": "Tab", "space": "space", "backspace": "BackSpace", "delete": "Delete",
    "insert": "Insert", "home": "Home", "end": "End", "page_up": "Prior", "page_down": "Next", "up": "Up",
    "down": "Down", "left": "Left", "right": "Right", "pause": "Pause", "print_screen": "Print",
}  # fmt: skip


def keysym_of(key: str) -> int:
    """The keysym of a hotkey's key name ("p", "f12", "esc"); 0 when X has none."""
    name = KEYSYM_NAMES.get(key, key)
    if len(name) > 1 and name[0] == "f" and name[1:].isdigit():
        name = name.upper()
    return int(XK.string_to_keysym(name))


class X11HotkeyGrab(HotkeyGrab):
    def __init__(self, display_name: str | None = None) -> None:
        try:
            self._d = xdisplay.Display(display_name)
        except (xerror.DisplayError, xerror.ConnectionClosedError, OSError) as e:
            raise BackendUnavailable(f"cannot open the X display ({one_line(e)})") from e
        self._root = self._d.screen().root
        self._grabbed: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="hotkey-grab", daemon=True)
        self._thread.start()

    def grab(self, chords: Sequence[tuple[str, frozenset[str]]]) -> list[str]:
        refused = []
        for key, modifiers in chords:
            chord = "+".join([*sorted(modifiers), key])
            keysym = keysym_of(key)
            keycode = int(self._d.keysym_to_keycode(keysym)) if keysym else 0
            unknown = [m for m in modifiers if m not in MASKS]
            if not keycode or unknown:
                refused.append(f"{chord} (no such key on this keyboard)")
                continue
            mask = 0
            for m in modifiers:
                mask |= MASKS[m]
            catch = xerror.CatchError(xerror.BadAccess)
            for lock in LOCKS:
                self._root.grab_key(keycode, mask | lock, False, X.GrabModeAsync, X.GrabModeAsync, onerror=catch)
            self._d.sync()
            if catch.get_error() is not None:
                for lock in LOCKS:
                    self._root.ungrab_key(keycode, mask | lock)
                self._d.sync()
                refused.append(f"{chord} (another application holds it)")
                continue
            self._grabbed.append((keycode, mask))
        return refused

    def release(self) -> None:
        try:
            for keycode, mask in self._grabbed:
                for lock in LOCKS:
                    self._root.ungrab_key(keycode, mask | lock)
            self._d.sync()
        except (xerror.ConnectionClosedError, OSError) as e:
            raise CaptureError(f"lost the X display while releasing the hotkeys ({one_line(e)})") from e
        finally:
            self._grabbed.clear()
            self._stop.set()
            self._thread.join(2)
            self._d.close()

    def _drain(self) -> None:
        """Read and drop what the server sends this connection (the grabbed key events)."""
        fd = self._d.fileno()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready and not self._stop.is_set():
                    self._events()
            except (OSError, ValueError, xerror.ConnectionClosedError):
                return  # closed by release()

    def _events(self) -> None:
        d: Any = self._d
        while d.pending_events():
            d.next_event()
