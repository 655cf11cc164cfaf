"""The quality report as one self-contained HTML file: a bundle's page, or a batch page over many bundles.

Nothing is fetched when the page is viewed: the CSS and the small table-sorting script are inline, the plots are
inline SVG (`trajrec.quality.svg`), the screenshots are data: URIs, and the page's Content-Security-Policy allows
nothing else (it names the exact style and script by their hashes, so an injected script would not run either).
Every string that comes from a bundle (locations, ids, marker text, reasons, errors) is escaped, numbers are
formatted here, and nothing from a bundle goes into the script: the table sorts on data-v attributes.

    html = render([entry])                  # one bundle: its page
    html = render(entries, title="Batch 7")  # several: counts, a sortable table, distributions, each bundle
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from trajrec.format import KEYFRAME_INTERVAL_NS
from trajrec.quality import svg
from trajrec.quality.metrics import QualityRules
from trajrec.quality.policy import GRADES
from trajrec.quality.report import Entry, Figures
from trajrec.quality.speech import SILENT_DBFS

GRADE_ORDER = (*GRADES, "unreadable")
DASH = "\u2014"
STALL_MS = QualityRules().stall_ns / 1e6  # a longer gap between frames is a stall (frames.stalls)
GAP, KEYFRAME = f"{STALL_MS / 1e3:g} s", f"{KEYFRAME_INTERVAL_NS / 1e9:g} s"
COLUMNS = ("Bundle", "Grade", "Duration", "Active", "Narration", "Actions/min", "Mean fps", "Max gap", "Dropped",
           "Reasons")


def render(entries: Sequence[Entry], *, title: str = "Quality report", generated_utc: str | None = None) -> str:
    """The page: a bundle's page for one entry, a batch page for several (or none)."""
    generated = generated_utc if generated_utc is not None else datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if len(entries) == 1:
        heading, body = Q(entries[0]).session, _bundle(entries[0])
    else:
        heading, body = f"{len(entries)} bundles", _batch(entries)
    from trajrec import __version__

    csp = (f"default-src 'none'; img-src data:; style-src '{_sha(CSS)}'; script-src '{_sha(SCRIPT)}'; "
           "base-uri 'none'; form-action 'none'")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{escape(title)}</title>\n<link rel="icon" href="data:,">\n<style>{CSS}</style></head>\n'
        f'<body><main><header><div class="kicker">{escape(title)}</div><h1>{escape(heading)}</h1></header>{body}\n'
        f"<footer>Generated {escape(generated)} by trajrec {escape(__version__)}</footer></main>\n"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


class Q:
    """One entry's quality record read defensively (it may come from a sidecar file): a number that is not a
    finite number reads as None, a list reads as its length where a count is asked for."""

    def __init__(self, e: Entry) -> None:
        self.e, self.q, g = e, e.quality, e.grade
        self.session = str(self.get("session_id") or e.location)
        self.grade = g.grade if e.error is None and g is not None and g.grade in GRADES else "unreadable"
        self.reasons = [str(r) for r in g.reasons] if g is not None else []
        self.voiced = self.get("narration.present") is True
        self.coverage = self.num("narration.coverage") if self.voiced else None

    def get(self, path: str) -> Any:
        cur: Any = self.q
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return cur

    def num(self, path: str, scale: float = 1.0) -> float | None:
        v = self.get(path)
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        return float(v) * scale if ok else None

    def count(self, path: str) -> int | None:
        v = self.get(path)
        x = float(len(v)) if isinstance(v, list) else self.num(path)
        return None if x is None else int(x)


def _dur(s: float | None) -> str:
    return DASH if s is None else f"{s:.1f} s" if s < 60 else svg.mmss(s)


def _pct(x: float | None) -> str:
    return DASH if x is None else f"{x * 100:.1f}%" if 0 < abs(x) < 0.01 else f"{x * 100:.0f}%"


