"""Checks of the tables and markers: each Parquet table against its Arrow schema and the manifest's
counts, then frames (index, order, t0, span, pauses, gaps, displays), input events (seq, order, span,
pauses, kinds, fields, press/release pairs, coordinates), windows and markers.

Pause spans, in-pause masks and the capture-gap rule come from `trajrec.timeline`, the one home that
sealing (stats) and the reader use too.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trajrec import format as fmt
from trajrec.manifest import Manifest, schema_errors
from trajrec.timeline import Span, capture_gaps, in_pause
from trajrec.validation.context import Context, SessionSpan, secs
from trajrec.validation.report import Code

# Columns each kind of input event must fill.
NEEDED_FIELDS = {
    "move": ("x", "y"),
    "scroll": ("x", "y", "dx", "dy"),
    "down": ("x", "y", "button"),
    "up": ("x", "y", "button"),
    "key_down": ("key",),
    "key_up": ("key",),
}


def read_table(ctx: Context, path: str, schema: pa.Schema, rows_expected: int, count_field: str) -> pa.Table | None:
    """The table when it is usable, readable and has the schema's columns (extra ones only from a newer
    minor version); else None, and its content is not checked. A row count off the manifest's is reported."""
    if not ctx.usable(path):
        return None
    try:
        with ctx.src.open(path) as f:
            table = fmt.read_parquet(f)
    except (pa.ArrowException, OSError, ValueError) as e:
        ctx.add(Code.TABLE_UNREADABLE, path, f"not a readable Parquet file ({str(e)[:200]})")
        return None
    problems = []
    have = {f.name: f for f in table.schema}
    for want in schema:
        got = have.get(want.name)
        if got is None and _added_after(want, ctx.raw.get("format_version")):
            continue  # a column a later minor added: the reader fills it
        if got is None:
            problems.append(f"column {want.name!r} missing")
        elif not got.type.equals(want.type):
            problems.append(f"column {want.name!r} is {got.type}, expected {want.type}")
        elif not want.nullable and table.column(want.name).null_count:
            problems.append(f"column {want.name!r} has {table.column(want.name).null_count} nulls")
    extra = sorted(set(have) - {f.name for f in schema})
    if extra and not ctx.newer:
        problems.append(f"unknown columns {extra}")
    if problems:
        ctx.add(Code.TABLE_SCHEMA, path, "; ".join(problems))
        return None
    if table.num_rows != rows_expected:
        ctx.add(Code.TABLE_ROWS, path, f"{table.num_rows} rows, manifest {count_field} says {rows_expected}")
    return fmt.with_added_columns(table, schema)


def _added_after(field: pa.Field, version: object) -> bool:
    """The column came with a minor version later than the bundle's."""
    since = fmt.column_since(field)
    if since is None or not isinstance(version, str) or "." not in version:
        return False
    try:
        return int(version.split(".")[1]) < int(since.split(".")[1])
    except ValueError:
        return False


