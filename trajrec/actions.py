"""Actions: a bundle's raw input events reduced to what an agent would do, on the session clock.

- `click`: a press and release of one button that moved less than `drag_px`; presses of the same button at the
  same place within `multi_click_ns` of the last release count up (`count` 2: double click, 3: triple).
- `drag`: a press, a move of `drag_px` or more, a release: from (x, y) to (to_x, to_y).
- `scroll`: consecutive wheel steps in one direction, less than `scroll_gap_ns` apart, summed (dx, dy).
- `type`: text typed into one window in one burst: characters in key order, backspaces applied, enter and tab as
  line break and tab; a click, a focus change, a cursor key, a shortcut or a pause longer than `type_pause_ns`
  ends it (`trajrec.secrets.stretches`). A redacted key stands as U+2022 and marks the action `redacted`.
- `hotkey`: a key with ctrl/alt/super held, or a key that types no text (escape, arrows, f5...): its chord, e.g.
  `ctrl+shift+t`.
- `move`: the pointer coming to rest (no event for `hover_ns`) away from where the last action left it; None
  turns moves off.
- `marker`: a step or note marker, with its text.

A press whose release is not in the recording (trimmed, or the session ended first) gives a click or drag with
`complete` False. Each action carries its pointer position in pixels and normalised to its display (0..1), the
focused window, the accessibility element (the press target for clicks and drags, else the focus), its frames and
its narration. Frames by time: before, the last grabbed at or before its start; after, the first grabbed
`settle_ns` after its end. With the screen's changes (`screen_changes`, one low-resolution decode) they are where
the screen had settled: before, the last frame at or before the start that looks like the one before it (the
last visually distinct state, not a frame caught mid-change), never reaching back past the previous action; after,
the first frame from the end on whose successor looks the same, never one grabbed after the next action started.
Narration: the voiceover's speech spans (start_ns, end_ns) (`trajrec.quality.speech`) said from the previous action's
end (at most `narration_lead_ns` before) to this one's end. The JSON form is `schemas/action.schema.json`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from trajrec import format as fmt
from trajrec.framepick import Plan, plan, settle
from trajrec.secrets import focus_times, is_modifier, is_shortcut, key_release, stretches

REDACTED_CHAR = "\u2022"


@dataclass(frozen=True)
class ActionRules:
    multi_click_ns: int = 500_000_000
    drag_px: int = 6
    scroll_gap_ns: int = 500_000_000
    type_pause_ns: int = 1_500_000_000
    hover_ns: int | None = 1_000_000_000
    settle_ns: int = 300_000_000  # without screen changes: the frame after is the first this long after the end
    narration_lead_ns: int = 5_000_000_000  # speech this long before an action (after the one before) is its narration


@dataclass(frozen=True)
class Action:
    kind: str  # click | drag | scroll | type | hotkey | move | marker
    start_ns: int
    end_ns: int
    x: int | None = None
    y: int | None = None
    button: str | None = None
    count: int = 1
    to_x: int | None = None
    to_y: int | None = None
    dx: int = 0
    dy: int = 0
    text: str | None = None
    keys: tuple[str, ...] = ()
    redacted: bool = False
    complete: bool = True
    display_id: int | None = None
    nx: float | None = None
    ny: float | None = None
    to_nx: float | None = None
    to_ny: float | None = None
    app: str | None = None
    title: str | None = None
    element: dict[str, Any] | None = field(default=None, compare=False)
    frame_before: int | None = None
    frame_after: int | None = None
    narration: tuple[tuple[int, int], ...] = ()  # the voiceover's speech spans said leading up to and during it

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["keys"] = list(self.keys)
        d["narration"] = [list(span) for span in self.narration]
        return d


def _pointer(events: Sequence[fmt.InputEvent], rules: ActionRules) -> list[Action]:
    out: list[Action] = []
    down: dict[str, tuple[fmt.InputEvent, int]] = {}  # button -> (press, farthest distance moved since)
    scroll: list[fmt.InputEvent] = []
    last_click: Action | None = None

    def flush_scroll() -> None:
        if scroll:
            first, last = scroll[0], scroll[-1]
            dx, dy = sum(e.dx or 0 for e in scroll), sum(e.dy or 0 for e in scroll)
            out.append(Action("scroll", first.t_ns, last.t_ns, first.x, first.y, dx=dx, dy=dy))
            scroll.clear()

    for e in events:
        if e.kind == fmt.EventKind.SCROLL:
            direction = (np.sign(e.dx or 0), np.sign(e.dy or 0))
            prev = scroll[-1] if scroll else None
            if prev is not None and (
                e.t_ns - prev.t_ns > rules.scroll_gap_ns or direction != (np.sign(prev.dx or 0), np.sign(prev.dy or 0))
            ):
                flush_scroll()
            scroll.append(e)
            continue
        if e.kind in (fmt.EventKind.DOWN, fmt.EventKind.UP):
            flush_scroll()
        if e.x is not None and e.y is not None:
            for button, (press, far) in list(down.items()):
                moved = max(abs(e.x - (press.x or 0)), abs(e.y - (press.y or 0)))
                down[button] = (press, max(far, moved))
        if e.kind == fmt.EventKind.DOWN and e.button:
            down[e.button] = (e, 0)
        elif e.kind == fmt.EventKind.UP and e.button in down:
            press, far = down.pop(e.button)
            if far >= rules.drag_px:
                out.append(Action("drag", press.t_ns, e.t_ns, press.x, press.y, e.button, to_x=e.x, to_y=e.y))
                last_click = None
                continue
            click = Action("click", press.t_ns, e.t_ns, press.x, press.y, e.button)
            if (
                last_click is not None
                and last_click.button == e.button
                and press.t_ns - last_click.end_ns <= rules.multi_click_ns
                and max(abs((press.x or 0) - (last_click.x or 0)), abs((press.y or 0) - (last_click.y or 0)))
                < rules.drag_px
                and out
                and out[-1] is last_click
            ):
                click = replace(last_click, end_ns=e.t_ns, count=last_click.count + 1)
                out[-1] = click
            else:
                out.append(click)
            last_click = click
    flush_scroll()
    for button, (press, far) in down.items():  # pressed, never released in the recording
        kind = "drag" if far >= rules.drag_px else "click"
        out.append(Action(kind, press.t_ns, press.t_ns, press.x, press.y, button, complete=False))
    return out


def _keys(events: Sequence[fmt.InputEvent], typed: set[int]) -> list[Action]:
    out = []
    for i, e in enumerate(events):
        if e.kind != fmt.EventKind.KEY_DOWN or i in typed or e.redacted:
            continue
        key = (e.key or "").lower()
        if not key or is_modifier(key):
            continue
        held = [m for m in ("ctrl", "alt", "shift", "super", "meta") if m in e.modifiers]
        if not is_shortcut(e) and e.char is not None and len(e.char) == 1 and e.char.isprintable():
            continue  # text: `type` actions hold it
        out.append(Action("hotkey", e.t_ns, _release_t(events, i), keys=(*held, key)))
    return out


def _release_t(events: Sequence[fmt.InputEvent], press: int) -> int:
    """When the key pressed at `events[press]` was released (its press time when the release is not there)."""
    release = key_release(events, press)
    return events[press if release is None else release].t_ns


def _typing(
    events: Sequence[fmt.InputEvent], boundaries: list[int], rules: ActionRules
) -> tuple[list[Action], set[int]]:
    out: list[Action] = []
    used: set[int] = set()
    for s in stretches(events, boundaries, pause_ns=rules.type_pause_ns, redacted_as=REDACTED_CHAR):
        used.update(s.keys)
        if not s.chars:
            continue
        first, last = s.keys[0], s.keys[-1]
        redacted = any(events[i].redacted for i in s.keys)
        out.append(Action("type", events[first].t_ns, _release_t(events, last), text=s.text, redacted=redacted))
    return out, used


def _hovers(events: Sequence[fmt.InputEvent], actions: list[Action], rules: ActionRules) -> list[Action]:
    if rules.hover_ns is None:
        return []
    starts = sorted(a.start_ns for a in actions)
    out = []
    moves = [e for e in events if e.x is not None and e.y is not None]
    for i, e in enumerate(moves):
        if e.kind != fmt.EventKind.MOVE:
            continue
        nxt = moves[i + 1].t_ns if i + 1 < len(moves) else None
        if nxt is not None and nxt - e.t_ns < rules.hover_ns:
            continue
        j = bisect.bisect_right(starts, e.t_ns)
        if j < len(starts) and starts[j] - e.t_ns < rules.hover_ns:
            continue  # the pointer stopped to act there: the action says where
        out.append(Action("move", e.t_ns, e.t_ns, e.x, e.y))
    return out


def reduce_events(
    events: Sequence[fmt.InputEvent],
    *,
    windows: Sequence[fmt.WindowRecord] = (),
    elements: Sequence[fmt.ElementRecord] = (),
    markers: Sequence[fmt.Marker] = (),
    displays: Sequence[fmt.Display] = (),
    frame_times: np.ndarray | None = None,
    changes: np.ndarray | None = None,
    speech: Sequence[tuple[int, int]] | None = None,
    rules: ActionRules | None = None,
) -> list[Action]:
    """The actions of a session's events (see the module docstring), in time order. `changes`: per frame, how
    much the screen changed since the frame before (`screen_changes`); with it, the frames before and after an
    action are where the screen had settled. `speech`: the voiceover's speech spans (start_ns, end_ns), in order;
    each action names those said leading up to and during it."""
    rules = rules or ActionRules()
    events = sorted(events, key=lambda e: (e.t_ns, e.seq))
    typed, used = _typing(
        events, focus_times(windows, [el.t_ns for el in elements if el.kind == fmt.ElementKind.FOCUS]), rules
    )
    actions = _pointer(events, rules) + typed + _keys(events, used)
    actions += _hovers(events, actions, rules)
    actions += [
        Action("marker", m.t_ns, m.t_ns, text=m.text)
        for m in markers
        if m.kind in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE)
    ]
    actions.sort(key=lambda a: (a.start_ns, a.end_ns))
    out = [_context(a, windows, elements, displays, frame_times, rules) for a in actions]
    if changes is not None and frame_times is not None and len(frame_times) == len(changes):
        out = _settled(out, frame_times, changes)
    if speech is not None:
        out = narrate(out, speech, rules)
    return out


def _settled(actions: list[Action], frame_times: np.ndarray, changes: np.ndarray) -> list[Action]:
    """Each action's frames where the screen had settled (`trajrec.framepick`)."""
    chosen = settle(frame_plans(actions, frame_times), changes)
    return [replace(a, frame_before=b, frame_after=f) for a, (b, f) in zip(actions, chosen, strict=True)]