def _fix(x: float | None, digits: int = 1, unit: str = "") -> str:
    return DASH if x is None else f"{x:.{digits}f}{unit}"


def _ms(x: float | None) -> str:
    return _fix(x, 1 if x is not None and x < 100 else 0, " ms")


def _int(x: int | None) -> str:
    return DASH if x is None else f"{x:,}"


def _badge(grade: str, big: bool = False) -> str:
    return f'<span class="badge {grade}{" big" if big else ""}">{grade}</span>'


# --- one bundle --------------------------------------------------------------------------------------------------
def _bundle(e: Entry) -> str:
    q = Q(e)
    meta = [e.location, f"task {q.get('task.id')}" if q.get("task.id") else ""]
    meta += [f"status {q.get('status')}" if q.get("status") not in (None, "complete") else ""]
    meta += [f"policy {e.grade.policy}" if e.grade is not None else ""]
    if e.error is not None:
        said = f'<p class="error">{escape(e.error)}</p>'
    elif q.reasons:
        items = "".join(f'<li class="{r.split(":", 1)[0] if r.split(":", 1)[0] in GRADES else ""}">{escape(r)}</li>'
                        for r in q.reasons)
        said = f'<ul class="reasons">{items}</ul>'
    else:
        said = '<p class="ok">Meets every rule of the policy.</p>'
    verdict = (f'<section class="card verdict">{_badge(q.grade, big=True)}<div><p class="meta">'
               f'{" · ".join(escape(m) for m in meta if m)}</p>{said}</div></section>')
    if e.quality is None:
        return verdict
    return verdict + _tiles(q) + (_plots(e.figures, q) if e.figures is not None else "")


def _tiles(q: Q) -> str:
    paused, words = q.num("paused_s"), q.count("task.instruction_words")
    tiles = [
        ("Duration", _dur(q.num("duration_s")), f"{_dur(paused)} paused" if paused else "no pauses",
         ("duration_s", "status")),
        ("Active", _dur(q.num("active_s")), "input or screen changes", ("active_s",)),
        ("Idle share", _pct(q.num("idle_share")), f"{_dur(q.num('idle_s'))} idle", ("idle_share", "idle_s")),
        ("Actions / active min", _fix(q.num("actions.per_active_minute")), f"{_int(q.count('actions.count'))} actions",
         ("actions",)),
        ("Narration coverage", _pct(q.coverage) if q.voiced else "none",
         f"{_dur(q.num('narration.speech_s'))} of speech" if q.voiced else "no voiceover", ("narration",)),
        ("Voice peak", _fix(q.num("voice.peak_dbfs"), 1, " dBFS"),
         f"rms {_fix(q.num('voice.rms_dbfs'), 1)} · clipped {_pct(q.num('voice.clipped_share'))}", ("voice",)),
        ("Mean frame rate", _fix(q.num("frames.mean_fps"), 1, " fps"),
         f"target {_fix(q.num('frames.fps_target'), 0, ' fps')} · median gap {_ms(q.num('frames.interval_ms.median'))}",
         ("frames.mean_fps", "frames.interval_ms")),
        ("Longest gap", _fix(q.num("frames.max_gap_s"), 2, " s"),
         f"stalls over {GAP}: {_int(q.count('frames.stalls'))}", ("frames.max_gap_s", "frames.stalls")),
        ("Dropped frames", _int(q.count("frames.dropped")),
         f"{_pct(q.num('frames.dropped_share'))} of {_int(q.count('frames.count'))}", ("frames.dropped",)),
        ("Audio gaps", _int(q.count("audio_gaps.count")), _dur(q.num("audio_gaps.seconds")), ("audio_gaps",)),
        ("Pauses", _int(q.count("pauses.count")), _dur(q.num("pauses.seconds")), ("pauses", "paused_s")),
        ("Trims / redactions", f"{_int(q.count('edits.trims'))} / {_int(q.count('edits.redactions'))}",
         f"{_int(q.count('privacy.redacted_keys'))} keys redacted", ("edits", "privacy")),
        ("Black / frozen spans", f"{_int(q.count('black_spans'))} / {_int(q.count('frozen_spans'))}", "of the screen",
         ("black_spans", "frozen_spans")),
        ("Instruction words", _int(words), f"{_fix(q.num('task.active_s_per_instruction_word'))} s active each"
         if words else "no instruction", ("task",)),
    ]
    flags: dict[str, str] = {}  # the metrics the policy complained about, with the worst grade it gave each
    for r in q.reasons:
        m = re.match(r"(warn|fail): ([\w.]+)", r)
        if m and flags.get(m[2]) != "fail":
            flags[m[2]] = m[1]
    out = []
    for label, value, note, keys in tiles:
        hit = [g for m, g in flags.items() if any(m == k or m.startswith(k + ".") for k in keys)]
        cls = "fail" if "fail" in hit else "warn" if hit else ""
        out.append(f'<div class="tile {cls}"><div class="label">{label}</div><div class="value">{escape(value)}</div>'
                   f'<div class="note">{escape(note)}</div></div>')
    return f'<section class="tiles">{"".join(out)}</section>'