# --- screen/frames.parquet ----------------------------------------------------------------------------
def check_frames(ctx: Context, m: Manifest, span: SessionSpan) -> pa.Table | None:
    """The frames table's own checks; returns the table for the video checks (None: nothing to compare)."""
    meta = m["streams"]["screen"]
    if not meta["present"]:
        return None
    table = read_table(ctx, fmt.FRAMES, fmt.FRAMES_SCHEMA, meta["frames"], "streams.screen.frames")
    if table is None:
        return None
    n = table.num_rows
    if m["stats"]["frames"] != n:
        ctx.add(Code.TABLE_ROWS, fmt.FRAMES, f"{n} rows, manifest stats.frames says {m['stats']['frames']}")
    idx = table.column("frame_index").to_numpy()
    pts = table.column("pts").to_numpy()
    t = table.column("t_ns").to_numpy()
    if n and not np.array_equal(idx, np.arange(n)):
        i = int(np.flatnonzero(idx != np.arange(n))[0])
        ctx.add(Code.FRAMES_INDEX, fmt.FRAMES, f"frame_index is not 0..{n - 1}: row {i} holds {int(idx[i])}")
    for name, col, code in (("pts", pts, Code.FRAMES_PTS_ORDER), ("t_ns", t, Code.FRAMES_T_ORDER)):
        d = np.diff(col)
        if len(d) and (d <= 0).any():
            i = int(np.flatnonzero(d <= 0)[0])
            ctx.add(
                code,
                fmt.FRAMES,
                f"{name} not strictly increasing: row {i + 1} has {int(col[i + 1])} after {int(col[i])}",
            )
    if n and t[0] != meta["t0_ns"]:
        ctx.add(Code.FRAMES_T0, fmt.FRAMES, f"first frame t_ns {int(t[0])} != streams.screen.t0_ns {meta['t0_ns']}")
    ctx.outside_span(Code.FRAMES_SPAN, fmt.FRAMES, "frames", t, span)
    inp = np.flatnonzero(in_pause(t, span.pauses))
    if len(inp):
        ctx.add(
            Code.FRAMES_IN_PAUSE,
            fmt.FRAMES,
            f"{len(inp)} frames grabbed while paused (privacy); first at {secs(int(t[inp[0]]) - span.start)}",
        )
    frame_gaps(ctx, t, span, m)
    ids = {d["id"] for d in m["environment"]["displays"]} | {-1}
    bad_ids = sorted(set(table.column("display_id").to_pylist()) - ids)
    if bad_ids:
        ctx.add(Code.FRAMES_DISPLAY, fmt.FRAMES, f"display_id {bad_ids} not among the manifest's displays")
    if meta["region"]["size_px"] != [meta["width"], meta["height"]]:
        ctx.add(
            Code.VIDEO_SIZE,
            fmt.MANIFEST,
            f"region size {meta['region']['size_px']} differs from the video's "
            f"{meta['width']}x{meta['height']} (format 1 records regions unscaled)",
        )
    return table


def frame_gaps(ctx: Context, t: np.ndarray, span: SessionSpan, m: Manifest) -> None:
    """Capture stalls: gaps between frames over the limit that do not overlap a pause or a privacy gap (a
    warning)."""
    private = [
        Span(int(s["start_ns"]), int(s["end_ns"]))
        for s in m.get("privacy", {}).get("spans", [])
        if s["kind"] in fmt.GAP_PRIVACY_KINDS
    ]
    gaps = capture_gaps(t, [*span.pauses, *private], fmt.FRAME_GAP_LIMIT_NS)
    if gaps:
        longest = max(g.ns for g in gaps)
        ctx.add(
            Code.FRAMES_GAP,
            fmt.FRAMES,
            f"{len(gaps)} gaps between frames over {secs(fmt.FRAME_GAP_LIMIT_NS)} outside pauses (capture "
            f"stalled); longest {secs(longest)}, first at {secs(gaps[0].start_ns - span.start)}",
        )


# --- input/events.parquet -----------------------------------------------------------------------------
def check_events(ctx: Context, m: Manifest, span: SessionSpan) -> pa.Table | None:
    """The events table's own checks; returns the table for the privacy checks (None: unusable)."""
    path = fmt.EVENTS
    table = read_table(ctx, path, fmt.EVENTS_SCHEMA, m["streams"]["input"]["events"], "streams.input.events")
    if table is None:
        return None
    if m["stats"]["events"] != table.num_rows:
        ctx.add(Code.TABLE_ROWS, path, f"{table.num_rows} rows, manifest stats.events says {m['stats']['events']}")
    n = table.num_rows
    seq = table.column("seq").to_numpy()
    t = table.column("t_ns").to_numpy()
    if n and not np.array_equal(seq, np.arange(n)):
        i = int(np.flatnonzero(seq != np.arange(n))[0])
        want = "sorted and contiguous from 0"
        ctx.add(Code.EVENTS_SEQ, path, f"seq is not {want}: row {i} holds {int(seq[i])}, expected {i}")
    d = np.diff(t)
    if len(d) and (d < 0).any():
        i = int(np.flatnonzero(d < 0)[0])
        ctx.add(Code.EVENTS_ORDER, path, f"t_ns goes back in time at row {i + 1}: {int(t[i + 1])} after {int(t[i])}")
    ctx.outside_span(Code.EVENTS_SPAN, path, "events", t, span)
    inp = np.flatnonzero(in_pause(t, span.pauses))
    if len(inp):
        ctx.add(
            Code.EVENTS_IN_PAUSE,
            path,
            f"{len(inp)} events captured while paused (privacy); first at row {int(inp[0])}",
        )
    kind = table.column("kind")
    bad_kind = np.flatnonzero(
        ~pc.is_in(kind, value_set=pa.array([k.value for k in fmt.EventKind])).to_numpy(zero_copy_only=False)
    )
    if len(bad_kind):
        i = int(bad_kind[0])
        ctx.add(
            Code.EVENTS_KIND, path, f"{len(bad_kind)} rows with an unknown kind; first row {i}: {kind[i].as_py()!r}"
        )
    event_fields(ctx, table)
    pairs(ctx, table, span.pauses)
    coords(ctx, m, table)
    return table


