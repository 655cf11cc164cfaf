"""Checks of what the privacy guards promise (format 1.1): context/elements.parquet, and that nothing private
slipped through: no key with its name inside a password-field, keys-hidden or typed-secret span, no redacted
row that keeps key data, no frame or input inside a deny-list or expert gap, no password field's name."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trajrec import format as fmt
from trajrec.manifest import Manifest
from trajrec.validation.context import Context, SessionSpan, secs
from trajrec.validation.report import Code
from trajrec.validation.streams import read_table


def check_elements(ctx: Context, m: Manifest, span: SessionSpan) -> None:
    meta = m["streams"].get("elements")
    if not meta or not meta["present"]:
        return
    path = fmt.ELEMENTS
    table = read_table(ctx, path, fmt.ELEMENTS_SCHEMA, int(meta.get("records", 0)), "streams.elements.records")
    if table is None:
        return
    t = table.column("t_ns").to_numpy()
    d = np.diff(t)
    if len(d) and (d < 0).any():
        ctx.add(Code.ELEMENTS_ORDER, path, f"t_ns goes back in time at row {int(np.flatnonzero(d < 0)[0]) + 1}")
    ctx.outside_span(Code.ELEMENTS_SPAN, path, "elements", t, span)
    kinds = pc.is_in(table.column("kind"), value_set=pa.array([k.value for k in fmt.ElementKind]))
    bad = np.flatnonzero(~kinds.to_numpy(zero_copy_only=False))
    if len(bad):
        ctx.add(Code.ELEMENTS_KIND, path, f"{len(bad)} rows with an unknown kind; first row {int(bad[0])}")
    password = pc.equal(table.column("role"), "password text").to_numpy(zero_copy_only=False)
    named = pc.not_equal(table.column("name"), "").to_numpy(zero_copy_only=False)
    leaked = np.flatnonzero(password & named)
    if len(leaked):
        ctx.add(Code.PRIVACY_LEAK, path, f"{len(leaked)} password fields with a name kept; first row {int(leaked[0])}")


def check_privacy(ctx: Context, m: Manifest, events: pa.Table | None, frames: pa.Table | None) -> None:
    """The promises of `privacy` against the tables (events and frames as read by their own checks)."""
    privacy = m.get("privacy")
    if privacy is None or events is None:
        return
    t = events.column("t_ns").to_numpy()
    redacted = events.column("redacted").to_numpy(zero_copy_only=False).astype(bool)
    keys = pc.is_in(events.column("kind"), value_set=pa.array(["key_down", "key_up"])).to_numpy(zero_copy_only=False)
    kept_data = ~(
        pc.is_null(events.column("key")).to_numpy(zero_copy_only=False)
        & pc.is_null(events.column("char")).to_numpy(zero_copy_only=False)
        & pc.is_null(events.column("scancode")).to_numpy(zero_copy_only=False)
        & (pc.list_value_length(events.column("modifiers")).to_numpy(zero_copy_only=False) == 0)
    )
    bad = np.flatnonzero(redacted & (~keys | kept_data))
    if len(bad):
        ctx.add(
            Code.PRIVACY_LEAK, fmt.EVENTS, f"{len(bad)} redacted rows keep a key's data or are not keys; row {bad[0]}"
        )
    if int(redacted.sum()) != privacy["redacted_keys"]:
        ctx.add(
            Code.PRIVACY_COUNTS,
            fmt.MANIFEST,
            f"privacy.redacted_keys is {privacy['redacted_keys']}, events.parquet has {int(redacted.sum())}",
        )
    for s in privacy["spans"]:
        inside = (t >= s["start_ns"]) & (t <= s["end_ns"])
        what = f"{s['kind']} span at {secs(s['start_ns'] - span_start(m))}"
        if s["kind"] in fmt.KEY_PRIVACY_KINDS:
            open_keys = np.flatnonzero(inside & keys & ~redacted)
            if len(open_keys):
                ctx.add(
                    Code.PRIVACY_LEAK,
                    fmt.EVENTS,
                    f"{len(open_keys)} keys recorded with their names inside the {what}; first row {int(open_keys[0])}",
                )
        else:  # deny-list, expert: a gap, nothing recorded
            n_events = int(inside.sum())
            n_frames = 0
            if frames is not None:
                ft = frames.column("t_ns").to_numpy()
                n_frames = int(((ft >= s["start_ns"]) & (ft <= s["end_ns"])).sum())
            if n_events or n_frames:
                ctx.add(Code.PRIVACY_LEAK, "", f"{n_events} events and {n_frames} frames inside the {what}")


def span_start(m: Manifest) -> int:
    return int(m["clock"]["start_ns"])
