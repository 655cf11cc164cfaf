"""Keep the recorder's own input out of the trajectory: its hotkeys, and input into its own windows.

`OwnInputFilter` is the session's ``exclude_input`` predicate (it runs on the input thread, per event):

- **Hotkeys** ("ctrl+alt+p", "f12"): a key_down of the hotkey's key with exactly its modifiers held is
  dropped, and so is that key's key_up (matched by keycode, whatever is held by then). The modifier
  presses around it stay: when ctrl goes down nobody knows yet whether a hotkey or a ctrl+c follows.
  Named hotkeys (`{"pause": "ctrl+alt+p"}`) also call `on_hotkey(name)`: the recorder's global hotkeys
  are noticed here, on the input thread, by the same matcher that keeps them out (the callback must
  only hand the name over, e.g. emit a Qt signal). `on_chord(t_ns, modifiers)` tells the session, whose
  input guard then leaves out the chord's modifier presses it still holds back (recorder.privacy.guard).
  `consume_hotkeys` keeps the chords from the focused application (a passive grab on X11).
- **Own windows**: the app publishes the screen rectangles of its visible windows and whether one of them
  has the keyboard focus (`OwnWindows.publish`, from the GUI thread). Pointer events inside a rectangle
  are dropped; key events while an own window has the focus are dropped. Pairs stay whole: the up of a
  press that was dropped is dropped even outside (a drag out of the window), and the up of a press that
  was recorded is kept even inside.

The published state is read when an event reaches the filter, a fraction of a millisecond after it
happened: publish focus and geometry changes as Qt reports them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from recorder.errors import BackendUnavailable, CaptureError
from recorder.platform.base import HotkeyGrab
from trajrec.format import MODIFIERS, EventKind, InputEvent

# Lock keys change what a key types, not which shortcut it is.
_IGNORED_FOR_HOTKEYS = frozenset({"caps_lock", "num_lock"})
_ALIASES = {"control": "ctrl", "option": "alt", "cmd": "super", "win": "super", "escape": "esc", "return": "enter"}


@dataclass(frozen=True)
class Hotkey:
    """A key with the exact set of modifiers that must be held, parsed from "ctrl+alt+p"."""

    key: str
    modifiers: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Hotkey:
        parts = [_ALIASES.get(p, p) for p in (s.strip().lower() for s in text.split("+"))]
        if not parts or any(not p for p in parts):
            raise CaptureError(f"hotkey {text!r}: expected keys joined by '+', e.g. ctrl+alt+p or f9")
        *mods, key = parts
        unknown = [m for m in mods if m not in MODIFIERS]
        if unknown or key in MODIFIERS:
            raise CaptureError(
                f"hotkey {text!r}: {', '.join(unknown) or key} is not a modifier followed by a key; "
                f"modifiers are {', '.join(MODIFIERS)}"
            )
        return cls(key, frozenset(mods))

    def matches(self, event: InputEvent) -> bool:
        held = frozenset(event.modifiers) - _IGNORED_FOR_HOTKEYS
        return (event.key or "").lower() == self.key and held == self.modifiers

    def __str__(self) -> str:
        return "+".join([*(m for m in MODIFIERS if m in self.modifiers), self.key])


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


class OwnWindows:
    """What the app says about its own windows: published from the GUI thread, read on the input thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rects: tuple[Rect, ...] = ()
        self._focused = False

    def publish(self, rects: Sequence[Rect], *, focused: bool) -> None:
        with self._lock:
            self._rects = tuple(rects)
            self._focused = focused

    def snapshot(self) -> tuple[tuple[Rect, ...], bool]:
        with self._lock:
            return self._rects, self._focused


class OwnInputFilter:
    """``exclude_input`` for a session: True for events that belong to the recorder itself."""

    def __init__(
        self,
        hotkeys: Iterable[str | Hotkey] | Mapping[str, str] = (),
        windows: OwnWindows | None = None,
        on_hotkey: Callable[[str], None] | None = None,
    ) -> None:
        named = hotkeys.items() if isinstance(hotkeys, Mapping) else ((str(h), h) for h in hotkeys)
        self.named = {name: h if isinstance(h, Hotkey) else Hotkey.parse(h) for name, h in named if h}
        self.hotkeys = tuple(self.named.values())
        self.on_hotkey = on_hotkey
        self.on_chord: Callable[[int, frozenset[str]], None] | None = None  # set by the session
        self.windows = windows
        self.dropped = 0
        self._dropped_keys: set[int | str] = set()  # keycodes (or names) whose key_down was dropped
        self._dropped_buttons: set[str] = set()

    def __call__(self, event: InputEvent) -> bool:
        drop = self._decide(event)
        self.dropped += drop
        return drop

    def _decide(self, event: InputEvent) -> bool:
        rects, focused = self.windows.snapshot() if self.windows is not None else ((), False)
        if event.kind == EventKind.KEY_DOWN:
            ident = event.scancode if event.scancode is not None else (event.key or "")
            hit = next((name for name, h in self.named.items() if h.matches(event)), None)
            if hit is not None and self.on_chord is not None:
                self.on_chord(event.t_ns, self.named[hit].modifiers)
            if hit is not None and self.on_hotkey is not None:
                self.on_hotkey(hit)
            if focused or hit is not None:
                self._dropped_keys.add(ident)
                return True
            self._dropped_keys.discard(ident)
            return False
        if event.kind == EventKind.KEY_UP:
            ident = event.scancode if event.scancode is not None else (event.key or "")
            if ident in self._dropped_keys:
                self._dropped_keys.discard(ident)
                return True
            return False
        inside = event.x is not None and event.y is not None and any(r.contains(event.x, event.y) for r in rects)
        button = event.button or ""
        if event.kind == EventKind.DOWN:
            if inside:
                self._dropped_buttons.add(button)
                return True
            self._dropped_buttons.discard(button)
            return False
        if event.kind == EventKind.UP:
            if button in self._dropped_buttons:
                self._dropped_buttons.discard(button)
                return True
            return False
        return inside  # move, scroll


def consume_hotkeys(hotkeys: Iterable[Hotkey]) -> tuple[HotkeyGrab | None, list[str]]:
    """Keep the hotkeys from the focused application for as long as the returned grab is held (release() it);
    what could not be kept, in words (the hotkeys still act, but the focused application gets them too)."""
    from recorder.platform import hotkey_grab

    try:
        grab = hotkey_grab()
    except BackendUnavailable as e:
        return None, [f"hotkeys also reach the focused application: {e}"]
    refused = grab.grab([(h.key, h.modifiers) for h in hotkeys])
    return grab, [f"hotkey {r} also reaches the focused application" for r in refused]
