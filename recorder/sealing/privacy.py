"""Sealing what the privacy guards and the accessibility tree left in the live log: context/elements.parquet,
the manifest's `streams.elements` and its `privacy` section (which guards ran, what they removed)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from recorder.sealing.commit import write_table
from trajrec import format as fmt
from trajrec.manifest import ElementsStreamJSON, PrivacyJSON, PrivacySpanJSON
from trajrec.timeline import Span

NOT_ASKED = "the accessibility tree was not recorded (a recorder before format 1.1, or it stopped first)"


def seal_elements(stage: Path, records: list[dict[str, Any]], guards: list[dict[str, Any]]) -> ElementsStreamJSON:
    """context/elements.parquet when the accessibility tree was heard, else the reason it was not."""
    access = guards[0]["accessibility"] if guards else {"available": False, "reason": NOT_ASKED}
    if not access["available"]:
        return {"present": False, "reason": str(access.get("reason") or NOT_ASKED)}
    rows = sorted(records, key=lambda r: int(r["t_ns"]))
    table = fmt.records_to_table(rows, fmt.ELEMENTS_SCHEMA) if rows else fmt.ELEMENTS_SCHEMA.empty_table()
    write_table(stage / fmt.ELEMENTS, table)
    return {"present": True, "path": fmt.ELEMENTS, "records": len(rows)}


def privacy_section(
    guards: list[dict[str, Any]], spans: list[dict[str, Any]], events: list[dict[str, Any]], session: Span
) -> PrivacyJSON:
    """Which guards ran and what they removed, clipped to the session's span."""
    first = guards[0] if guards else None
    kept: list[PrivacySpanJSON] = []
    for s in sorted(spans, key=lambda s: (int(s["start_ns"]), int(s["end_ns"]))):
        start, end = max(int(s["start_ns"]), session.start_ns), min(int(s["end_ns"]), session.end_ns)
        if start <= end:
            span: PrivacySpanJSON = {"start_ns": start, "end_ns": end, "kind": fmt.PrivacyKind(s["kind"]).value}
            span.update({k: s[k] for k in ("detector", "keys") if k in s})  # type: ignore[typeddict-item]
            kept.append(span)
    gaps = [s for s in kept if s["kind"] in fmt.GAP_PRIVACY_KINDS]
    return {
        "accessibility": first["accessibility"] if first else {"available": False, "reason": NOT_ASKED},
        "deny_list": first["deny_list"] if first else {"entries": 0, "sha256": hashlib.sha256(b"[]").hexdigest()},
        "redacted_keys": sum(bool(e.get("redacted")) for e in events),
        "masked_frames": max((int(g.get("masked_frames", 0)) for g in guards), default=0),
        "spans": kept,
        "gaps": len(gaps),
        "gap_ns": sum(int(s["end_ns"]) - int(s["start_ns"]) for s in gaps),
    }


def deny_gaps(spans: list[dict[str, Any]]) -> list[Span]:
    """The privacy gaps (deny-list, hidden by the expert): no frames by design, so not capture stalls."""
    return [Span(int(s["start_ns"]), int(s["end_ns"])) for s in spans if s["kind"] in fmt.GAP_PRIVACY_KINDS]


def masked_of(privacy: Any) -> dict[str, int]:
    """A trimmed bundle keeps the count of masked frames as an upper bound (frames do not say which were)."""
    return {"masked_frames": int(privacy.get("masked_frames", 0))}
