"""Hotkeys set by pressing them: a key-sequence editor that keeps one chord, in the recorder's own notation
("ctrl+alt+p"), and the checks a set of hotkeys must pass before it is saved: each one parses, has a modifier
(a bare letter would be taken from every application), none is used twice, and the window system lets the
recorder have it (another application may hold it: checked with a real grab, released at once)."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QKeySequenceEdit, QWidget

from recorder.capture.exclusion import Hotkey
from recorder.errors import RecorderError

QT_MODIFIERS = (
    (Qt.KeyboardModifier.ControlModifier, "ctrl"),
    (Qt.KeyboardModifier.AltModifier, "alt"),
    (Qt.KeyboardModifier.ShiftModifier, "shift"),
    (Qt.KeyboardModifier.MetaModifier, "super"),
)
QT_NAMES = {"pgup": "page_up", "pgdown": "page_down", "ins": "insert", "del": "delete", "return": "enter",
            "escape": "esc", "print": "print_screen"}  # fmt: skip
BARE_OK = {f"f{i}" for i in range(1, 25)} | {"pause", "print_screen"}  # keys no application types with


def chord_text(sequence: QKeySequence) -> str:
    """The first chord of a QKeySequence in the recorder's notation ("" when empty or only modifiers)."""
    if sequence.isEmpty():
        return ""
    combo = sequence[0]  # type: ignore[index]  # QKeySequence.operator[] (the stubs lack it)
    key = combo.key()
    if key in (Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Shift, Qt.Key.Key_Meta, Qt.Key.Key_unknown):
        return ""
    name = QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText).lower()
    name = QT_NAMES.get(name, name)
    mods = [word for flag, word in QT_MODIFIERS if combo.keyboardModifiers() & flag]
    return "+".join([*mods, name])


class HotkeyEdit(QKeySequenceEdit):
    """Press the chord to set it; one chord only (the editor's own multi-chord sequences are cut to the first)."""

    def __init__(self, chord: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMaximumSequenceLength(1)
        self._chord = chord
        if chord:
            self.setKeySequence(QKeySequence(_qt_text(chord)))
        self.keySequenceChanged.connect(self._changed)

    def chord(self) -> str:
        return self._chord

    def set_chord(self, chord: str) -> None:
        self._chord = chord
        self.setKeySequence(QKeySequence(_qt_text(chord)) if chord else QKeySequence())

    def _changed(self, sequence: QKeySequence) -> None:
        self._chord = chord_text(sequence)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Tab and not event.modifiers():
            self.focusNextChild()  # Tab moves on, it is not a hotkey
            return
        super().keyPressEvent(event)


def _qt_text(chord: str) -> str:
    reverse = {v: k for k, v in QT_NAMES.items()}
    parts = chord.split("+")
    words = {"ctrl": "Ctrl", "alt": "Alt", "shift": "Shift", "super": "Meta"}
    key = reverse.get(parts[-1], parts[-1])
    return "+".join([*(words.get(m, m) for m in parts[:-1]), key.capitalize() if len(key) > 1 else key.upper()])


def hotkey_problems(hotkeys: Mapping[str, str], held: Mapping[str, str] | None = None) -> list[str]:
    """What stops these hotkeys ({action: chord}) from being saved, in words ([] when nothing does). Chords in
    `held` (the ones in use now, maybe grabbed by this very app's recording) are not grabbed again to check."""
    problems = []
    parsed: dict[str, Hotkey] = {}
    for action, chord in hotkeys.items():
        label = action.replace("_", " ")
        if not chord:
            problems.append(f"{label}: press the keys to set it")
            continue
        try:
            hotkey = Hotkey.parse(chord)
        except RecorderError as e:
            problems.append(f"{label}: {e}")
            continue
        if not hotkey.modifiers and hotkey.key not in BARE_OK:
            problems.append(f"{label}: {chord} alone would be taken from every application; add ctrl or alt")
            continue
        twin = next((a for a, h in parsed.items() if h == hotkey), None)
        if twin is not None:
            problems.append(f"{label}: {chord} is already the {twin.replace('_', ' ')} hotkey")
            continue
        parsed[action] = hotkey
    if problems:
        return problems
    unchanged = set((held or {}).values())
    new = {a: h for a, h in parsed.items() if hotkeys[a] not in unchanged}
    return [f"{a.replace('_', ' ')}: {r}" for a, r in _refused(new).items()]


def _refused(hotkeys: Mapping[str, Hotkey]) -> dict[str, str]:
    """The window system's answer to grabbing each chord now (released at once); {} where keys cannot be
    grabbed at all (the recording then says the hotkeys also reach other applications)."""
    from recorder.errors import BackendUnavailable
    from recorder.platform import hotkey_grab

    if not hotkeys:
        return {}
    try:
        grab = hotkey_grab()
    except BackendUnavailable:
        return {}
    try:
        out = {}
        for action, h in hotkeys.items():
            refused = grab.grab([(h.key, h.modifiers)])
            if refused:
                out[action] = refused[0].replace("(another application holds it)", "is taken by another application")
        return out
    finally:
        grab.release()
