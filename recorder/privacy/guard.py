"""The input guard, on the log thread: every input event is held back HOLD_NS, then written whole, redacted or
not at all.

Holding is what makes the guard sound: the signal that says a password field (or a denied window) has the
focus arrives a few milliseconds after it got it, and input meanwhile would otherwise slip through. After
HOLD_NS every signal about the event's moment has arrived, and the spans of `PrivacyState`, widened by
MARGIN_NS on both sides, decide: inside a deny-list span no input is kept at all; inside a password-field or
keys-hidden span a key keeps its kind and time and loses key name, character, keycode and modifiers. The release
of a press that was dropped or redacted is dropped or redacted too, wherever it happens. Held events live only
in memory: a crash loses at most HOLD_NS of them, never writes one. Accessibility elements wait the same way,
so none of a denied window's is written.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from recorder.privacy.state import PrivacyState
from trajrec.format import KEY_KINDS, ElementRecord, EventKind, InputEvent, PrivacyKind

Guarded = InputEvent | ElementRecord  # what the guard holds back until it knows


@dataclass(frozen=True, slots=True)
class HotkeyChord:
    """A recorder hotkey was pressed at t_ns with these modifiers held (from the input thread, through the record
    queue, so it reaches the guard after the modifier presses): they were the hotkey's, not the expert's work."""

    t_ns: int
    modifiers: frozenset[str]


def modifier_of(key: str | None) -> str | None:
    """The modifier a key is ("ctrl_r" -> "ctrl", "alt_gr" -> "alt_gr", "cmd" -> "super"), None for other keys."""
    name = (key or "").lower()
    if name == "alt_gr":
        return "alt_gr"
    for prefix, modifier in (
        ("shift", "shift"),
        ("ctrl", "ctrl"),
        ("alt", "alt"),
        ("cmd", "super"),
        ("super", "super"),
    ):
        if name == prefix or name.startswith(prefix + "_"):
            return modifier
    return None


HOLD_NS = 400_000_000  # how long a key waits for the signals about its moment
MARGIN_NS = 300_000_000  # how far a private span is widened each way (signal latency, a busy machine)
KEY_PRIVATE = (PrivacyKind.PASSWORD, PrivacyKind.KEYS_HIDDEN)
NO_INPUT = (PrivacyKind.DENY_LIST,)


def redact(event: InputEvent) -> InputEvent:
    return dataclasses.replace(event, key=None, char=None, scancode=None, modifiers=(), redacted=True)


class InputGuard:
    """Not thread-safe: the log thread owns it. `offer` each input event, `due` at every turn of the loop,
    `drain` at stop; each returns the events to write now."""

    def __init__(self, state: PrivacyState, hold_ns: int = HOLD_NS, margin_ns: int = MARGIN_NS) -> None:
        self.state = state
        self.hold_ns = hold_ns
        self.margin_ns = margin_ns
        self._held: deque[Guarded] = deque()
        self._pressed_private: set[int | str | None] = set()  # keys whose press was redacted, until released
        self._dropped_presses: set[tuple[str, int | str | None]] = set()  # presses left out, until released
        self._retracted: set[int | str | None] = set()  # hotkey modifiers whose press was left out, until released
        self.redacted = 0
        self.dropped = 0
        self.retracted = 0  # modifier presses of the recorder's own hotkeys

    def offer(self, event: Guarded, now_ns: int) -> list[Guarded]:
        self._held.append(event)
        return self.due(now_ns)

    def due(self, now_ns: int) -> list[Guarded]:
        out: list[Guarded] = []
        while self._held and self._held[0].t_ns + self.hold_ns <= now_ns:
            out.extend(self._decide(self._held.popleft()))
        return out

    def retract(self, chord: HotkeyChord) -> None:
        """Leave out the presses of the chord's modifiers that are still held back and not yet released (and their
        releases when they come): a hotkey's ctrl and alt are not the expert's. A modifier held longer than
        HOLD_NS before the hotkey was written already, and then its release is kept too (pairs stay whole)."""
        released: set[int | str | None] = set()
        keep: deque[Guarded] = deque()
        for e in reversed(self._held):
            if isinstance(e, InputEvent) and e.t_ns <= chord.t_ns and modifier_of(e.key) in chord.modifiers:
                which = e.scancode if e.scancode is not None else e.key
                if e.kind == EventKind.KEY_UP:
                    released.add(which)
                elif e.kind == EventKind.KEY_DOWN and which not in released:
                    self._retracted.add(which)
                    self.retracted += 1
                    continue
            keep.appendleft(e)
        self._held = keep

    def drain(self) -> list[Guarded]:
        out = [kept for e in self._held for kept in self._decide(e)]
        self._held.clear()
        return out

    def _decide(self, e: Guarded) -> list[Guarded]:
        """[] (left out), [e] or [e redacted]."""
        if isinstance(e, ElementRecord):  # an element of a denied window is never kept, its name least of all
            return [] if self.state.covers(e.t_ns, self.margin_ns, self.margin_ns, NO_INPUT) else [e]
        which = e.scancode if e.scancode is not None else e.key
        pair = ("button", e.button) if e.kind in (EventKind.DOWN, EventKind.UP) else ("key", which)
        if self.state.covers(e.t_ns, self.margin_ns, self.margin_ns, NO_INPUT):
            if e.kind in (EventKind.DOWN, EventKind.KEY_DOWN):
                self._dropped_presses.add(pair)
            self.dropped += 1
            return []
        if e.kind in (EventKind.UP, EventKind.KEY_UP) and pair in self._dropped_presses:
            self._dropped_presses.discard(pair)  # its press was left out: so is its release
            self.dropped += 1
            return []
        if e.kind == EventKind.KEY_UP and which in self._retracted:
            self._retracted.discard(which)  # the release of a hotkey's modifier
            return []
        if e.kind not in KEY_KINDS:
            return [e]
        private = self.state.covers(e.t_ns, self.margin_ns, self.margin_ns, KEY_PRIVATE)
        if e.kind == EventKind.KEY_DOWN and private:
            self._pressed_private.add(which)
        elif e.kind == EventKind.KEY_UP and which in self._pressed_private:
            self._pressed_private.discard(which)
            private = True
        if not private:
            return [e]
        self.redacted += 1
        return [redact(e)]
