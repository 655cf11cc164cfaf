"""Raw events reduced to actions (trajrec.actions): the rules on synthetic edge cases."""

from __future__ import annotations

import numpy as np

from trajrec import format as fmt
from trajrec.actions import REDACTED_CHAR, ActionRules, reduce_events

MS = 1_000_000
K = fmt.EventKind


class Script:
    """Events as a person makes them, 1 ms apart unless told otherwise."""

    def __init__(self) -> None:
        self.events: list[fmt.InputEvent] = []
        self.t = 1_000 * MS

    def add(self, kind: fmt.EventKind, wait_ms: float = 1, **fields: object) -> None:
        self.t += int(wait_ms * MS)
        self.events.append(fmt.InputEvent(len(self.events), self.t, kind, **fields))  # type: ignore[arg-type]

    def click(self, x: int, y: int, button: str = "left", wait_ms: float = 100) -> None:
        self.add(K.DOWN, wait_ms, x=x, y=y, button=button)
        self.add(K.UP, 60, x=x, y=y, button=button)

    def key(self, key: str, char: str | None = None, mods: tuple[str, ...] = (), wait_ms: float = 120) -> None:
        code = 10 + sum(map(ord, key)) % 200
        self.add(K.KEY_DOWN, wait_ms, key=key, char=char, scancode=code, modifiers=mods)
        self.add(K.KEY_UP, 40, key=key, char=char, scancode=code, modifiers=mods)

    def type(self, text: str) -> None:
        for ch in text:
            self.key(ch, ch)


def kinds(actions: list) -> list[str]:  # type: ignore[type-arg]
    return [a.kind for a in actions]


def test_clicks_double_and_triple_clicks_and_a_drag() -> None:
    s = Script()
    s.click(100, 100)
    s.click(101, 100, wait_ms=150)  # a double click: same place, soon after
    s.click(400, 300, wait_ms=2000)
    s.click(400, 301, wait_ms=100)
    s.click(400, 301, wait_ms=100)  # a triple click
    s.click(50, 50, button="right", wait_ms=2000)
    s.add(K.DOWN, 2000, x=10, y=10, button="left")
    for i in range(1, 6):
        s.add(K.MOVE, 20, x=10 + 30 * i, y=10 + 10 * i)
    s.add(K.UP, 20, x=160, y=60, button="left")
    actions = reduce_events(s.events, rules=ActionRules(hover_ns=None))
    assert [(a.kind, a.button, a.count) for a in actions] == [
        ("click", "left", 2),
        ("click", "left", 3),
        ("click", "right", 1),
        ("drag", "left", 1),
    ]
    drag = actions[-1]
    assert (drag.x, drag.y, drag.to_x, drag.to_y) == (10, 10, 160, 60) and drag.complete


def test_a_press_without_its_release_and_a_drag_across_a_pause() -> None:
    s = Script()
    s.add(K.DOWN, 10, x=10, y=10, button="left")
    s.add(K.MOVE, 30_000, x=200, y=10)  # the recording was paused in the middle of the drag: no events
    s.add(K.UP, 10, x=200, y=10, button="left")
    s.add(K.DOWN, 500, x=300, y=300, button="left")  # released after the recording ended (or was trimmed)
    actions = reduce_events(s.events, rules=ActionRules(hover_ns=None))
    assert [(a.kind, a.complete) for a in actions] == [("drag", True), ("click", False)]
    assert actions[0].end_ns - actions[0].start_ns > 30_000 * MS


def test_scrolls_are_coalesced_by_direction_and_gap() -> None:
    s = Script()
    for _ in range(5):
        s.add(K.SCROLL, 50, x=500, y=500, dx=0, dy=1)
    for _ in range(2):
        s.add(K.SCROLL, 50, x=500, y=500, dx=0, dy=-1)  # the other way: a new scroll
    s.add(K.SCROLL, 3000, x=500, y=500, dx=0, dy=-1)  # after a long gap: another
    actions = reduce_events(s.events, rules=ActionRules(hover_ns=None))
    assert [(a.kind, a.dy) for a in actions] == [("scroll", 5), ("scroll", -2), ("scroll", -1)]


