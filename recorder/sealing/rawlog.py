"""The raw log (raw/session.mcap) written anew from records: when sealing redacted typed secrets and when an edit
cut or redacted something, so that what was removed survives nowhere in the bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recorder.writers.log import LiveLog
from trajrec.topics import Topic

# The raw log's topics in the order records at the same time are written back (trajrec.topics has them all).
LOG_ORDER = (
    Topic.ANCHOR,
    Topic.LAYOUT,
    Topic.WINDOW,
    Topic.MARKER,
    Topic.FRAME,
    Topic.EVENT,
    Topic.AUDIO,
    Topic.DROPPED,
    Topic.GUARDS,
    Topic.ELEMENT,
    Topic.PRIVACY,
)

# The field that holds a record's time, where it is not t_ns.
TIME_FIELD = {Topic.ANCHOR: "mono_ns", Topic.PRIVACY: "start_ns"}


def write_raw_log(path: Path, records: Sequence[tuple[Topic, Sequence[Any]]]) -> None:
    """Write a live log (raw/session.mcap) holding exactly `records`, by topic, in session-clock order.

    Records at the same time are written in the order of their topics in `records`."""
    entries: list[tuple[int, int, Topic, dict[str, Any]]] = []
    for order, (topic, items) in enumerate(records):
        for item in items:
            t = int(item[TIME_FIELD.get(topic, "t_ns")])
            entries.append((t, order, topic, item))
    entries.sort(key=lambda e: (e[0], e[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    live_log = LiveLog(path)
    try:
        for t, _order, topic, item in entries:
            live_log.write(topic, t, item)
    finally:
        live_log.close()


def write_records(path: Path, recs: Mapping[str, Sequence[Any]], **replaced: Sequence[Any]) -> None:
    """Every topic of `recs` in LOG_ORDER, with the topics named in `replaced` (by Topic member name, lower case:
    event=..., privacy=...) taken from there instead."""
    write_raw_log(path, [(t, replaced.get(t.name.lower(), recs.get(t, []))) for t in LOG_ORDER])