def _plots(fig: Figures, q: Q) -> str:
    parts = [f'<section class="card plot">{svg.timeline(fig, _stalls(q))}</section>']
    if fig.level_dbfs:
        parts.append(f'<section class="card plot">{svg.level(fig, SILENT_DBFS)}</section>')
    else:
        parts.append(_missing("Voiceover level", "the voiceover has no level to draw" if q.voiced
                              else "no voiceover in this bundle"))
    hist = svg.frame_histogram(q.get("frames.histogram"), STALL_MS)
    if hist is not None:
        parts.append(f'<section class="card plot split"><div>{hist}</div>{_intervals(q)}</section>')
    else:
        parts.append(_missing("Frame intervals", "too few frames for a histogram" if q.count("frames.count")
                              else "no screen recording in this bundle"))
    return "".join(parts) + _shots(fig)


def _missing(what: str, why: str) -> str:
    return f'<section class="card missing"><h3>{what}</h3><p class="muted">{escape(why)}</p></section>'


def _intervals(q: Q) -> str:
    rows = [(name, _ms(q.num(f"frames.interval_ms.{key}")))
            for name, key in (("median", "median"), ("95th percentile", "p95"), ("99th percentile", "p99"),
                              ("longest", "max"))]
    rows += [("frames", _int(q.count("frames.count"))), ("dropped", _int(q.count("frames.dropped")))]
    spans = _stalls(q)
    shown = ", ".join(f"{svg.mmss(a, 1)}{svg.TO}{svg.mmss(b, 1)}" for a, b in spans[:6])
    rows.append((f"stalls (over {GAP})", shown + (" …" if len(spans) > 6 else "") if spans else "none"))
    cells = "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return (f'<div><h3>Intervals</h3><dl class="stats">{cells}</dl><p class="caption">The video stores a frame when '
            f"the screen changes and at least one every {KEYFRAME}: long intervals mostly mean a still screen.</p>"
            "</div>")


def _stalls(q: Q) -> list[tuple[float, float]]:
    got = q.get("frames.stalls")
    pairs = [s for s in got if isinstance(s, list) and len(s) == 2] if isinstance(got, list) else []
    return [(float(a), float(b)) for a, b in pairs if all(isinstance(v, int | float) for v in (a, b))]


def _shots(fig: Figures) -> str:
    items = [f'<figure class="shot"><img src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode("ascii")}" '
             f'alt="the screen at {svg.mmss(t, 1)}"><figcaption><span class="t">{svg.mmss(t, 1)}</span>'
             f"{escape(text)}</figcaption></figure>" for t, text, jpeg in fig.shots]
    shot_times = {t for t, _, _ in fig.shots}
    rest = [f'<li><span class="t">{svg.mmss(t, 1)}</span>{escape(kind)}: {escape(text)}</li>'
            for t, kind, text in fig.markers if t not in shot_times]
    if not items and not rest:
        return _missing("Markers", "no step or note markers in this bundle")
    return (f'<section class="card"><h3>{"Screenshots at markers" if items else "Markers"}</h3>'
            + (f'<div class="shots">{"".join(items)}</div>' if items else "")
            + (f'<ul class="markers">{"".join(rest)}</ul>' if rest else "") + "</section>")


