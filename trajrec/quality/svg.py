"""The report's plots as inline SVG strings: the session timeline, the voiceover level and bar histograms.

No plotting library and no script: each function returns one `<svg>` element sized by its viewBox (it scales to
its container), styled by the page's CSS classes, with a visible title and axis labels. Every string that may come
from a bundle (marker text, action kinds) is escaped here; numbers are formatted here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trajrec.quality.report import Figures

W = 960  # the viewBox width of full-width figures
LEFT, RIGHT = 92, 18  # plot margins: lane labels / y axis on the left
TIME_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
KIND_COLOURS = {
    "type": "#4e79a7",
    "click": "#f28e2b",
    "scroll": "#9c755f",
    "drag": "#b07aa1",
    "hotkey": "#e15759",
    "move": "#bab0ac",
}
OTHER_COLOURS = ("#76b7b2", "#edc948", "#ff9da7", "#59a14f")
MAX_ACTION_ROWS = 3
DB_FLOOR = -60.0
TO = "\u2013"  # the en dash of ranges

CSS = """
svg.fig{display:block;width:100%;height:auto;font-family:inherit}
.fig-title{font-size:14px;font-weight:600;fill:#1f2328}.lane{fill:#f3f4f6}.bar-count{font-size:11px;fill:#1f2328}
.lane-label,.tick-label,.legend,.threshold-label,.mk-label{font-size:11px;fill:#59636e}.mk-label{fill:#24292f}
.axis-label{font-size:11.5px;fill:#3d444d}.grid{stroke:#e7e9ec}.axis,.tick{stroke:#8c959f}
.pause-bg{fill:#e4e7eb;opacity:.75}.pause{fill:#9aa3ad}.speech{fill:#59a14f}.idle{fill:#e0b84a}.act{opacity:.92}
.marker .mk-line{stroke:#4e79a7;stroke-dasharray:2 3;opacity:.55}.marker .mk-head{fill:#4e79a7}
.marker.note .mk-line{stroke:#8250df}.marker.note .mk-head{fill:#8250df}.marker .hit{fill:transparent}
.marker:hover .mk-line{opacity:1;stroke-dasharray:none}
.speech-bg{fill:#59a14f;opacity:.14}.threshold{stroke:#8c959f;stroke-dasharray:5 4}
.level-line{fill:none;stroke:#2f4b66;stroke-width:1.3;stroke-linejoin:round}
.bar{fill:#4e79a7}.bar.hot{fill:#e0a030}.gap{fill:#e0a030}
"""


def n(x: float) -> str:
    """A coordinate: one decimal, no trailing '.0'."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def mmss(t: float, decimals: int = 0) -> str:
    """Seconds as m:ss (h:mm:ss from an hour on)."""
    sign = "-" if t < 0 else ""
    q = round(abs(t), decimals)
    h, rem = divmod(q, 3600)
    m, s = divmod(rem, 60)
    sec = f"{s:0{3 + decimals if decimals else 2}.{decimals}f}"
    return f"{sign}{int(h)}:{int(m):02d}:{sec}" if h else f"{sign}{int(m)}:{sec}"


def kind_colours(kinds: Sequence[str]) -> dict[str, str]:
    """A colour per action kind: the known kinds keep theirs, others share a small palette."""
    present = set(kinds)
    out = {k: c for k, c in KIND_COLOURS.items() if k in present}
    for i, k in enumerate(sorted(present - set(KIND_COLOURS))):
        out[k] = OTHER_COLOURS[i % len(OTHER_COLOURS)]
    return out


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` into at most about `ticks` parts."""
    raw = max(span, 1e-9) / ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


class Svg:
    """An <svg> element being built: its parts in drawing order."""

    def __init__(self, width: float, height: float, cls: str, title: str) -> None:
        self.width, self.height, self.cls, self.title = width, height, cls, title
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, cls: str, fill: str | None = None, tip: str = "") -> None:
        paint = f' fill="{fill}"' if fill else ""
        inner = f"<title>{escape(tip)}</title>" if tip else ""
        end = f">{inner}</rect>" if inner else "/>"
        self.parts.append(f'<rect class="{cls}" x="{n(x)}" y="{n(y)}" width="{n(max(w, 0))}" height="{n(max(h, 0))}"'
                          f"{paint}{end}")

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str) -> None:
        self.parts.append(f'<line class="{cls}" x1="{n(x1)}" y1="{n(y1)}" x2="{n(x2)}" y2="{n(y2)}"/>')

    def text(self, x: float, y: float, s: str, cls: str = "", anchor: str = "start", rotate: bool = False) -> None:
        turn = f' transform="rotate(-90 {n(x)} {n(y)})"' if rotate else ""
        self.parts.append(f'<text class="{cls}" x="{n(x)}" y="{n(y)}" text-anchor="{anchor}"{turn}>{escape(s)}</text>')

    def __str__(self) -> str:
        t = escape(self.title)
        return (f'<svg class="fig {self.cls}" viewBox="0 0 {n(self.width)} {n(self.height)}" role="img" '
                f'aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>'
                f'<text class="fig-title" x="0" y="16">{t}</text>{"".join(self.parts)}</svg>')


def _time_axis(svg: Svg, duration: float, y_top: float, y_axis: float, scale: Callable[[float], float]) -> None:
    step = next((s for s in TIME_STEPS if duration / s <= 10), TIME_STEPS[-1])
    t = 0.0
    while t <= duration + 1e-9:
        x = scale(t)
        svg.line(x, y_top, x, y_axis, "grid")
        svg.line(x, y_axis, x, y_axis + 4, "tick")
        svg.text(x, y_axis + 16, mmss(t, 1 if step < 1 else 0), "tick-label", "middle")
        t += step
    svg.line(LEFT, y_axis, W - RIGHT, y_axis, "axis")
    svg.text((LEFT + W - RIGHT) / 2, y_axis + 34, "session time (m:ss)", "axis-label", "middle")


def _scale(duration: float) -> Callable[[float], float]:
    d = max(duration, 1e-3)
    return lambda t: LEFT + min(max(t, 0.0), d) / d * (W - RIGHT - LEFT)


def _pack(actions: Sequence[tuple[str, float, float]], px: Callable[[float], float]) -> list[int]:
    """A row per action (in input order) so that overlapping actions sit on different rows, at most MAX_ACTION_ROWS."""
    ends: list[float] = []
    rows = [0] * len(actions)
    for i in sorted(range(len(actions)), key=lambda i: actions[i][1]):
        a = px(actions[i][1])
        free = [r for r, e in enumerate(ends) if e + 1 <= a]
        if free:
            r = free[0]
        elif len(ends) < MAX_ACTION_ROWS:
            r = len(ends)
            ends.append(0.0)
        else:
            r = min(range(len(ends)), key=ends.__getitem__)
        ends[r] = max(px(actions[i][2]), a + 2)
        rows[i] = r
    return rows


def timeline(f: Figures, gaps: Sequence[tuple[float, float]] = ()) -> str:
    """Lanes over session time: markers, actions (coloured by kind), narration, idle, pauses and the capture's
    stalls (`frames.stalls` of the quality record)."""
    x = _scale(f.duration_s)
    rows = _pack(f.actions, x)
    n_rows = max(rows, default=0) + 1
    lanes = [("markers", 26.0), ("actions", n_rows * 12.0 + 4), ("narration", 14.0), ("idle", 14.0), ("pauses", 14.0),
             ("stalls", 14.0)]
    top: dict[str, float] = {}
    y = 34.0
    for name, h in lanes:
        top[name] = y
        y += h + 6
    y_axis = y
    svg = Svg(W, y_axis + 44, "timeline", "Session timeline")
    for a, z in f.pauses:  # pauses shade every lane: nothing was captured
        svg.rect(x(a), top["markers"], x(z) - x(a), y_axis - top["markers"], "pause-bg")
    for name, h in lanes:
        svg.rect(LEFT, top[name], W - RIGHT - LEFT, h, "lane")
        svg.text(LEFT - 8, top[name] + h / 2 + 4, name, "lane-label", "end")
    _time_axis(svg, f.duration_s, top["markers"], y_axis, x)
    colours = kind_colours([k for k, _, _ in f.actions])
    for (kind, a, z), r in zip(f.actions, rows, strict=True):
        tip = f"{kind} {mmss(a, 1)}{TO}{mmss(z, 1)}"
        svg.rect(x(a), top["actions"] + 3 + r * 12, max(x(z) - x(a), 2.0), 10, "act", colours[kind], tip)
    spans_of = (("speech", "narration", f.speech), ("idle", "idle", f.idle), ("pause", "pauses", f.pauses),
                ("gap", "stalls", gaps))
    for cls, lane, spans in spans_of:
        for a, z in spans:
            tip = f"{lane} {mmss(a, 1)}{TO}{mmss(z, 1)} ({z - a:.1f} s)"
            svg.rect(x(a), top[lane] + 2, max(x(z) - x(a), 1.0), 10, cls, tip=tip)
    marks = sorted(f.markers)
    for i, (t, kind, text) in enumerate(marks):
        mx = x(t)
        room = (x(marks[i + 1][0]) if i + 1 < len(marks) else float(W)) - mx - 8
        label = text if len(text) * 6.2 <= room else (text[: max(int(room / 6.2) - 1, 0)] + "…" if room > 30 else "")
        cls = "note" if kind == "note" else "step"
        svg.parts.append(f'<g class="marker {cls}"><title>{escape(f"{mmss(t, 1)} {kind}: {text}")}</title>')
        svg.line(mx, top["markers"] + 4, mx, y_axis, "mk-line")
        svg.rect(mx - 4, top["markers"], 8, y_axis - top["markers"], "hit")
        svg.parts.append(f'<path class="mk-head" d="M{n(mx - 4)} {n(top["markers"] + 2)}h8l-4 6z"/>')
        if label:
            svg.text(mx + 5, top["markers"] + 19, label, "mk-label")
        svg.parts.append("</g>")
    lx = float(W - RIGHT)
    for kind in reversed(list(colours)):  # the legend, right-aligned on the title's line
        count = sum(k == kind for k, _, _ in f.actions)
        label = f"{kind} {count}"
        lx -= len(label) * 6.4 + 26
        svg.rect(lx, 6, 10, 10, "swatch", colours[kind])
        svg.text(lx + 14, 15, label, "legend")
    return str(svg)


def level(f: Figures, silent_dbfs: float) -> str:
    """The voiceover's level (dBFS) over session time, speech spans shaded, the silence threshold dashed."""
    x = _scale(f.duration_s)
    y0, y1 = 34.0, 184.0

    def y(db: float) -> float:
        return y0 + (min(max(db, DB_FLOOR), 0.0) / DB_FLOOR) * (y1 - y0)

    svg = Svg(W, y1 + 44, "level", "Voiceover level")
    for a, z in f.speech:
        svg.rect(x(a), y0, max(x(z) - x(a), 1.0), y1 - y0, "speech-bg", tip=f"speech {mmss(a, 1)}{TO}{mmss(z, 1)}")
    for db in range(0, int(DB_FLOOR) - 1, -10):
        svg.line(LEFT, y(db), W - RIGHT, y(db), "grid")
        svg.text(LEFT - 6, y(db) + 4, str(db), "tick-label", "end")
    svg.text(LEFT - 44, (y0 + y1) / 2, "level (dBFS)", "axis-label", "middle", rotate=True)
    _time_axis(svg, f.duration_s, y0, y1, x)
    svg.line(LEFT, y(silent_dbfs), W - RIGHT, y(silent_dbfs), "threshold")
    svg.text(W - RIGHT - 4, y(silent_dbfs) - 4, f"silence {silent_dbfs:g} dBFS", "threshold-label", "end")
    svg.parts.append(f'<polyline class="level-line" points="{_level_points(f, x, y)}"/>')
    return str(svg)


def _level_points(f: Figures, x: Callable[[float], float], y: Callable[[float], float]) -> str:
    """The curve's points; at most a low and a high per pixel column (a long session stays a small figure)."""
    cols: dict[int, tuple[float, float]] = {}
    order: list[int] = []
    for i, db in enumerate(f.level_dbfs):
        if not math.isfinite(db):
            continue
        c = round(x(f.level_t0_s + i * f.level_step_s))
        if c not in cols:
            cols[c] = (db, db)
            order.append(c)
        else:
            lo, hi = cols[c]
            cols[c] = (min(lo, db), max(hi, db))
    pts: list[str] = []
    for c in order:
        lo, hi = cols[c]
        pts.append(f"{c},{n(y(hi))}")
        if lo != hi:
            pts.append(f"{c},{n(y(lo))}")
    return " ".join(pts)


def bars(
    counts: Sequence[int],
    *,
    title: str,
    xlabel: str,
    cls: str,
    bar_labels: Sequence[str] | None = None,
    edge_labels: Sequence[str] | None = None,
    hot: Sequence[bool] | None = None,
    width: float = 640,
    height: float = 230,
    unit: str = "",
) -> str:
    """Equal-width bars, one per count (zero counts too), labelled under each bar or at the bars' edges."""
    left, right, y0, y1 = 52.0, 12.0, 34.0, height - 52
    svg = Svg(width, height, f"bars {cls}", title)
    top = max(max(counts, default=0), 1)
    step = max(1.0, nice_step(top, 4))
    ymax = math.ceil(top / step) * step
    bw = (width - left - right) / max(len(counts), 1)
    v = 0.0
    while v <= ymax + 1e-9:
        yy = y1 - v / ymax * (y1 - y0)
        svg.line(left, yy, width - right, yy, "grid")
        svg.text(left - 6, yy + 4, f"{v:g}", "tick-label", "end")
        v += step
    svg.text(14, (y0 + y1) / 2, "count", "axis-label", "middle", rotate=True)
    for i, c in enumerate(counts):
        h = c / ymax * (y1 - y0)
        bx = left + i * bw
        name = bar_labels[i] if bar_labels else f"{edge_labels[i]}{TO}{edge_labels[i + 1]}" if edge_labels else str(i)
        hot_cls = " hot" if hot and hot[i] else ""
        svg.rect(bx + bw * 0.12, y1 - max(h, 1.0 if c else 0.0), bw * 0.76, max(h, 1.0 if c else 0.0),
                 f"bar{hot_cls}", tip=f"{name}{unit}: {c}")
        if c:
            svg.text(bx + bw / 2, y1 - h - 4, str(c), "bar-count", "middle")
        if bar_labels:
            svg.text(bx + bw / 2, y1 + 15, bar_labels[i], "tick-label", "middle")
    if edge_labels:
        every = 1 + (len(edge_labels) - 1) // 7  # no more than 7 or 8 labels: they would touch
        for i, label in enumerate(edge_labels):
            if i % every == 0:
                svg.text(left + i * bw, y1 + 15, label, "tick-label", "middle")
    svg.line(left, y1, width - right, y1, "axis")
    svg.text((left + width - right) / 2, y1 + 36, xlabel, "axis-label", "middle")
    return str(svg)


def distribution(values: Sequence[float], *, title: str, xlabel: str, lo: float = 0.0, hi: float | None = None,
                 step: float | None = None, unit: str = "") -> str:
    """A small histogram of one figure across bundles: about 8 round-edged bins from `lo` (to `hi`, when fixed)."""
    top = hi if hi is not None else max(values) if values and max(values) > lo else lo + 1.0
    step = step or nice_step(top - lo, 8)
    k = max(1, math.ceil((top - lo) / step - 1e-9))
    edges = [lo + i * step for i in range(k + 1)]
    counts = [0] * k
    for v in values:
        counts[min(max(int((v - lo) // step), 0), k - 1)] += 1
    return bars(counts, title=title, xlabel=xlabel, cls="dist", edge_labels=[f"{e:g}{unit}" for e in edges], width=360,
                height=200)


def frame_histogram(h: object, stall_ms: float) -> str | None:
    """The frame-interval histogram of a quality record's frames.histogram ({"edges_ms", "counts"}, the last bin
    open), bins from `stall_ms` on in amber; None when there is none (or it is malformed)."""
    if not isinstance(h, dict):
        return None
    edges, counts = h.get("edges_ms"), h.get("counts")
    if not (isinstance(edges, list) and isinstance(counts, list) and len(edges) == len(counts) and counts):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in [*edges, *counts]):
        return None
    labels = [f"{edges[i]:g}{TO}{edges[i + 1]:g}" if i + 1 < len(edges) else f"\u2265{edges[i]:g}"
              for i in range(len(edges))]
    return bars([int(c) for c in counts], title="Frame intervals", xlabel="interval between frames (ms)",
                cls="frame-hist", bar_labels=labels, hot=[e >= stall_ms for e in edges], unit=" ms")
