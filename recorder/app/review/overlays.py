"""What the Review player draws over a frame at a time: the pointer, recent clicks and the keys typed lately.

Qt-free (numpy and pyarrow only): `overlays_from_events` turns the bundle's input table into time-sorted
arrays with positions already mapped from desktop pixels to video pixels, and `Overlays` answers "what shows
at t_ns" with binary searches, so a frame at any time costs a few lookups however long the recording is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trajrec.manifest import RegionJSON

CLICK_RING_NS = 600_000_000  # a click's ring fades out over this long
CAPTION_NS = 2_000_000_000  # keys typed in this window show in the caption strip
CAPTION_MAX_CHARS = 36
POINTER_KINDS = ("move", "down", "up", "scroll")  # events that carry a pointer position


@dataclass(frozen=True)
class Overlays:
    """Input events prepared for drawing, positions already in video pixels (sorted by time)."""

    pointer_t: np.ndarray  # int64, pointer events that carry a position (move, down, up, scroll)
    pointer_xy: np.ndarray  # float64 (n, 2), video px
    click_t: np.ndarray  # int64, `down` events
    click_xy: np.ndarray  # float64 (n, 2)
    key_t: np.ndarray  # int64, `key_down` events that produce a caption token
    key_text: Sequence[str]  # the token each of them shows ("a", "<Enter>", "<Ctrl+C>")

    @staticmethod
    def empty() -> Overlays:
        t = np.zeros(0, np.int64)
        xy = np.zeros((0, 2), np.float64)
        return Overlays(t, xy, t, xy, t, ())

    def pointer_at(self, t_ns: int) -> tuple[float, float] | None:
        i = int(np.searchsorted(self.pointer_t, t_ns, side="right")) - 1
        return None if i < 0 else (float(self.pointer_xy[i, 0]), float(self.pointer_xy[i, 1]))

    def clicks_near(self, t_ns: int) -> list[tuple[float, float, float]]:
        """(x, y, age 0..1) of the clicks in the last CLICK_RING_NS."""
        lo = int(np.searchsorted(self.click_t, t_ns - CLICK_RING_NS, side="right"))
        hi = int(np.searchsorted(self.click_t, t_ns, side="right"))
        return [
            (float(self.click_xy[i, 0]), float(self.click_xy[i, 1]), (t_ns - int(self.click_t[i])) / CLICK_RING_NS)
            for i in range(lo, hi)
        ]

    def caption_at(self, t_ns: int) -> str:
        lo = int(np.searchsorted(self.key_t, t_ns - CAPTION_NS, side="right"))
        hi = int(np.searchsorted(self.key_t, t_ns, side="right"))
        text = "".join(self.key_text[lo:hi])
        return text if len(text) <= CAPTION_MAX_CHARS else "..." + text[-(CAPTION_MAX_CHARS - 3) :]


def overlays_from_events(events: pa.Table, region: RegionJSON | None, video_size: tuple[int, int] | None) -> Overlays:
    """The overlays of an input-events table (the bundle's input/events.parquet, time-sorted).

    `region` is the recorded part of the desktop (the screen stream's region; None: the whole video from the
    desktop's origin). Without a video (`video_size` None) nothing is drawn, so the overlays are empty."""
    if video_size is None or events.num_rows == 0:
        return Overlays.empty()
    t = np.asarray(events.column("t_ns").to_numpy(), np.int64)
    kind = np.asarray(events.column("kind").to_numpy(zero_copy_only=False), dtype=object)
    region = region or {"origin": [0, 0], "size_px": list(video_size)}
    ox, oy = (float(v) for v in region["origin"])
    rw, rh = (float(v) for v in region["size_px"])
    sx, sy = video_size[0] / max(1.0, rw), video_size[1] / max(1.0, rh)
    xs = events.column("x").to_numpy(zero_copy_only=False)
    ys = events.column("y").to_numpy(zero_copy_only=False)
    has_xy = ~(pc.is_null(events.column("x")).to_numpy(zero_copy_only=False)) & ~(
        pc.is_null(events.column("y")).to_numpy(zero_copy_only=False)
    )
    xy = np.stack(
        [(np.nan_to_num(xs.astype(np.float64)) - ox) * sx, (np.nan_to_num(ys.astype(np.float64)) - oy) * sy], 1
    )
    pointer = has_xy & np.isin(kind, POINTER_KINDS)
    clicks = has_xy & (kind == "down")
    key_rows = np.flatnonzero(kind == "key_down")
    keys = events.column("key").to_pylist()
    chars = events.column("char").to_pylist()
    mods = events.column("modifiers").to_pylist()
    tokens = [(int(t[i]), key_token(keys[i], chars[i], mods[i] or ())) for i in key_rows]
    tokens = [(ti, s) for ti, s in tokens if s]
    return Overlays(
        pointer_t=t[pointer],
        pointer_xy=xy[pointer],
        click_t=t[clicks],
        click_xy=xy[clicks],
        key_t=np.array([ti for ti, _ in tokens], np.int64),
        key_text=tuple(s for _, s in tokens),
    )


_KEY_NAMES = {
    "enter": "<Enter>",
    "return": "<Enter>",
    "tab": "<Tab>",
    "backspace": "<Bksp>",
    "delete": "<Del>",
    "esc": "<Esc>",
    "escape": "<Esc>",
    "left": "<Left>",
    "right": "<Right>",
    "up": "<Up>",
    "down": "<Down>",
    "home": "<Home>",
    "end": "<End>",
    "page_up": "<PgUp>",
    "page_down": "<PgDn>",
}
_MODIFIER_KEYS = ("shift", "ctrl", "alt", "cmd", "super", "meta", "caps_lock", "num_lock", "alt_gr", "menu")


def key_token(key: str | None, char: str | None, modifiers: Sequence[str]) -> str:
    """What one key press adds to the caption: its character, or a short name in <>. Modifier presses
    add nothing. OpenCV's fonts are ASCII-only, so other characters show as '?'."""
    if not key:
        return ""
    name = key.lower()
    if name.startswith(_MODIFIER_KEYS):
        return ""
    chord = [m.capitalize() for m in modifiers if m in ("ctrl", "alt", "super", "meta")]
    if chord:
        label = (char if char and char.isprintable() and len(char) == 1 else key).upper()
        return "<" + "+".join([*chord, label]) + ">"
    if char is not None and char.isprintable() and char != "":
        return "".join(c if 32 <= ord(c) < 127 else "?" for c in char)
    if name == "space":
        return " "
    if name in _KEY_NAMES:
        return _KEY_NAMES[name]
    if name.startswith("f") and name[1:].isdigit():
        return f"<{name.upper()}>"
    return ""


__all__ = ["CAPTION_NS", "CLICK_RING_NS", "Overlays", "key_token", "overlays_from_events"]
