"""The Review screen's Qt-free computation, without a display: loading a recording (counts, pauses, flags, the
focused window), the overlays at a time, the voiceover envelope of a known signal, the timeline's numbers, the
texts, and a frame rendered with its overlays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from recorder.app.review.data import (
    ReviewData,
    axis_ticks,
    clamp_trim,
    duration_text,
    format_time,
    load_review,
    voice_envelope,
    wave_columns,
)
from recorder.app.review.overlays import CAPTION_NS, CLICK_RING_NS, Overlays, key_token, overlays_from_events
from recorder.app.review.render import compose, fit
from trajrec import format as fmt
from trajrec.reader import BundleReader

NS = 1_000_000_000
QT_FREE = (
    "recorder.app.palette",
    "recorder.app.review.data",
    "recorder.app.review.overlays",
    "recorder.app.review.render",
    "recorder.app.setup.devices",
    "recorder.app.setup.preflight",
    "recorder.app.setup.taskfile",
)


@pytest.fixture(scope="module")
def review(sample: tuple[Path, Any]) -> Any:
    data = load_review(sample[0])
    yield data
    data.close()


def test_the_qt_free_modules_load_no_qt() -> None:
    code = f"import importlib, sys\nfor m in {QT_FREE!r}: importlib.import_module(m)\nprint('PySide6' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# --- loading ------------------------------------------------------------------------------------------------
def test_load_review_matches_the_bundle(review: ReviewData, sample: tuple[Path, Any]) -> None:
    path, truth = sample
    with BundleReader(path) as r:
        pauses = r.pauses()
        frames = len(r.frame_times())
    downs = [e.t_ns for e in truth.events if e.kind == fmt.EventKind.DOWN]
    key_downs = [e.t_ns for e in truth.events if e.kind == fmt.EventKind.KEY_DOWN]
    steps = [m for m in truth.markers if m.kind in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE)]
    assert (review.start_ns, review.end_ns) == (truth.start_ns, truth.end_ns)
    assert review.pauses == pauses and len(pauses) == 1  # the reader's pause spans, not a copy of the rule
    assert review.counts() == {"frames": frames, "events": len(truth.events), "markers": len(steps)}
    assert review.click_ticks.tolist() == downs and review.key_ticks.tolist() == key_downs
    assert review.video_size == (320, 240) and review.title == "Synthetic session"
    flags = review.flags()
    assert [f.t_ns for f in flags] == [m.t_ns for m in steps]
    assert [f.label for f in flags] == ["1", "2"]
    assert flags[1].tooltip == f"Step 2 at {format_time(steps[1].t_ns - truth.start_ns)}: {steps[1].text}"
    assert all(review.markers[f.index].t_ns == f.t_ns for f in flags)


def test_focused_window_at_a_time(review: ReviewData, sample: tuple[Path, Any]) -> None:
    _, truth = sample
    first = next(w for w in truth.windows if w.focused)
    shown = f"{first.app}  ·  {first.title}"
    assert review.window_at(first.t_ns) == shown
    assert review.window_at(truth.start_ns) == shown  # before the first record: the window as first seen
    assert review.window_at(truth.end_ns) == review.windows[-1][1]


def test_the_envelope_of_the_sample_follows_its_voiceover(review: ReviewData, sample: tuple[Path, Any]) -> None:
    _, truth = sample
    env = review.envelope
    assert env is not None and env.shape == (3000, 2) and env.dtype == np.float32
    assert np.all(env[:, 0] <= env[:, 1])
    peak = np.abs(truth.audio.astype(np.float64)).max() / 32768.0
    assert np.abs(env).max() == pytest.approx(peak, abs=1e-4)  # every sample lies in some column


# --- overlays -----------------------------------------------------------------------------------------------
def test_overlays_at_a_time_from_the_sample(review: ReviewData, sample: tuple[Path, Any]) -> None:
    _, truth = sample
    ov = review.overlays
    pointer = [e for e in truth.events if e.kind in fmt.POINTER_KINDS and e.x is not None]
    assert ov.pointer_at(pointer[0].t_ns - 1) is None  # nothing before the first pointer event
    for e in pointer[:: max(1, len(pointer) // 20)]:
        same_time = [p for p in pointer if p.t_ns == e.t_ns]
        assert ov.pointer_at(e.t_ns) == (float(same_time[-1].x), float(same_time[-1].y))  # origin 0, scale 1
    down = next(e for e in truth.events if e.kind == fmt.EventKind.DOWN)
    rings = ov.clicks_near(down.t_ns + CLICK_RING_NS // 4)
    assert (float(down.x), float(down.y), 0.25) in rings
    assert all(r[:2] != (down.x, down.y) for r in ov.clicks_near(down.t_ns + CLICK_RING_NS + 1))
    keys = [e for e in truth.events if e.kind == fmt.EventKind.KEY_DOWN]
    caption = ov.caption_at(keys[2].t_ns)
    assert caption.endswith("".join(str(k.char) for k in keys[:3]))
    assert ov.caption_at(keys[-1].t_ns + CAPTION_NS + 1) == ""  # typing shows for CAPTION_NS, then goes


def _events(rows: list[dict[str, Any]]) -> pa.Table:
    cols = ("t_ns", "kind", "x", "y", "key", "char", "modifiers")
    types = (pa.int64(), pa.string(), pa.int32(), pa.int32(), pa.string(), pa.string(), pa.list_(pa.string()))
    return pa.table({c: pa.array([r.get(c) for r in rows], type=t) for c, t in zip(cols, types, strict=True)})


def test_positions_map_from_the_recorded_region_to_video_pixels() -> None:
    table = _events(
        [
            {"t_ns": 10, "kind": "move", "x": 300, "y": 250},
            {"t_ns": 20, "kind": "down", "x": 500, "y": 450},
            {"t_ns": 30, "kind": "key_down", "key": "a", "char": "a"},
            {"t_ns": 40, "kind": "key_down", "key": "shift_l"},  # a modifier adds nothing
            {"t_ns": 50, "kind": "key_down", "key": "enter"},
        ]
    )
    # a 640x480 region at (100, 50) of the desktop, recorded as a 320x240 video: half scale
    ov = overlays_from_events(table, {"origin": [100, 50], "size_px": [640, 480]}, (320, 240))
    assert ov.pointer_at(15) == (100.0, 100.0)
    assert ov.pointer_at(25) == (200.0, 200.0)  # a click is a pointer position too
    assert ov.click_xy.tolist() == [[200.0, 200.0]]
    assert ov.key_t.tolist() == [30, 50] and ov.caption_at(60) == "a<Enter>"
    assert overlays_from_events(table, None, None).pointer_at(25) is None  # no video: nothing drawn


@pytest.mark.parametrize(
    ("key", "char", "mods", "token"),
    [
        ("a", "a", (), "a"),
        ("space", None, (), " "),
        ("return", None, (), "<Enter>"),
        ("c", "c", ("ctrl",), "<Ctrl+C>"),
        ("ctrl_l", None, ("ctrl",), ""),
        ("f5", None, (), "<F5>"),
        ("e", "é", (), "?"),
        (None, None, (), ""),
    ],
)
def test_key_tokens(key: str | None, char: str | None, mods: tuple[str, ...], token: str) -> None:
    assert key_token(key, char, mods) == token


def test_a_long_caption_keeps_the_newest_keys() -> None:
    t = np.arange(50, dtype=np.int64) * 10
    ov = Overlays(t[:0], np.zeros((0, 2)), t[:0], np.zeros((0, 2)), t, tuple(chr(65 + i % 26) for i in range(50)))
    caption = ov.caption_at(490)
    assert len(caption) == 36 and caption.startswith("...") and caption.endswith("UVWX")


# --- the envelope of a known signal, the timeline's numbers ------------------------------------------------
def test_envelope_of_a_known_signal() -> None:
    rate = 8000.0
    start, end = 1_000 * NS, 1_002 * NS  # 2 s: silence, then a 12000-peak square wave
    n = int((end - start) / NS * rate)
    signal = np.zeros((n, 1), np.int16)
    signal[n // 2 :: 2, 0] = 12000
    signal[n // 2 + 1 :: 2, 0] = -12000
    reads: list[int] = []

    def audio(t0: int, t1: int) -> np.ndarray:
        a, b = round((t0 - start) * rate / NS), round((t1 - start) * rate / NS)
        reads.append(b - a)
        return signal[a:b]

    env = voice_envelope(audio, rate, start, end, 200)
    assert env.shape == (200, 2)
    assert np.all(env[:100] == 0)
    assert np.allclose(env[101:, 0], -12000 / 32768) and np.allclose(env[101:, 1], 12000 / 32768)
    assert len(reads) > 1 and max(reads) < n  # read in chunks, never the whole file at once
    lo, hi, gain = wave_columns(env, 50)  # 50 pixels: the loudest part fills the band
    assert len(lo) == len(hi) == 50 and gain == pytest.approx(32768 / 12000, rel=1e-5)
    assert lo[0] == hi[0] == 0 and hi[-1] * gain == pytest.approx(1.0) and lo[-1] * gain == pytest.approx(-1.0)
    assert wave_columns(env / 100, 50)[2] == 8.0  # a quiet voice is raised at most 8x


def test_axis_ticks_and_trim_bounds() -> None:
    assert axis_ticks(10 * NS) == [(k * NS, f"00:{k:02d}") for k in range(11)]
    assert [label for _, label in axis_ticks(2 * NS)] == ["00:00.0", "00:00.5", "00:01.0", "00:01.5", "00:02.0"]
    assert axis_ticks(3600 * NS)[1] == (600 * NS, "10:00")
    whole, keep = (0, 10 * NS), NS // 5
    assert clamp_trim(whole, whole, keep, 2 * NS, None) == (2 * NS, 10 * NS)
    assert clamp_trim((2 * NS, 10 * NS), whole, keep, None, NS) == (2 * NS, 2 * NS + keep)  # order kept
    assert clamp_trim(whole, whole, keep, -5 * NS, 99 * NS) == whole  # inside the recording
    assert clamp_trim((0, 100), (0, 100), keep, 90, None) == (0, 100)  # shorter than the minimum: all kept


def test_texts() -> None:
    assert format_time(83_456_000_000) == "01:23.4"
    assert format_time(3_723_000_000_000) == "1:02:03.0"
    assert duration_text(4_250_000_000) == "4.2 s" and duration_text(125 * NS) == "2:05"
    assert duration_text(3725 * NS) == "1:02:05"


def test_discard_and_trim_texts(review: ReviewData) -> None:
    text = review.discard_text()
    assert text.startswith("“Synthetic session” will be deleted from this computer: 4.0 s of screen video, ")
    assert f"{review.events:,} input events" in text and "2 markers with their notes" in text
    assert text.endswith("and the voiceover. This cannot be undone.")
    start = review.start_ns
    assert review.trim_text(start + NS // 2, start + 3 * NS) == "Keeping 00:00.5 to 00:03.0  (2.5 s)"


# --- a frame, rendered --------------------------------------------------------------------------------------
def test_compose_fits_the_frame_and_draws_the_overlays_on_a_copy() -> None:
    raw = np.zeros((120, 160, 3), np.uint8)
    t = np.array([100], np.int64)
    ov = Overlays(t, np.array([[40.0, 30.0]]), t, np.array([[120.0, 90.0]]), t, ("hello",))
    assert fit((160, 120), (400, 400)) == (400, 300, 2.5)
    comp = compose(raw, 100 + CLICK_RING_NS // 10, 0, (160, 120), (400, 400), ov)
    assert comp.image.shape == (300, 400, 3) and comp.scale == 2.5
    assert not comp.scaled.any() and not raw.any()  # the overlays went on a copy
    tx, ty = comp.to_view(40, 30)
    assert comp.image[ty + 7 : ty + 13, tx + 2 : tx + 5].mean() > 200  # the white arrow just below its tip
    cx, cy = comp.to_view(120, 90)
    assert comp.image[cy - 12 : cy + 13, cx - 12 : cx + 13, 2].max() > 100  # the click's blue ring
    assert comp.image[-40:-10, 150:250].any()  # the caption strip
    assert not comp.image[:40, -40:].any()  # nothing drawn far from them
    blank = compose(None, 0, None, (160, 120), (80, 80), Overlays.empty())
    assert blank.raw is None and blank.image.shape == (60, 80, 3) and not blank.image.any()


def test_privacy_spans_reach_the_review(bundle: Path) -> None:
    """What the guards removed is shown on the timeline: gaps of denied windows, spans of hidden keys."""
    from tests.helpers.bundles import edit_manifest

    start = int(BundleReader(bundle).start_ns)
    spans = [
        {"start_ns": start + 10**8, "end_ns": start + 3 * 10**8, "kind": "keys-hidden"},
        {"start_ns": start + 5 * 10**8, "end_ns": start + 6 * 10**8, "kind": "deny-list"},
    ]
    edit_manifest(bundle, lambda m: m["privacy"].update(spans=spans))
    data = load_review(bundle)
    try:
        assert [(s.start_ns - start, s.end_ns - start, kind) for s, kind in data.privacy] == [
            (10**8, 3 * 10**8, "keys-hidden"),
            (5 * 10**8, 6 * 10**8, "deny-list"),
        ]
    finally:
        data.reader.close()
