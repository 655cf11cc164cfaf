"""Synthesize realistic sessions through the real writers: H.264 video of a desktop where text is typed,
mouse and keyboard events, window focus changes, markers, an optional pause and a FLAC voiceover.

Each frame carries its index as a 20-bit barcode along its top edge (`read_barcode`), so a test can
tell exactly which frame a decoder returned. Used by the tests, the benchmarks and `trajrec sample`.
"""

from __future__ import annotations

import platform
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recorder.privacy.state import GuardsRecord
from recorder.sealing.seal import seal
from recorder.writers.live import LiveWriter
from recorder.writers.video import VideoSettings
from trajrec import format as fmt

BARCODE_BITS = 20
BARCODE_CELL = 16
NS = 1_000_000_000
BASE_MONO_NS = 5_000 * NS  # an arbitrary monotonic-clock origin, as on a machine up for 83 minutes
BASE_UTC_NS = 1_795_000_000 * NS  # 2026-11-18


@dataclass(frozen=True)
class SyntheticSpec:
    duration_s: float = 4.0
    width: int = 640
    height: int = 360
    fps: int = 30
    audio: bool = True
    sample_rate: int = 48_000
    audio_block: int = 480  # 10 ms blocks, as a sound card delivers them
    audio_gap: bool = False  # lose ~100 ms of audio in the middle (filled with silence)
    audio_clock_ppm: float = 0.0  # the sound card's clock runs this much fast (+) or slow (-)
    pause: bool = False  # pause from 40 % to 55 % of the duration
    stall: tuple[float, float] | None = None  # (start s, length s): no frame grabbed (a frozen machine)
    crf: int = 23
    preset: str = "veryfast"
    seed: int = 0
    text: str | None = None  # typed into the terminal, over and over; None: a few lines of Python and shell


@dataclass
class SyntheticTruth:
    """What went in, to compare with what a reader gets out."""

    session_id: str
    start_ns: int
    end_ns: int
    frame_t_ns: list[int] = field(default_factory=list)
    events: list[fmt.InputEvent] = field(default_factory=list)
    windows: list[fmt.WindowRecord] = field(default_factory=list)
    elements: list[fmt.ElementRecord] = field(default_factory=list)
    markers: list[fmt.Marker] = field(default_factory=list)
    audio: np.ndarray | None = None  # gap-filled int16 samples, shape (n, 1)
    first_sample_t_ns: int | None = None
    audio_blocks: list[tuple[int, int]] = field(default_factory=list)  # (first sample, t_ns) as stamped


def draw_barcode(image: np.ndarray, value: int) -> None:
    for bit in range(BARCODE_BITS):
        on = (value >> (BARCODE_BITS - 1 - bit)) & 1
        x = bit * BARCODE_CELL
        image[0:BARCODE_CELL, x : x + BARCODE_CELL] = 255 if on else 0


def read_barcode(rgb: np.ndarray) -> int:
    value = 0
    half = BARCODE_CELL // 2
    for bit in range(BARCODE_BITS):
        x = bit * BARCODE_CELL + half
        on = int(rgb[half - 2 : half + 2, x - 2 : x + 2].mean() > 127)
        value = (value << 1) | on
    return value


def environment(width: int, height: int) -> dict[str, Any]:
    return {
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "locale": "en_US.UTF-8",
        "keyboard_layout": "us",
        "coordinate_space": fmt.COORDINATE_SPACE,
        "displays": [
            fmt.Display(
                id=0,
                origin=(0, 0),
                size_px=(width, height),
                scale=1.0,
                refresh_hz=60.0,
                primary=True,
                name="synthetic-0",
            ).to_json()
        ],
    }


