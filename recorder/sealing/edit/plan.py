"""What an edit asks, checked before anything is written: the source must be a valid sealed bundle, the
span must keep something (its start snapped forward to a keyframe), and the marker notes must name
markers that have text; the result is a `Plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.errors import BundleEditError, ManifestError
from trajrec import format as fmt
from trajrec.errors import UnsafePathError
from trajrec.manifest import load_manifest
from trajrec.paths import open_member
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

MAX_NOTE_CHARS = 10_000  # marker.schema.json: text maxLength


@dataclass(frozen=True)
class Plan:
    start_ns: int  # the kept span, start snapped to a keyframe
    end_ns: int
    trim: bool  # the span is shorter than the session
    requested_start_ns: int | None
    requested_end_ns: int | None
    first_frame: int  # kept frames: [first_frame, stop_frame) of the source
    stop_frame: int
    markers: list[dict[str, Any]]  # every source marker, notes applied
    changed_notes: frozenset[int]  # source indices whose text changes


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"


def check_span(start_ns: int | None, end_ns: int | None) -> None:
    """A span asked for with its start at or after its end keeps nothing: refuse it before reading anything."""
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise BundleEditError(f"trim start {start_ns} is not before its end {end_ns}: nothing would be kept")


def check_source(src: Path) -> None:
    """Only a sealed bundle that validates without errors, in a format this version writes, is edited."""
    if not (src / fmt.MANIFEST).is_file() or (src / fmt.MANIFEST).is_symlink():
        raise BundleEditError(f"{src}: not a sealed bundle directory (no {fmt.MANIFEST})")
    report = validate_bundle(str(src))
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        f = errors[0]
        where = f" {f.path}" if f.path else ""
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        message = " ".join(f.message.split())
        raise BundleEditError(
            f"{src}: not a valid sealed bundle ({f.code}{where}: {message}){more}; nothing was changed"
        )
    if any(f.code == "format-newer" for f in report.findings):
        raise BundleEditError(
            f"{src}: format {_format_version(src)} was written by a newer recorder: "
            "upgrade trajectory-recorder to edit it"
        )


def _format_version(src: Path) -> str:
    try:
        with open_member(src, fmt.MANIFEST) as f:
            return str(load_manifest(f.read(fmt.MAX_MANIFEST_BYTES + 1)).get("format_version"))
    except (OSError, ManifestError, UnsafePathError):
        return "?"


def trim_span(src: Path, start_ns: int | None = None, end_ns: int | None = None) -> tuple[int, int]:
    """The span a trim of `src` to [start_ns, end_ns] would keep (start snapped to a keyframe).

    For a preview; raises BundleEditError as `edit_bundle` would for a span that keeps nothing.
    """
    check_span(start_ns, end_ns)
    with BundleReader(src) as reader:
        plan = plan_edit(reader, start_ns, end_ns, None)
    return plan.start_ns, plan.end_ns


def plan_edit(
    reader: BundleReader, start_ns: int | None, end_ns: int | None, marker_notes: dict[int, str] | None
) -> Plan:
    """The kept span (clamped to the session, its start snapped forward to a keyframe) and the markers
    with their new notes; BundleEditError (one line) when the edit cannot be made."""
    clock = reader.manifest["clock"]
    old_start, old_end = int(clock["start_ns"]), int(clock["end_ns"])
    start = old_start if start_ns is None else max(int(start_ns), old_start)
    end = old_end if end_ns is None else min(int(end_ns), old_end)
    if start >= end:
        raise BundleEditError(
            f"the trim keeps nothing: {_seconds(start - old_start)} to {_seconds(end - old_start)} of a "
            f"{_seconds(old_end - old_start)} session"
        )
    first, stop = 0, 0
    if reader.has_screen:
        frames = reader.frames()
        t = [int(x) for x in frames.column("t_ns").to_pylist()]
        key = [bool(x) for x in frames.column("keyframe").to_pylist()]
        if start > old_start:
            first = next((i for i, (ti, k) in enumerate(zip(t, key, strict=True)) if ti >= start and k), len(t))
            if first == len(t) or t[first] > end:
                raise BundleEditError(
                    f"no keyframe between {_seconds(start - old_start)} and {_seconds(end - old_start)}: the video "
                    "cannot start there; choose an earlier start or a later end"
                )
            start = t[first]
        stop = first
        while stop < len(t) and t[stop] <= end:
            stop += 1
        if stop == first:
            raise BundleEditError(
                f"no video frame between {_seconds(start - old_start)} and {_seconds(end - old_start)}: "
                "choose a later end"
            )
    markers, changed = _apply_notes([mk.to_json() for mk in reader.markers()], marker_notes or {})
    trim = start > old_start or end < old_end
    if trim:
        changed = {i for i in changed if start <= int(markers[i]["t_ns"]) <= end}
    return Plan(
        start_ns=start,
        end_ns=end,
        trim=trim,
        requested_start_ns=start_ns,
        requested_end_ns=end_ns,
        first_frame=first,
        stop_frame=stop,
        markers=markers,
        changed_notes=frozenset(changed),
    )


def _apply_notes(markers: list[dict[str, Any]], notes: dict[int, str]) -> tuple[list[dict[str, Any]], set[int]]:
    """The markers with their new texts, and the indices whose text changed; checks each index and text."""
    changed: set[int] = set()
    for index, text in notes.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(markers):
            raise BundleEditError(
                f"unknown marker index {index!r}: the bundle has {len(markers)} markers"
                + (f" (0..{len(markers) - 1})" if markers else "")
            )
        mk = markers[index]
        if mk["kind"] not in (fmt.MarkerKind.STEP, fmt.MarkerKind.NOTE):
            raise BundleEditError(f"marker {index} is a {mk['kind']} marker, which has no text to edit")
        if not isinstance(text, str) or len(text) > MAX_NOTE_CHARS:
            raise BundleEditError(f"marker {index}: the text must be a string of at most {MAX_NOTE_CHARS} characters")
        if mk["text"] != text:
            markers[index] = {**mk, "text": text}
            changed.add(index)
    return markers, changed