# --- several bundles ---------------------------------------------------------------------------------------------
def _batch(entries: Sequence[Entry]) -> str:
    qs = [Q(e) for e in entries]
    counts = {g: sum(q.grade == g for q in qs) for g in GRADE_ORDER}
    total = sum(q.num("duration_s") or 0.0 for q in qs)
    active = sum(q.num("active_s") or 0.0 for q in qs)
    tiles = "".join(f'<div class="tile count {g}"><div class="label">{g}</div><div class="value">{counts[g]}</div>'
                    f'<div class="note">{_pct(counts[g] / len(qs)) if qs else DASH}</div></div>' for g in GRADE_ORDER)
    tiles += (f'<div class="tile"><div class="label">Recorded</div><div class="value">{_hours(total)}</div>'
              f'<div class="note">{_hours(active)} active</div></div>')
    head = "".join(f'<th class="{"text" if i == 0 else "num"}" scope="col"><button type="button">{name}</button></th>'
                   for i, name in enumerate(COLUMNS))
    table = (f'<div class="table-wrap"><table class="sortable" id="bundles"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(_row(q, i) for i, q in enumerate(qs))}</tbody></table></div>')
    sections = "".join(
        f'<details class="bundle" id="b{i}"><summary>{_badge(q.grade)}<span class="sid">{escape(q.session)}</span>'
        f'<span class="muted">{escape(_summary(q))}</span></summary><div class="bundle-body">{_bundle(q.e)}</div>'
        "</details>" for i, q in enumerate(qs))
    return (f'<section class="tiles summary">{tiles}</section><h2>Bundles</h2>{table}'
            f"<h2>Distributions</h2>{_distributions(qs)}<h2>Each bundle</h2>{sections}")