def event_fields(ctx: Context, table: pa.Table) -> None:
    """Each row fills the columns its kind needs; modifiers are known names, none repeated."""
    kind = table.column("kind")
    missing = np.zeros(table.num_rows, bool)
    first_field: dict[int, str] = {}
    kept = ~table.column("redacted").to_numpy(zero_copy_only=False).astype(bool)  # a redacted key keeps no name
    for k, cols in NEEDED_FIELDS.items():
        of_kind = pc.equal(kind, k).to_numpy(zero_copy_only=False) & kept
        for col in cols:
            hole = of_kind & pc.is_null(table.column(col)).to_numpy(zero_copy_only=False)
            if hole.any():
                first_field.setdefault(int(np.flatnonzero(hole)[0]), col)
            missing |= hole
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        ctx.add(
            Code.EVENTS_FIELDS,
            fmt.EVENTS,
            f"{int(missing.sum())} rows with missing values; first: row {i} "
            f"({kind[i].as_py()}) has no {first_field[min(first_field)]}",
        )
    mods = table.column("modifiers")
    flat = pc.list_flatten(mods)
    if len(flat):
        unknown = ~pc.is_in(flat, value_set=pa.array(fmt.MODIFIERS)).to_numpy(zero_copy_only=False)
        row_of = pc.list_parent_indices(mods).to_numpy()
        counts = pc.list_value_length(mods).to_numpy(zero_copy_only=False)
        bad_rows = set(row_of[unknown].tolist())
        for r in np.flatnonzero(counts > 1).tolist():  # few rows hold several modifiers
            values = mods[r].as_py()
            if len(set(values)) != len(values):
                bad_rows.add(r)
        if bad_rows:
            i = min(bad_rows)
            ctx.add(
                Code.EVENTS_FIELDS,
                fmt.EVENTS,
                f"{len(bad_rows)} rows with unknown or repeated modifiers; first: row {i} {mods[i].as_py()}",
            )


def pairs(ctx: Context, table: pa.Table, pauses: list[Span]) -> None:
    """Every up follows a down of the same key/button. Keys held across the start, a pause or the
    stop may show only one half; auto-repeat may repeat a down."""
    kind_col = table.column("kind")
    rows = np.flatnonzero(
        pc.is_in(kind_col, value_set=pa.array(["down", "up", "key_down", "key_up"])).to_numpy(zero_copy_only=False)
    )
    if not len(rows):
        return
    sub = table.take(pa.array(rows))
    kinds = sub.column("kind").to_pylist()
    t = sub.column("t_ns").to_pylist()
    buttons = sub.column("button").to_pylist()
    codes = sub.column("scancode").to_pylist()
    keys = sub.column("key").to_pylist()
    hidden = sub.column("redacted").to_pylist()
    hidden_held = 0  # redacted keys have no name: they pair among themselves, by count
    resumes = sorted(p.end_ns for p in pauses)
    held: set[tuple[str, Any]] = set()
    seen: set[tuple[str, Any]] = set()
    r_i = 0
    orphans = []
    for j, kind in enumerate(kinds):
        while r_i < len(resumes) and t[j] >= resumes[r_i]:
            held.clear()
            seen.clear()
            r_i += 1
        if hidden[j]:
            hidden_held = hidden_held + 1 if kind == "key_down" else max(0, hidden_held - 1)
            continue
        k: tuple[str, Any] = (
            ("button", buttons[j]) if kind in ("down", "up") else ("key", codes[j] if codes[j] is not None else keys[j])
        )
        if kind in ("down", "key_down"):
            held.add(k)
            seen.add(k)
        elif k in held:
            held.discard(k)
        elif k in seen:  # an up for something already released: a lost or duplicated event
            orphans.append((int(rows[j]), k))
        else:
            seen.add(k)  # released before its first down: it was held when recording (re)started
    if orphans:
        i, (what, which) = orphans[0]
        ctx.add(
            Code.EVENTS_UNPAIRED,
            fmt.EVENTS,
            f"{len(orphans)} releases without a press; first at row {i} ({what} {which!r})",
        )