def test_typing_with_corrections_pauses_hotkeys_and_redacted_keys() -> None:
    s = Script()
    s.click(10, 10)
    s.type("helo")
    s.key("backspace")
    s.type("lo world")
    s.key("q", "@", mods=("alt_gr",))  # AltGr types text
    s.key("enter")
    s.type("again")  # a new burst after a long pause
    s.events[-10:] = [
        fmt.InputEvent(e.seq, e.t_ns + 5_000 * MS, e.kind, key=e.key, char=e.char, scancode=e.scancode)
        for e in s.events[-10:]
    ]
    s.t += 5_000 * MS
    s.key("t", "T", mods=("ctrl", "shift"))  # X11 reports the character the key would type: still a hotkey
    s.key("escape")
    s.add(K.KEY_DOWN, 100, redacted=True)
    s.add(K.KEY_UP, 30, redacted=True)
    s.add(K.KEY_DOWN, 100, redacted=True)
    s.add(K.KEY_UP, 30, redacted=True)
    actions = reduce_events(s.events, rules=ActionRules(hover_ns=None))
    assert kinds(actions) == ["click", "type", "type", "hotkey", "hotkey", "type"]
    assert actions[1].text == "hello world@\n" and not actions[1].redacted
    assert actions[2].text == "again"
    assert actions[3].keys == ("ctrl", "shift", "t") and actions[4].keys == ("escape",)
    assert actions[5].text == REDACTED_CHAR * 2 and actions[5].redacted
    assert actions[1].end_ns > actions[1].start_ns  # up to the release of its last key


def test_moves_only_where_the_pointer_rests_and_markers() -> None:
    s = Script()
    s.add(K.MOVE, 10, x=10, y=10)
    s.add(K.MOVE, 10, x=50, y=50)  # then rests for 2 s: a move
    s.add(K.MOVE, 2000, x=60, y=60)
    s.add(K.MOVE, 10, x=90, y=90)
    s.click(90, 90, wait_ms=200)  # rests only to click there: no move of its own
    markers = [
        fmt.Marker(s.t + MS, fmt.MarkerKind.STEP, "open the file"),
        fmt.Marker(s.t + 2 * MS, fmt.MarkerKind.PAUSE),
    ]
    actions = reduce_events(s.events, markers=markers)
    assert [(a.kind, a.x, a.text) for a in actions] == [
        ("move", 50, None),
        ("click", 90, None),
        ("marker", None, "open the file"),
    ]
    assert kinds(reduce_events(s.events, markers=markers, rules=ActionRules(hover_ns=None))) == ["click", "marker"]


def test_context_display_window_element_and_frames() -> None:
    s = Script()
    s.click(1920 + 480, 270)  # on the second display
    t_click = s.events[0].t_ns
    displays = [fmt.Display(0, (0, 0), (1920, 1080), primary=True), fmt.Display(1, (1920, 0), (960, 540))]
    windows = [fmt.WindowRecord(t_click - 5 * MS, "gedit", "notes.txt", 1920, 0, 960, 540, window_id=7)]
    elements = [
        fmt.ElementRecord(t_click, fmt.ElementKind.CLICK, "push button", "Save", (), "gedit", "gtk", x=2400, y=270)
    ]
    frames = np.arange(0, 3_000 * MS, 100 * MS, dtype=np.int64)
    (a,) = reduce_events(s.events, windows=windows, elements=elements, displays=displays, frame_times=frames)
    assert (a.display_id, a.nx, a.ny) == (1, 0.5, 0.5)
    assert (a.app, a.title) == ("gedit", "notes.txt")
    assert a.element == {"role": "push button", "name": "Save", "app": "gedit"}
    assert frames[a.frame_before] <= a.start_ns < frames[a.frame_before + 1]
    assert frames[a.frame_after] >= a.end_ns + ActionRules().settle_ns > frames[a.frame_after - 1]


def test_the_actions_of_a_bundle_match_their_schema(bundle: object) -> None:
    from trajrec import schemas
    from trajrec.manifest import schema_errors
    from trajrec.reader import BundleReader

    with BundleReader(bundle) as b:  # type: ignore[arg-type]
        actions = b.actions()
        n_frames = len(b.frame_times())
    assert {"click", "type", "scroll", "marker"} <= {a.kind for a in actions}
    assert schemas.load("action.schema.json")["required"] == list(actions[0].to_json())
    for a in actions:
        assert schema_errors(a.to_json(), "action.schema.json") == []
        assert a.frame_before is None or 0 <= a.frame_before < n_frames
        assert a.start_ns <= a.end_ns


def test_the_frame_after_is_where_the_screen_settled_before_the_next_action() -> None:
    from trajrec.screen import SETTLED, screen_changes

    frames = np.arange(0, 40) * 100 * MS + 1_000 * MS  # a frame every 100 ms from 1 s
    still, moving = np.zeros((9, 16), np.uint8), None
    thumbs = []
    for i in range(40):  # the screen changes for frames 12..15 (an animation after the first click), else still
        moving = (
            np.full((9, 16), 10 * i, np.uint8)
            if 12 <= i <= 15
            else (moving if moving is not None and i > 15 else still)
        )
        thumbs.append((i, moving))
    changes = screen_changes(thumbs)
    assert changes[0] == np.inf and changes[13] > SETTLED and changes[17] < SETTLED
    s = Script()
    s.t = int(frames[10]) + 50 * MS - MS  # a click at about 2.05 s; the screen reacts until frame 15
    s.click(10, 10, wait_ms=1)
    s.t = int(frames[30])
    s.click(10, 10, wait_ms=1)  # a second click much later: the screen never changes after it
    first, second = reduce_events(s.events, frame_times=frames, changes=changes, rules=ActionRules(hover_ns=None))
    assert first.frame_after == 15  # frames 12-15 change; 16 looks like 15: settled at 15
    assert second.frame_after == 31  # the first frame after its end, already settled
    s.t = int(frames[13]) + 10 * MS
    s.click(300, 300, wait_ms=1)  # a click while the screen still moves: its predecessor's frame stops short
    one, _, three = reduce_events(s.events, frame_times=frames, changes=changes, rules=ActionRules(hover_ns=None))
    assert one.frame_after <= 13 and three.frame_after == 31