def frame_plans(actions: Sequence[Action], frame_times: np.ndarray) -> list[Plan]:
    """Where each action's settled frames may lie (`trajrec.framepick.plan`)."""
    return plan(
        [a.start_ns for a in actions], [a.end_ns for a in actions], [a.kind == "marker" for a in actions], frame_times
    )


def narrate(actions: list[Action], speech: Sequence[tuple[int, int]], rules: ActionRules) -> list[Action]:
    """Each action's narration: the speech spans overlapping the stretch from the previous action's end (at most
    narration_lead_ns before its start) to its end. Markers take the spans around their moment."""
    out = []
    prev_end: int | None = None
    for a in actions:
        lead = a.start_ns - rules.narration_lead_ns
        if prev_end is not None:
            lead = min(a.start_ns, max(lead, prev_end))
        spans = tuple((s0, s1) for s0, s1 in speech if s0 <= a.end_ns and s1 > lead)
        out.append(replace(a, narration=spans))
        if a.kind != "marker":
            prev_end = a.end_ns if prev_end is None else max(prev_end, a.end_ns)
    return out


def _latest(items: Sequence[Any], t_ns: int) -> Any | None:
    i = bisect.bisect_right([x.t_ns for x in items], t_ns) - 1
    return None if i < 0 else items[i]


