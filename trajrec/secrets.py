"""Secrets typed during a recording: the typed text rebuilt from key events and run through secret detectors.

Text is rebuilt per stretch of typing into one window: characters in order, backspaces applied, enter and tab
as line break and tab. A click, a focus change (a `boundaries` time), a key that moves the cursor (arrows, home,
end, ...) ends a stretch, as do shortcuts (ctrl/alt/super held; a paste cannot be seen). Keys already redacted
are skipped. The detectors: detect-secrets' plugins (cloud and service keys, private keys, tokens; its
high-entropy detectors only on tokens of 20+ characters mixing letters and digits, so that long words are not
taken for keys), payment card numbers (13-19 digits passing the Luhn check), and a lab's own regular expressions.

A finding says what kind of secret it is, when it was typed and which key events typed it: every key event of
the stretch from its first character's press to its last character's release (backspaced characters in
between included), so that sealing can redact them like password-field keys and `trajrec scan` can report
them. A finding never holds the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trajrec.format import EventKind, InputEvent, WindowRecord

LINE_BREAK_KEYS = frozenset({"enter", "return", "kp_enter"})
SHORTCUT_MODIFIERS = frozenset({"ctrl", "alt", "super", "meta"})
ENTROPY_TYPES = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})
ENTROPY_MIN_LENGTH = 20
TOKEN_CHAR = re.compile(r"[A-Za-z0-9_+/.-]")
CARD = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")


@dataclass(frozen=True)
class Stretch:
    """Text typed into one window without a break: `chars[i]` is the index (in the events given) of the key press
    that typed `text[i]`; `keys` are the indices of all its key presses, backspaces included."""

    text: str
    chars: tuple[int, ...]
    keys: tuple[int, ...]


@dataclass(frozen=True)
class TypedSecret:
    kind: str  # "AWS Access Key", "Payment card number", "Lab pattern 1", ...
    start_ns: int  # the press of its first character
    end_ns: int  # the release of its last character (or its press, without one)
    events: tuple[int, ...]  # indices of the key events that typed it, presses and releases


def stretches(
    events: Sequence[InputEvent],
    boundaries: Iterable[int] = (),
    *,
    pause_ns: int | None = None,
    redacted_as: str | None = None,
) -> list[Stretch]:
    """The typed text of `events` (in time order), stretch by stretch. `pause_ns`: a longer gap between two key
    presses ends a stretch too (actions: one `type` per burst of typing). `redacted_as`: a redacted key press
    stands in the text as this character instead of being skipped (it stays redacted: nothing of it is known)."""
    cuts = sorted(boundaries)
    out: list[Stretch] = []
    text: list[str] = []
    chars: list[int] = []
    keys: list[int] = []
    cut = 0

    def close() -> None:
        if text:
            out.append(Stretch("".join(text), tuple(chars), tuple(keys)))
        text.clear()
        chars.clear()
        keys.clear()

    for i, e in enumerate(events):
        while cut < len(cuts) and cuts[cut] <= e.t_ns:
            close()
            cut += 1
        if e.kind == EventKind.DOWN:
            close()
            continue
        if e.kind != EventKind.KEY_DOWN:
            continue
        if pause_ns is not None and keys and e.t_ns - events[keys[-1]].t_ns > pause_ns:
            close()
        if e.redacted:
            if redacted_as is not None:
                keys.append(i)
                text.append(redacted_as)
                chars.append(i)
            continue
        key = (e.key or "").lower()
        if is_shortcut(e):
            close()  # a shortcut: what it does to the text cannot be told
            continue
        if key == "backspace":
            keys.append(i)
            if text:
                text.pop()
                chars.pop()
            continue
        if key in LINE_BREAK_KEYS or key == "tab":
            keys.append(i)
            text.append("\n" if key in LINE_BREAK_KEYS else "\t")
            chars.append(i)
            continue
        if e.char is not None and len(e.char) == 1 and e.char.isprintable():
            keys.append(i)
            text.append(e.char)
            chars.append(i)
        elif key and not is_modifier(key):
            close()  # arrows, home, end, delete...: the cursor moved, the text is no longer known
    close()
    return out


def find_typed_secrets(
    events: Sequence[InputEvent], boundaries: Iterable[int] = (), patterns: Sequence[str] = ()
) -> list[TypedSecret]:
    """Every secret typed in `events` (time order), with the key events that typed it."""
    regexes = compiled(patterns)
    found: list[TypedSecret] = []
    for stretch in stretches(events, boundaries):
        for kind, a, b in detect(stretch.text, regexes):
            found.append(_secret(events, stretch, kind, a, b))
    return _merged(found)


def detect(text: str, patterns: Sequence[re.Pattern[str]] = ()) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each secret in `text` (character offsets)."""
    hits: list[tuple[str, int, int]] = []
    offset = 0
    for line in text.split("\n"):
        hits += [(kind, offset + a, offset + b) for kind, a, b in _detect_line(line)]
        offset += len(line) + 1
    for m in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and luhn(digits):
            hits.append(("Payment card number", m.start(), m.end()))
    for n, pattern in enumerate(patterns, start=1):
        hits += [(f"Lab pattern {n}", m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]
    return hits


def luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _detect_line(line: str) -> list[tuple[str, int, int]]:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
    from detect_secrets.settings import default_settings

    limits = {
        "Base64 High Entropy String": Base64HighEntropyString(),
        "Hex High Entropy String": HexHighEntropyString(),
    }
    out = []
    with default_settings():
        for secret in scan_line(line):
            value = secret.secret_value
            if not value:
                continue
            if secret.type in ENTROPY_TYPES:
                plugin = limits[secret.type]
                if not _key_like(value) or plugin.calculate_shannon_entropy(value) <= plugin.entropy_limit:
                    continue
            start = line.find(value)
            while start >= 0:
                out.append((str(secret.type), *_token(line, start, start + len(value))))
                start = line.find(value, start + 1)
    return out


def _token(line: str, a: int, b: int) -> tuple[int, int]:
    """[a, b) widened to the whole token around it: some detectors report only part of what they matched (the
    GitHub one, in detect-secrets 1.5, only the `ghp` of a `ghp_...` token)."""
    while a > 0 and TOKEN_CHAR.match(line[a - 1]):
        a -= 1
    while b < len(line) and (TOKEN_CHAR.match(line[b]) or line[b] == "="):  # `=`: base64's padding
        b += 1
    return a, b


def _key_like(value: str) -> bool:
    return len(value) >= ENTROPY_MIN_LENGTH and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def is_shortcut(e: InputEvent) -> bool:
    """A key pressed with ctrl, alt, super or meta held: a command, not text, even when the platform reports the
    character the key would type (X11 gives ctrl+shift+t the character "T"). Characters typed with AltGr (or
    ctrl+alt, which stands for it on some layouts) are text."""
    held = set(e.modifiers)
    if not SHORTCUT_MODIFIERS & held or "alt_gr" in held or (e.key or "").lower() == "alt_gr":
        return False
    printable = e.char is not None and len(e.char) == 1 and e.char.isprintable()
    return not (printable and {"ctrl", "alt"} <= held)


def is_modifier(key: str) -> bool:
    """A modifier key (shift, ctrl, alt, cmd, super, caps lock), either side."""
    return any(key == m or key.startswith(m + "_") for m in ("shift", "ctrl", "alt", "cmd", "super", "caps"))


def _secret(events: Sequence[InputEvent], stretch: Stretch, kind: str, a: int, b: int) -> TypedSecret:
    first, last = stretch.chars[a], stretch.chars[b - 1]
    t0, t1 = events[first].t_ns, events[last].t_ns
    presses = [i for i in stretch.keys if t0 <= events[i].t_ns <= t1]
    chosen = set(presses)
    end = t1
    for i in presses:  # each press's release: the next release of the same key
        release = key_release(events, i)
        if release is not None:
            chosen.add(release)
            if i == last:
                end = events[release].t_ns
    return TypedSecret(kind, t0, end, tuple(sorted(chosen)))


def key_release(events: Sequence[InputEvent], press: int) -> int | None:
    """Index of the release of the key pressed at `events[press]` (the next key_up of the same key), or None."""
    e = events[press]
    which = e.scancode if e.scancode is not None else e.key
    for j in range(press + 1, len(events)):
        r = events[j]
        if r.kind == EventKind.KEY_UP and (r.scancode if r.scancode is not None else r.key) == which:
            return j
    return None


def _merged(found: list[TypedSecret]) -> list[TypedSecret]:
    """One finding per stretch of events: overlapping findings (a key that is also high-entropy) become one, named
    by the most specific detector (a named one over entropy)."""
    found.sort(key=lambda s: (s.start_ns, s.end_ns))
    out: list[TypedSecret] = []
    for s in found:
        if out and s.start_ns <= out[-1].end_ns:
            prev = out[-1]
            kind = prev.kind if prev.kind not in ENTROPY_TYPES or s.kind in ENTROPY_TYPES else s.kind
            events = tuple(sorted(set(prev.events) | set(s.events)))
            out[-1] = TypedSecret(kind, prev.start_ns, max(prev.end_ns, s.end_ns), events)
        else:
            out.append(s)
    return out


def focus_times(windows: Iterable[WindowRecord], element_focus_ns: Iterable[int] = ()) -> list[int]:
    """When the keyboard focus moved: another window got it, or (with an accessibility tree: the times of its
    focus records) another element."""
    out: list[int] = []
    last: tuple[object, ...] | None = None
    for w in sorted((w for w in windows if w.focused), key=lambda w: w.t_ns):
        which = (w.window_id,) if w.window_id is not None else (w.app, w.title)
        if which != last:
            out.append(w.t_ns)
            last = which
    out += element_focus_ns
    return sorted(out)


def compiled(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """A lab's patterns compiled; ValueError naming the pattern that is not a valid regular expression."""
    out = []
    for n, p in enumerate(patterns, start=1):
        try:
            out.append(re.compile(p))
        except re.error as e:
            raise ValueError(f"secret pattern {n} is not a valid regular expression ({e})") from e
    return out