def test_visual_frames_on_a_real_video(bundle: object) -> None:
    from trajrec.reader import BundleReader

    with BundleReader(bundle) as b:  # type: ignore[arg-type]
        thumbs = list(b.thumbnails(64, 36))
        timed, visual = b.actions(visual=False), b.actions()
        n = len(b.frame_times())
    assert [i for i, _ in thumbs] == list(range(n)) and thumbs[0][1].shape == (36, 64)
    assert [a.kind for a in timed] == [a.kind for a in visual]
    assert all(a.frame_after is not None and 0 <= a.frame_after < n for a in visual)


def test_the_frame_before_is_the_last_settled_state_not_a_frame_mid_change() -> None:
    from trajrec.screen import screen_changes

    frames = np.arange(0, 40) * 100 * MS + 1_000 * MS  # a frame every 100 ms from 1 s
    thumbs = []
    for i in range(40):  # still until 9, an animation over 10..20 (a new image each frame), still again from 21
        v = 0 if i < 10 else (min(i, 21) - 9) * 10
        thumbs.append((i, np.full((9, 16), v, np.uint8)))
    changes = screen_changes(thumbs)
    s = Script()
    s.t = int(frames[2])
    s.click(10, 10, wait_ms=1)  # ends at frame 2 + 61 ms
    s.t = int(frames[15]) + 50 * MS
    s.click(20, 20, wait_ms=1)  # pressed mid-animation: frame 15 changes, so does every frame back to 10
    s.t = int(frames[30]) + 50 * MS
    s.click(30, 30, wait_ms=1)  # pressed when the screen has been still since frame 21
    rules = ActionRules(hover_ns=None)
    visual = reduce_events(s.events, frame_times=frames, changes=changes, rules=rules)
    timed = reduce_events(s.events, frame_times=frames, rules=rules)
    assert [a.frame_before for a in timed] == [2, 15, 30]
    # 1: frame 2 looks like frame 1; 2: frames 10..15 all changed, 9 is the last still one (and after the first
    # click's end, the floor); 3: frame 30 looks like frame 29
    assert visual[0].frame_before == 2 and visual[1].frame_before == 9 and visual[2].frame_before == 30
    s2 = Script()
    s2.t = int(frames[12]) + 50 * MS
    s2.click(10, 10, wait_ms=1)  # the previous action ends inside the animation...
    s2.t = int(frames[15]) + 50 * MS
    s2.click(20, 20, wait_ms=1)  # ...so nothing settled lies between: the time-based frame stays
    _, second = reduce_events(s2.events, frame_times=frames, changes=changes, rules=rules)
    assert second.frame_before == 15


def test_narration_is_the_speech_leading_up_to_and_during_each_action() -> None:
    s = Script()
    s.t = 2_000 * MS
    s.click(10, 10, wait_ms=1)  # 2.001-2.061 s
    s.t = 9_000 * MS
    s.click(20, 20, wait_ms=1)  # 9.001 s: 7 s after the first
    s.t = 9_500 * MS
    s.type("ok")
    speech = [(500 * MS, 1_500 * MS), (3_000 * MS, 3_500 * MS), (8_800 * MS, 9_700 * MS), (20_000 * MS, 21_000 * MS)]
    m = fmt.Marker(9_050 * MS, fmt.MarkerKind.STEP, "save")
    acts = reduce_events(s.events, markers=[m], speech=speech, rules=ActionRules(hover_ns=None))
    assert kinds(acts) == ["click", "click", "marker", "type"]
    first, second, marker, typed = acts
    assert first.narration == (speech[0],)  # said in the 5 s before it
    assert second.narration == (speech[2],)  # span 1 ends more than 5 s before; span 2 runs into the click
    assert marker.narration == typed.narration == (speech[2],)  # the typing starts while span 2 still runs
    assert reduce_events(s.events, rules=ActionRules(hover_ns=None))[0].narration == ()
    late = reduce_events(s.events, speech=speech, rules=ActionRules(hover_ns=None, narration_lead_ns=10_000 * MS))
    assert late[1].narration == (speech[1], speech[2])  # a longer lead: back to the first click's end, no further
