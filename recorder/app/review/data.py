"""What the Review screen shows, computed without Qt: the loaded recording (`load_review` -> `ReviewData`), its
markers, pauses, event ticks and voiceover envelope, the texts the screen prints, and the timeline's numbers.

`load_review` blocks (it opens the bundle and reads its tables and audio): the screen runs it through
`run_task`. Everything here is plain numpy/python so it is tested without a display.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recorder.app.review.overlays import Overlays, overlays_from_events
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.timeline import Span

NS = 1_000_000_000
ENVELOPE_COLUMNS = 3000
FLAG_KINDS = (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE)  # pauses show as shading, not as flags
MAX_GAIN = 8.0  # quiet voices still show in the waveform, up to this much louder
AXIS_STEPS_S = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)  # the time axis' label spacing


@dataclass(frozen=True)
class Flag:
    """A marker as the timeline shows it."""

    index: int  # the marker's index in BundleReader.markers() order
    t_ns: int
    label: str  # shown on the flag ("1", "2", ...)
    tooltip: str


@dataclass
class ReviewData:
    """Everything the Review screen shows, prepared off the GUI thread. Owns the open reader."""

    path: Path
    reader: BundleReader
    session_id: str
    title: str
    status: str
    start_ns: int
    end_ns: int
    frame_times: np.ndarray
    video_size: tuple[int, int] | None  # None: no screen stream
    events: int
    markers: list[fmt.Marker]  # all markers, BundleReader.markers() order
    pauses: list[Span]
    privacy: list[tuple[Span, str]]  # (span, "password-field" | "keys-hidden" | "deny-list"): what guards removed
    envelope: np.ndarray | None  # (columns, 2) float32 min/max in -1..1 spread over [start_ns, end_ns]
    voice: tuple[int, int] | None  # (sample rate, channels) of the voiceover, None without one
    click_ticks: np.ndarray  # t_ns of `down` events
    key_ticks: np.ndarray  # t_ns of `key_down` events
    windows: list[tuple[int, str]]  # (t_ns, "app - title") of the focused window from t_ns on
    overlays: Overlays = field(repr=False)
    _window_times: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._window_times = [t for t, _ in self.windows]

    @property
    def frames(self) -> int:
        return len(self.frame_times)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def paused_ns(self) -> int:
        return sum(max(0, min(p.end_ns, self.end_ns) - max(p.start_ns, self.start_ns)) for p in self.pauses)

    @property
    def recorded_ns(self) -> int:
        """What the recording screen's timer showed: the time recorded, pauses not counted."""
        return max(0, self.duration_ns - self.paused_ns)

    def flagged(self) -> list[tuple[int, fmt.Marker]]:
        """(index in markers, marker) of the markers shown as flags and in the list."""
        return [(i, m) for i, m in enumerate(self.markers) if m.kind in FLAG_KINDS]

    def flags(self) -> list[Flag]:
        """The timeline's flags, numbered from 1, each with a tooltip that says what and when."""
        return [
            Flag(
                i,
                m.t_ns,
                str(n),
                f"{m.kind.value.capitalize()} {n} at {format_time(m.t_ns - self.start_ns)}"
                + (f": {m.text}" if m.text else ""),
            )
            for n, (i, m) in enumerate(self.flagged(), 1)
        ]

    def counts(self) -> dict[str, int]:
        return {"frames": self.frames, "events": self.events, "markers": len(self.flagged())}

    def window_at(self, t_ns: int) -> str:
        """The focused window at `t_ns` ("" when no window was recorded)."""
        if not self.windows:
            return ""
        i = bisect.bisect_right(self._window_times, t_ns) - 1
        return self.windows[max(0, i)][1]  # before the first record: the window as first seen

    def discard_text(self) -> str:
        """What Discard deletes, in words, for the confirmation."""
        parts = [f"{duration_text(self.duration_ns)} of screen video" if self.frames else "the recording"]
        parts.append(plural(self.events, "input event"))
        if self.flagged():
            parts.append(plural(len(self.flagged()), "marker") + " with their notes")
        if self.envelope is not None:
            parts.append("the voiceover")
        lost = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        return f"“{self.title}” will be deleted from this computer: {lost}. This cannot be undone."

    def trim_text(self, start_ns: int, end_ns: int) -> str:
        """The kept part after a trim, as the timeline's caption says it."""
        return (
            f"Keeping {format_time(start_ns - self.start_ns)} to {format_time(end_ns - self.start_ns)}"
            f"  ({duration_text(end_ns - start_ns)})"
        )

    def close(self) -> None:
        self.reader.close()


# --- loading (worker side) ------------------------------------------------------------------------------
def load_review(path: Path, columns: int = ENVELOPE_COLUMNS) -> ReviewData:
    """Open a bundle and prepare the Review screen's data (blocking: run it off the GUI thread)."""
    reader = BundleReader(path)
    try:
        m = reader.manifest
        start, end = reader.start_ns, reader.end_ns
        screen = m["streams"]["screen"]
        video_size = (int(screen["width"]), int(screen["height"])) if reader.has_screen else None
        frame_times = reader.frame_times() if reader.has_screen else np.zeros(0, np.int64)
        ev = reader.events()
        t = np.asarray(ev.column("t_ns").to_numpy(), np.int64)
        kind = np.asarray(ev.column("kind").to_numpy(zero_copy_only=False), dtype=object)
        envelope = None
        if reader.has_audio:
            audio = m["streams"]["audio"]
            rate = float(audio.get("clock_rate_hz") or audio["sample_rate"])
            envelope = voice_envelope(reader.audio, rate, start, end, columns)
        return ReviewData(
            path=Path(path),
            reader=reader,
            session_id=reader.session_id,
            title=str(m["task"]["title"] or "Untitled task"),
            status=str(m["status"]),
            start_ns=start,
            end_ns=end,
            frame_times=frame_times,
            video_size=video_size,
            events=ev.num_rows,
            markers=reader.markers(),
            pauses=reader.pauses(),
            privacy=[
                (Span(int(s["start_ns"]), int(s["end_ns"])), str(s["kind"]))
                for s in m.get("privacy", {}).get("spans", [])
            ],
            envelope=envelope,
            voice=(int(m["streams"]["audio"]["sample_rate"]), int(m["streams"]["audio"]["channels"]))
            if reader.has_audio
            else None,
            click_ticks=t[kind == "down"],
            key_ticks=t[kind == "key_down"],
            windows=[
                (w.t_ns, f"{w.app}  ·  {w.title}" if w.title else w.app) for w in reader.window_records() if w.focused
            ],
            overlays=overlays_from_events(ev, screen.get("region") if reader.has_screen else None, video_size),
        )
    except BaseException:
        reader.close()
        raise