def coords(ctx: Context, m: Manifest, table: pa.Table) -> None:
    """Pointer positions lie inside some display of some layout the session had."""
    x = table.column("x").to_numpy(zero_copy_only=False)
    y = table.column("y").to_numpy(zero_copy_only=False)
    has = ~(np.isnan(x.astype(float)) | np.isnan(y.astype(float)))
    if not has.any():
        return
    xs, ys = x[has].astype(np.int64), y[has].astype(np.int64)
    inside = np.zeros(len(xs), bool)
    env = m["environment"]
    layouts = [env["displays"], *(c["displays"] for c in env.get("display_changes", []))]
    for d in (d for layout in layouts for d in layout):  # any layout of the session
        (ox, oy), (w, h) = d["origin"], d["size_px"]
        inside |= (xs >= ox) & (xs < ox + w) & (ys >= oy) & (ys < oy + h)
    bad = np.flatnonzero(~inside)
    if len(bad):
        row = int(np.flatnonzero(has)[bad[0]])
        ctx.add(
            Code.EVENTS_COORDS,
            fmt.EVENTS,
            f"{len(bad)} pointer positions outside every display; first: "
            f"row {row} at ({int(xs[bad[0]])}, {int(ys[bad[0]])})",
        )


# --- context/windows.parquet and markers.jsonl --------------------------------------------------------
def check_windows(ctx: Context, m: Manifest, span: SessionSpan) -> None:
    path = fmt.WINDOWS
    table = read_table(ctx, path, fmt.WINDOWS_SCHEMA, m["streams"]["context"]["records"], "streams.context.records")
    if table is None:
        return
    t = table.column("t_ns").to_numpy()
    d = np.diff(t)
    if len(d) and (d < 0).any():
        i = int(np.flatnonzero(d < 0)[0])
        ctx.add(Code.WINDOWS_ORDER, path, f"t_ns goes back in time at row {i + 1}")
    ctx.outside_span(Code.WINDOWS_SPAN, path, "window records", t, span)


def check_markers(ctx: Context, m: Manifest, span: SessionSpan) -> None:
    """Each line a marker record (the first bad one stops the marker checks), as many as the manifest
    counts, in time order, inside the session."""
    path = fmt.MARKERS
    if not ctx.usable(path):
        return
    with ctx.src.open(path) as f:
        data = f.read()
    markers = []
    for n, line in enumerate(data.splitlines(), 1):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, a number of thousands of digits
            ctx.add(Code.MARKERS_MALFORMED, path, f"line {n}: not JSON ({str(e)[:120]})")
            return
        errs = schema_errors(obj, fmt.RECORD_SCHEMA_FILES[fmt.MARKERS], limit=1)
        if errs:
            ctx.add(Code.MARKERS_MALFORMED, path, f"line {n}: {errs[0]}")
            return
        markers.append(obj)
    count = m["streams"]["markers"]["count"]
    if len(markers) != count:
        ctx.add(Code.TABLE_ROWS, path, f"{len(markers)} markers, manifest streams.markers.count says {count}")
    t = np.array([mk["t_ns"] for mk in markers], dtype=np.int64)
    if len(t) > 1 and (np.diff(t) < 0).any():
        ctx.add(Code.MARKERS_ORDER, path, "markers are not in time order")
    ctx.outside_span(Code.MARKERS_SPAN, path, "markers", t, span)