class _Desktop:
    """A desktop-like picture: a dark background, a terminal window into which text is typed."""

    def __init__(self, width: int, height: int) -> None:
        import cv2

        self._cv2 = cv2
        self.width, self.height = width, height
        self.canvas = np.full((height, width, 3), (48, 40, 36), np.uint8)
        self.term = (width // 16, height // 8, width * 7 // 8, height * 6 // 8)  # x, y, w, h
        x, y, w, h = self.term
        cv2.rectangle(self.canvas, (x, y), (x + w, y + h), (24, 24, 24), -1)
        cv2.rectangle(self.canvas, (x, y), (x + w, y + 22), (90, 90, 90), -1)
        cv2.putText(
            self.canvas,
            "terminal - synthetic session",
            (x + 8, y + 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
        self.font_scale = max(0.4, width / 1600)
        self.line_h = int(22 * self.font_scale / 0.4 * 0.8) + 4
        self.char_w = int(9 * self.font_scale / 0.4)
        self.col = 0
        self.row = 0

    def type_char(self, ch: str) -> None:
        x, y, w, h = self.term
        max_cols = max(1, (w - 16) // self.char_w)
        max_rows = max(1, (h - 40) // self.line_h)
        if ch == "\n" or self.col >= max_cols:
            self.col, self.row = 0, self.row + 1
            if self.row >= max_rows:  # scroll: clear the text area
                self.row = 0
                self._cv2.rectangle(self.canvas, (x, y + 23), (x + w, y + h), (24, 24, 24), -1)
            if ch == "\n":
                return
        px = x + 8 + self.col * self.char_w
        py = y + 40 + self.row * self.line_h
        self._cv2.putText(
            self.canvas,
            ch,
            (px, py),
            self._cv2.FONT_HERSHEY_SIMPLEX,
            self.font_scale,
            (120, 230, 120),
            1,
            self._cv2.LINE_AA,
        )
        self.col += 1


_TEXT = (
    "import numpy as np\nx = np.linspace(0, 1, 100)\nprint(x.mean())\nls -la /data\ngrep -n 'error' run.log | head\n"
)


_KEYCODES = {ch: 10 + i for i, ch in enumerate(sorted(set(_TEXT)))}  # one code per key, as on a keyboard


def keycode(ch: str) -> int:
    """The scancode that types `ch`: one per character, the same in every session (characters beyond `_TEXT`'s
    get codes above all of those)."""
    return _KEYCODES.get(ch, 10 + len(_KEYCODES) + ord(ch))


def synthesize_live(
    live_dir: Path,
    spec: SyntheticSpec,
    session_id: str | None = None,
    stop: bool = True,
    realtime: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> SyntheticTruth:
    """Write a live session directory (as the recorder would) and return what went into it.

    With `realtime`, each record is written when its time comes (as a live recorder writes), so that
    a crash at wall time w loses what a real session would. `on_frame(index, t_ns)` follows each frame.
    """
    rng = random.Random(spec.seed)
    sid = session_id or fmt.new_session_id()
    dur_ns = int(spec.duration_s * NS)
    start = BASE_MONO_NS
    end = start + dur_ns
    pause = (start + int(dur_ns * 0.40), start + int(dur_ns * 0.55)) if spec.pause else None

    def paused(t: int) -> bool:
        return pause is not None and pause[0] <= t < pause[1]

    writer = LiveWriter(
        live_dir,
        session_id=sid,
        task={
            "id": "synthetic-001",
            "title": "Synthetic session",
            "instruction": "Type some code.",
            "expert": "expert-synthetic",
            "consent": True,
        },
        environment=environment(spec.width, spec.height),
        video=VideoSettings(spec.width, spec.height, crf=spec.crf, preset=spec.preset),
        screen={
            "fps_target": spec.fps,
            "display_ids": [0],
            "region": {"origin": [0, 0], "size_px": [spec.width, spec.height]},
        },
        audio_rate=spec.sample_rate if spec.audio else None,
        audio_device="synthetic" if spec.audio else None,
        audio_absent_reason="synthetic session without audio",
    )
    truth = SyntheticTruth(session_id=sid, start_ns=start, end_ns=end)
    writer.anchor(fmt.Anchor(start, BASE_UTC_NS, fmt.AnchorEvent.START))
    writer.guards(start + 1_000, GuardsRecord(start + 1_000, accessibility=None).to_json())
    if pause:
        writer.anchor(fmt.Anchor(pause[0], BASE_UTC_NS + pause[0] - start, fmt.AnchorEvent.PAUSE))
        writer.anchor(fmt.Anchor(pause[1], BASE_UTC_NS + pause[1] - start, fmt.AnchorEvent.RESUME))

    # Timeline of everything, merged in time order as a recorder's threads would interleave it.
    timeline: list[tuple[int, int, str, Any]] = []  # (t_ns, order, kind, payload)
    period = NS // spec.fps
    # Activity: typing bursts. Frames are grabbed every period but only changed ones are encoded,
    # plus one at least every 2 s (the keyframe rule) while idle.
    typed = spec.text or _TEXT
    text_pos = 0
    last_frame = None
    next_char_at = start + int(0.3 * NS)
    t = start + 5_000_000
    mods: tuple[str, ...] = ()
    while t < end - 20_000_000:
        if paused(t):
            t = pause[1] + 7_000_000 if pause else t
            continue
        changed = False
        if t >= next_char_at:
            ch = typed[text_pos % len(typed)]
            text_pos += 1
            key = "enter" if ch == "\n" else ("space" if ch == " " else ch)
            scancode = keycode(ch)
            char = None if ch == "\n" else ch
            # bursts of typing separated by thinking pauses; a key is released before the next press
            gap_ms = rng.randint(60, 180) if rng.random() > 0.04 else rng.randint(1500, 3500)
            next_char_at = t + gap_ms * 1_000_000
            down = t - 3_000_000
            up = down + rng.randint(30, min(110, gap_ms - 20)) * 1_000_000
            if not paused(up) and up < end - 20_000_000:
                for when, key_kind in ((down, fmt.EventKind.KEY_DOWN), (up, fmt.EventKind.KEY_UP)):
                    ev = fmt.InputEvent(
                        0, when, key_kind, key=key, char=char, scancode=scancode, modifiers=mods, injected=False
                    )
                    timeline.append((when, 1, "event", ev))
                changed = True
        stalled = spec.stall is not None and spec.stall[0] <= (t - start) / NS < sum(spec.stall)
        if not stalled and (changed or last_frame is None or t - last_frame >= fmt.KEYFRAME_INTERVAL_NS):
            grab = t + rng.randint(0, 900_000)  # grab time jitters within the period
            timeline.append((grab, 0, "frame", len(truth.frame_t_ns)))
            truth.frame_t_ns.append(grab)
            last_frame = t
        t += period

    # Pointer: a few strokes, a click and a scroll every ~1.5 s of activity.
    t = start + int(0.2 * NS)
    x, y = spec.width // 2, spec.height // 2
    while t + NS < end:  # a stroke with its click and scroll takes under 1 s
        if pause and (paused(t) or paused(t + NS)):
            t = pause[1] + 13_000_000
            continue
        tx, ty = rng.randrange(spec.width), rng.randrange(spec.height)
        steps = rng.randint(5, 15)
        for i in range(1, steps + 1):
            x = x + (tx - x) * i // steps
            y = y + (ty - y) * i // steps
            t += 16_000_000
            timeline.append((t, 2, "event", fmt.InputEvent(0, t, fmt.EventKind.MOVE, x=x, y=y, injected=False)))
        button = rng.choice(["left", "left", "right"])
        t += 30_000_000
        timeline.append((t, 2, "event", fmt.InputEvent(0, t, fmt.EventKind.DOWN, x=x, y=y, button=button)))
        run = fmt.ElementRecord(
            t, fmt.ElementKind.CLICK, "push button", "Run", ("enabled",), "ide", "gtk", x, y, 40, 20, x, y
        )
        timeline.append((t, 3, "element", run))
        t += rng.randint(50, 120) * 1_000_000
        timeline.append((t, 2, "event", fmt.InputEvent(0, t, fmt.EventKind.UP, x=x, y=y, button=button)))
        t += 200_000_000
        timeline.append(
            (
                t,
                2,
                "event",
                fmt.InputEvent(0, t, fmt.EventKind.SCROLL, x=x, y=y, dx=0, dy=rng.choice([-1, 1])),
            )
        )
        t += rng.randint(800, 1800) * 1_000_000

    # Window focus changes and step markers.
    apps = [
        ("xterm", "~/project: bash"),
        ("firefox", "Docs - Mozilla Firefox"),
        ("code", "main.py - VS Code"),
    ]
    for i, wt in enumerate(range(start + 1_000_000, end, 5 * NS)):
        if paused(wt):
            continue
        app, title = apps[i % len(apps)]
        field_at = ("text", f"{app} input", ("editable", "focused"), app, "gtk", 10 * i, 40, 200, 20)
        timeline.append(
            (wt + 2_000_000, 3, "element", fmt.ElementRecord(wt + 2_000_000, fmt.ElementKind.FOCUS, *field_at))
        )
        timeline.append(
            (
                wt,
                3,
                "window",
                fmt.WindowRecord(
                    wt,
                    app,
                    title,
                    10 * i,
                    20,
                    spec.width // 2,
                    spec.height // 2,
                    True,
                    1000 + i,
                    0x400000 + i,
                ),
            )
        )
    for i, mt in enumerate(range(start + NS, end - NS // 2, 2 * NS)):
        if not paused(mt):
            timeline.append((mt, 4, "marker", fmt.Marker(mt, fmt.MarkerKind.STEP, f"step {i + 1}")))
    if pause:
        timeline.append((pause[0], 4, "marker", fmt.Marker(pause[0], fmt.MarkerKind.PAUSE, None)))
        timeline.append((pause[1], 4, "marker", fmt.Marker(pause[1], fmt.MarkerKind.RESUME, None)))

    # Voiceover: a voiced hum under a syllable-rate envelope, in 10 ms blocks with tiny timing jitter.
    audio_blocks: list[tuple[int, np.ndarray]] = []
    if spec.audio:
        sr, n = spec.sample_rate, spec.audio_block
        s0 = start + 15_000_000  # the device starts a little after the session
        total = int((end - s0 - 10_000_000) * sr // NS)
        k = np.arange(total)
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.5 * k / sr)
        voice = 0.3 * env * np.sin(2 * np.pi * 180 * k / sr) + 0.02 * np.random.default_rng(spec.seed).standard_normal(
            total
        )
        pcm = (np.clip(voice, -1, 1) * 32767).astype(np.int16).reshape(-1, 1)
        gap = (total // 4, total // 4 + 10 * n) if spec.audio_gap else None
        for first in range(0, total - n + 1, n):
            device_rate = sr * (1 + spec.audio_clock_ppm / 1e6)
            bt = s0 + round(first * NS / device_rate) + rng.randint(-150_000, 150_000)
            if paused(bt) or (pause and paused(bt + n * NS // sr)):
                continue
            if gap and gap[0] <= first < gap[1]:
                continue
            audio_blocks.append((bt, pcm[first : first + n]))
        timeline.extend((bt, 5, "audio", i) for i, (bt, _) in enumerate(audio_blocks))

    timeline.sort(key=lambda item: (item[0], item[1]))
    # Replay in time order: a frame shows the text typed before it was grabbed.
    render = _Desktop(spec.width, spec.height)
    seq = 0
    audio_parts: list[tuple[int, np.ndarray]] = []
    wall0 = time.monotonic_ns()
    for t_ns, _order, kind, payload in timeline:
        if realtime:
            ahead = (t_ns - start) - (time.monotonic_ns() - wall0)
            if ahead > 0:
                time.sleep(ahead / NS)
        if kind == "frame":
            img = render.canvas.copy()
            draw_barcode(img, payload)
            writer.frame(t_ns, img, display_id=0)
            if on_frame is not None:
                on_frame(payload, t_ns)
        elif kind == "event":
            ev = payload
            if ev.kind == fmt.EventKind.KEY_DOWN:
                render.type_char("\n" if ev.key == "enter" else (ev.char or " "))
            writer.event(ev)
            truth.events.append(fmt.InputEvent(**{**_fields(ev), "seq": seq}))
            seq += 1
        elif kind == "window":
            writer.window(payload)
            truth.windows.append(payload)
        elif kind == "element":
            writer.element(payload)
            truth.elements.append(payload)
        elif kind == "marker":
            writer.marker(payload)
            truth.markers.append(payload)
        elif kind == "audio":
            bt, block = audio_blocks[payload]
            rec = writer.audio(bt, block)
            if truth.first_sample_t_ns is None:
                truth.first_sample_t_ns = bt
            audio_parts.append((rec.first_sample, block))
            truth.audio_blocks.append((rec.first_sample, bt))
    if spec.audio and audio_parts:
        total_out = audio_parts[-1][0] + len(audio_parts[-1][1])
        out = np.zeros((total_out, 1), np.int16)
        for first, block in audio_parts:
            out[first : first + len(block)] = block
        truth.audio = out
    writer.close(stop=fmt.Anchor(end, BASE_UTC_NS + dur_ns, fmt.AnchorEvent.STOP) if stop else None)
    truth.markers.sort(key=lambda m: m.t_ns)
    return truth


def _fields(ev: fmt.InputEvent) -> dict[str, Any]:
    return {f: getattr(ev, f) for f in ev.__slots__}


def synthesize_bundle(
    out_dir: Path, spec: SyntheticSpec | None = None, session_id: str | None = None
) -> tuple[Path, SyntheticTruth]:
    """Record a synthetic session into a scratch live directory under out_dir and seal it there."""
    spec = spec or SyntheticSpec()
    sid = session_id or fmt.new_session_id()
    live = out_dir / f".{sid}.live"
    truth = synthesize_live(live, spec, session_id=sid)
    bundle = seal(live, out_dir)
    shutil.rmtree(live)
    return bundle, truth