def voice_envelope(
    audio: Callable[[int, int], np.ndarray], rate: float, start: int, end: int, columns: int
) -> np.ndarray:
    """Min/max of the voiceover in `columns` equal slices of [start, end], as float32 (columns, 2) in -1..1.

    `audio(t0_ns, t1_ns)` gives int16 samples (n, channels) from t0_ns at `rate` samples per second of the
    session clock (`BundleReader.audio`). Read a few thousand columns' worth at a time (never the whole
    file in memory)."""
    edges = np.linspace(start, end, columns + 1).round().astype(np.int64)
    out = np.zeros((columns, 2), np.float32)
    per_chunk = max(1, int(columns * 20 * NS / max(1, end - start)) // 20)  # ~1 s of audio or more per read
    per_chunk = max(per_chunk, columns // 64)
    for c0 in range(0, columns, per_chunk):
        c1 = min(columns, c0 + per_chunk)
        pcm = audio(int(edges[c0]), int(edges[c1]))
        if len(pcm) == 0:
            continue
        lo = pcm.min(axis=1)
        hi = pcm.max(axis=1)
        idx = np.round((edges[c0:c1] - edges[c0]) * rate / NS).astype(np.int64)
        idx = np.clip(idx, 0, len(pcm) - 1)
        out[c0:c1, 0] = np.minimum.reduceat(lo, idx) / 32768.0
        out[c0:c1, 1] = np.maximum.reduceat(hi, idx) / 32768.0
    return out


# --- the timeline's numbers -----------------------------------------------------------------------------
def wave_columns(envelope: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The envelope drawn `columns` pixels wide: (low, high) per pixel and the gain that fills the band.

    The gain makes the loudest part reach the band's edge, at most MAX_GAIN (so a quiet voice still shows
    and silence stays flat)."""
    cols = max(1, columns)
    edges = np.linspace(0, len(envelope), cols + 1).astype(np.int64)[:-1]
    edges = np.minimum(edges, len(envelope) - 1)
    lo = np.minimum.reduceat(envelope[:, 0], edges)
    hi = np.maximum.reduceat(envelope[:, 1], edges)
    peak = float(max(np.abs(lo).max(), np.abs(hi).max(), 1e-3))
    return lo, hi, min(1.0 / peak, MAX_GAIN)


def axis_ticks(span_ns: int) -> list[tuple[int, str]]:
    """(offset ns from the start, "mm:ss" label) of the time axis' labels: about ten over the span, at a
    round step (tenths shown when the step is under a second)."""
    span_s = span_ns / NS
    step = next((s for s in AXIS_STEPS_S if span_s / s <= 10), 7200)
    out = []
    k = 0
    while k * step <= span_s + 1e-9:
        minutes, rest = divmod(k * step, 60)
        label = f"{int(minutes):02d}:{rest:04.1f}" if step < 1 else f"{int(minutes):02d}:{int(rest):02d}"
        out.append((round(k * step * NS), label))
        k += 1
    return out


def clamp_trim(
    trim: tuple[int, int], whole: tuple[int, int], min_keep_ns: int, start_ns: int | None, end_ns: int | None
) -> tuple[int, int]:
    """The kept range after moving either end of `trim` (None keeps that end): inside `whole`, in order, and
    at least `min_keep_ns` long (or the whole recording, when that is shorter)."""
    s, e = trim
    keep = min(min_keep_ns, whole[1] - whole[0])
    if start_ns is not None:
        s = min(max(int(start_ns), whole[0]), e - keep)
    if end_ns is not None:
        e = max(min(int(end_ns), whole[1]), s + keep)
    return s, e


# --- texts ----------------------------------------------------------------------------------------------
def format_time(ns: int) -> str:
    """mm:ss.t (h:mm:ss.t past an hour): tenths matter when reviewing a few seconds of work."""
    tenths = max(0, ns) // 100_000_000
    s, t = divmod(tenths, 10)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h:d}:{m:02d}:{s:02d}.{t:d}" if h else f"{m:02d}:{s:02d}.{t:d}"


def duration_text(ns: int) -> str:
    """A duration as people say it: "4.2 s" under a minute, else m:ss (h:mm:ss past an hour)."""
    s = ns / NS
    if s < 60:
        return f"{s:.1f} s"
    s_int = round(s)
    return (
        f"{s_int // 3600}:{s_int // 60 % 60:02d}:{s_int % 60:02d}"
        if s_int >= 3600
        else f"{s_int // 60}:{s_int % 60:02d}"
    )


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


__all__ = [
    "Flag",
    "ReviewData",
    "axis_ticks",
    "clamp_trim",
    "duration_text",
    "format_time",
    "load_review",
    "plural",
    "voice_envelope",
    "wave_columns",
]