def _display(displays: Sequence[fmt.Display], x: int, y: int) -> fmt.Display | None:
    for d in displays:
        if d.origin[0] <= x < d.origin[0] + d.size_px[0] and d.origin[1] <= y < d.origin[1] + d.size_px[1]:
            return d
    return None


def _norm(d: fmt.Display, x: int, y: int) -> tuple[float, float]:
    return round((x - d.origin[0]) / d.size_px[0], 6), round((y - d.origin[1]) / d.size_px[1], 6)


def _context(
    a: Action,
    windows: Sequence[fmt.WindowRecord],
    elements: Sequence[fmt.ElementRecord],
    displays: Sequence[fmt.Display],
    frame_times: np.ndarray | None,
    rules: ActionRules,
) -> Action:
    changes: dict[str, Any] = {}
    window = _latest(windows, a.start_ns)
    if window is not None:
        changes.update(app=window.app, title=window.title)
    kind = fmt.ElementKind.CLICK if a.kind in ("click", "drag") else fmt.ElementKind.FOCUS
    element = _latest([el for el in elements if el.kind == kind], a.start_ns)
    if element is not None:
        changes["element"] = {"role": element.role, "name": element.name, "app": element.app}
    if a.x is not None and a.y is not None:
        d = _display(displays, a.x, a.y)
        if d is not None:
            changes["display_id"] = d.id
            changes["nx"], changes["ny"] = _norm(d, a.x, a.y)
            if a.to_x is not None and a.to_y is not None:
                changes["to_nx"], changes["to_ny"] = _norm(d, a.to_x, a.to_y)
    if frame_times is not None and len(frame_times):
        before = int(np.searchsorted(frame_times, a.start_ns, side="right")) - 1
        after = int(np.searchsorted(frame_times, a.end_ns + rules.settle_ns, side="left"))
        changes["frame_before"] = before if before >= 0 else None
        changes["frame_after"] = after if after < len(frame_times) else len(frame_times) - 1
    return replace(a, **changes)