def _hours(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min"


def _summary(q: Q) -> str:
    if q.grade == "unreadable":
        return "could not be read" if q.e.error is not None else "not graded"
    n = len(q.reasons)
    narrated = f"{_pct(q.coverage)} narrated" if q.coverage is not None else "no voiceover"
    return f"{_dur(q.num('duration_s'))} · {narrated} · {n} reason{'s' if n != 1 else ''}"


def _row(q: Q, i: int) -> str:
    loc = q.e.location.rstrip("/")
    parent, _, name = loc.rpartition("/")
    extra = f'<span class="dir">{escape(parent)}/</span>' if parent else ""
    extra += f'<span class="error">{escape(q.e.error)}</span>' if q.e.error is not None else ""
    n_reasons = None if q.e.error is not None else len(q.reasons)
    cells: list[tuple[float | str | None, str]] = [  # the raw value (data-v) and the shown HTML
        (q.e.location, f'<a href="#b{i}" title="{escape(q.e.location)}">{escape(name or loc)}</a>{extra}'),
        (GRADE_ORDER.index(q.grade), _badge(q.grade)),
        (q.num("duration_s"), _dur(q.num("duration_s"))),
        (q.num("active_s"), _dur(q.num("active_s"))),
        (q.coverage, _pct(q.coverage)),
        (q.num("actions.per_active_minute"), _fix(q.num("actions.per_active_minute"))),
        (q.num("frames.mean_fps"), _fix(q.num("frames.mean_fps"))),
        (q.num("frames.max_gap_s"), _fix(q.num("frames.max_gap_s"), 2, " s")),
        (q.count("frames.dropped"), _int(q.count("frames.dropped"))),
        (n_reasons, _int(n_reasons)),
    ]
    tds = []
    for k, (raw, shown) in enumerate(cells):
        value = "" if raw is None else escape(raw) if isinstance(raw, str) else repr(float(raw))
        tip = f' title="{escape(chr(10).join(q.reasons))}"' if k == len(cells) - 1 and q.reasons else ""
        tds.append(f'<td class="{"loc" if k == 0 else "num"}" data-v="{value}"{tip}>{shown}</td>')
    return f"<tr>{''.join(tds)}</tr>"


DISTRIBUTIONS: tuple[tuple[str, str, Callable[[Q], float | None], bool], ...] = (  # title, axis, value, a share
    ("Narration coverage", "share of active time (%)", lambda q: q.coverage, True),
    ("Active time", "active minutes", lambda q: q.num("active_s", 1 / 60), False),
    ("Actions per active minute", "actions / min", lambda q: q.num("actions.per_active_minute"), False),
    ("Longest frame gap", "seconds", lambda q: q.num("frames.max_gap_s"), False),
    ("Idle share", "share of time (%)", lambda q: q.num("idle_share"), True),
)


def _distributions(qs: Sequence[Q]) -> str:
    read = [q for q in qs if q.grade != "unreadable"]
    figs = [svg.distribution([v * (100 if share else 1) for q in read if (v := get(q)) is not None], title=title,
                             xlabel=axis, hi=100 if share else None, step=10 if share else None, unit="%" * share)
            for title, axis, get, share in DISTRIBUTIONS]
    return '<section class="dists">' + "".join(f'<div class="card">{s}</div>' for s in figs) + "</section>"


# --- the page's style and script (hashed into its Content-Security-Policy) ------------------------------------
CSS = """
:root{--bg:#f5f6f8;--card:#fff;--line:#e1e4e8;--text:#1f2328;--muted:#59636e;--pass:#1a7f37;--pass-bg:#dafbe1;
--warn:#9a6700;--warn-bg:#fff1c2;--fail:#c62828;--fail-bg:#ffe4e1;--unreadable:#57606a;--unreadable-bg:#e6e9ed}
*{box-sizing:border-box}html{color-scheme:light}
body{margin:0;background:var(--bg);color:var(--text);-webkit-print-color-adjust:exact;print-color-adjust:exact;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","Liberation Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 28px 40px}h1{font-size:24px;font-weight:600;margin:2px 0 8px}
h2{font-size:17px;font-weight:600;margin:30px 0 10px}h3{font-size:14px;font-weight:600;margin:0 0 8px}
footer{margin-top:28px;color:var(--muted);font-size:12px}.muted{color:var(--muted)}
.kicker{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.07em}
h1,.meta,.reasons li,.error,.sid,figcaption,ul.markers,td.loc a,td.loc span{overflow-wrap:anywhere}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 18px;margin:12px 0}
.verdict{display:flex;gap:18px;align-items:flex-start}.verdict p{margin:0 0 4px}.meta{color:var(--muted)}
.reasons{margin:0;padding-left:18px}.reasons li{margin:2px 0}.ok{color:var(--pass)}.error{color:var(--fail)}
.reasons li.fail::marker{color:var(--fail)}.reasons li.warn::marker{color:var(--warn)}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:11.5px;font-weight:700;
text-transform:uppercase;letter-spacing:.05em;white-space:nowrap}.badge.big{font-size:15px;padding:6px 16px}
.pass{--c:var(--pass);--b:var(--pass-bg)}.warn{--c:var(--warn);--b:var(--warn-bg)}
.fail{--c:var(--fail);--b:var(--fail-bg)}.unreadable{--c:var(--unreadable);--b:var(--unreadable-bg)}
.badge{color:var(--c);background:var(--b)}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:12px 0}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:9px 12px}
.tile .label,.tile .note{font-size:12px;color:var(--muted)}
.tile .value{font-size:19px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.tile.warn{border-color:#e3b341;background:#fffaeb}.tile.fail{border-color:#f19a9a;background:#fff6f5}
.tile.count{background:var(--card);border-color:var(--line)}.tile.count .value{color:var(--c)}
.tile.count .label{text-transform:uppercase;font-weight:700;letter-spacing:.05em}
.split{display:grid;grid-template-columns:minmax(0,2.2fr) minmax(0,1fr);gap:24px;align-items:start}
.split h3{margin-top:6px}dl.stats{display:grid;grid-template-columns:auto 1fr;gap:5px 16px;margin:0;font-size:13px}
dl.stats dt{color:var(--muted)}dl.stats dd{margin:0;font-variant-numeric:tabular-nums}.missing p{margin:0}
.caption{color:var(--muted);font-size:12px;margin:12px 0 0}
.shots{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:12px}
figure.shot{margin:0;border:1px solid var(--line);border-radius:8px;overflow:hidden;background:#fff}
figure.shot img{display:block;width:100%;height:auto;background:#222}figcaption{padding:6px 10px;font-size:12.5px}
.t{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:8px}
ul.markers{margin:10px 0 0;padding-left:18px;font-size:13px}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:13px}tbody tr:hover{background:#f8f9fb}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top;text-align:left}
tbody tr:last-child td{border-bottom:0}th{background:#f6f8fa;font-weight:600;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th button{all:unset;cursor:pointer}
th button:focus-visible{outline:2px solid #4e79a7;outline-offset:2px}
th[aria-sort=ascending] button::after{content:" \\25B2";font-size:9px}
th[aria-sort=descending] button::after{content:" \\25BC";font-size:9px}
td.loc a{color:var(--text);font-weight:600;text-decoration:none}td.loc a:hover{text-decoration:underline}
td.loc span{display:block;font-size:11.5px}td.loc .dir{color:var(--muted)}
@media screen{.plot{overflow-x:auto}svg.timeline,svg.level{min-width:720px}}
.dists{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:0 12px}
details.bundle{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:8px 0}
details.bundle>summary{display:flex;gap:12px;align-items:baseline;padding:10px 16px;cursor:pointer;list-style:none}
details.bundle>summary::before{content:"\\25B8";color:var(--muted);width:10px}.sid{font-weight:600}
details.bundle[open]>summary::before{content:"\\25BE"}
details.bundle[open]>summary{border-bottom:1px solid var(--line)}
.bundle-body{padding:2px 16px 10px;background:var(--bg);border-radius:0 0 10px 10px}
@media (max-width:800px){.split{grid-template-columns:1fr}.verdict{flex-direction:column}}
@media print{body{background:#fff;font-size:12px}main{max-width:none;
padding:0}.bundle-body{background:#fff}.card,.tile,figure.shot,tr{break-inside:avoid}th button::after{content:none}}
""" + svg.CSS

SCRIPT = """
(function () {
  "use strict";
  function key(row, col, numeric) {  // a cell's data-v: a number (blank: none) or text
    var v = row.cells[col].getAttribute("data-v");
    return numeric ? (v ? parseFloat(v) : null) : (v === null ? row.cells[col].textContent : v).toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {  // ascending first, then each click reverses; blanks stay last
        var up = th.getAttribute("aria-sort") !== "ascending", numeric = th.classList.contains("num");
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.map(function (r, i) { return {r: r, i: i, k: key(r, col, numeric)}; }).sort(function (a, b) {
          if (a.k === b.k || a.k === null || b.k === null) { return a.k === b.k ? a.i - b.i : a.k === null ? 1 : -1; }
          return (a.k < b.k ? -1 : 1) * (up ? 1 : -1);
        }).forEach(function (x) { body.appendChild(x.r); });
      });
    });
  });
  function openTarget() {  // a link to a bundle opens its section
    var el = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  var shut = [];  // printing shows every bundle's section
  window.addEventListener("beforeprint", function () {
    shut = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
    shut.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () { shut.forEach(function (d) { d.open = false; }); });
})();
"""
