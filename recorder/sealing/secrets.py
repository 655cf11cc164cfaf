"""Typed secrets removed at seal: the key events that typed an API key, a token, a card number or a lab's pattern
are redacted like password-field keys (in events.parquet and the raw log), each under a typed-secret privacy span.

Detection is `trajrec.secrets` (the same detectors `trajrec scan` runs). What is redacted for a finding: every key
event between its first and last event, and the other half of each of their press/release pairs (a shift held
across it, a key released after it), repeated until the set holds still, so that no key inside the span keeps
its name and every redacted press still pairs with a redacted release.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trajrec import format as fmt
from trajrec.manifest import PrivacySpanJSON
from trajrec.secrets import find_typed_secrets, focus_times

_PRESS, _RELEASE = fmt.EventKind.KEY_DOWN.value, fmt.EventKind.KEY_UP.value


def redact_typed_secrets(
    events: list[dict[str, Any]],
    windows: Sequence[dict[str, Any]],
    elements: Sequence[dict[str, Any]],
    patterns: Sequence[str],
) -> list[PrivacySpanJSON]:
    """Redact, in place, the key events of every secret typed in `events` (time order); one span per secret."""
    records = [_event(e) for e in events]
    focus = focus_times(
        [fmt.WindowRecord(**_fields(w, fmt.WindowRecord.__slots__)) for w in windows],
        [int(e["t_ns"]) for e in elements if e.get("kind") == fmt.ElementKind.FOCUS.value],
    )
    found = find_typed_secrets(records, focus, patterns)
    if not found:
        return []
    partner = _pairs(events)
    keys = [i for i, e in enumerate(events) if e["kind"] in (_PRESS, _RELEASE)]
    t = [int(e["t_ns"]) for e in events]
    spans: list[PrivacySpanJSON] = []
    for secret in found:
        chosen = set(secret.events)
        while True:
            lo, hi = min(t[i] for i in chosen), max(t[i] for i in chosen)
            grown = chosen | {i for i in keys if lo <= t[i] <= hi}
            grown |= {partner[i] for i in grown if i in partner}
            if grown == chosen:
                break
            chosen = grown
        fresh = [i for i in chosen if not events[i].get("redacted")]
        for i in chosen:
            events[i].update(key=None, char=None, scancode=None, modifiers=[], redacted=True)
        spans.append(
            {
                "start_ns": lo,
                "end_ns": hi,
                "kind": fmt.PrivacyKind.TYPED_SECRET.value,
                "detector": secret.kind[:200],
                "keys": max(1, len(fresh)),
            }
        )
    return spans


def _fields(row: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {k: row.get(k) for k in names}


def _event(row: dict[str, Any]) -> fmt.InputEvent:
    fields = _fields(row, fmt.InputEvent.__slots__)
    fields.update(kind=fmt.EventKind(row["kind"]), modifiers=tuple(row.get("modifiers") or ()))
    fields["redacted"] = bool(row.get("redacted"))
    return fmt.InputEvent(**fields)


def _pairs(events: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Each key press's release and each release's press (by scancode, else key name), both ways."""
    held: dict[object, int] = {}
    out: dict[int, int] = {}
    for i, e in enumerate(events):
        if e["kind"] not in (_PRESS, _RELEASE) or e.get("redacted"):
            continue
        which = e.get("scancode") if e.get("scancode") is not None else e.get("key")
        if e["kind"] == _PRESS:
            held.setdefault(which, i)
        elif which in held:
            press = held.pop(which)
            out[press], out[i] = i, press
    return out
