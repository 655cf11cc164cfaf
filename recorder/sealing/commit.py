"""Writing a sealed bundle durably: its tables and markers.jsonl, the manifest pieces that seal and edit
both derive (anchors, stats, the checksummed file list), and `manifest.json` written last, the commit point.

Sealing and editing stage a bundle in a scratch directory and publish it with one rename; everything here
runs before that rename, so a crash leaves either no bundle or a whole one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from trajrec import format as fmt
from trajrec.hashing import sha256_stream
from trajrec.manifest import AnchorJSON, FileJSON, Manifest, StatsJSON, dump_manifest
from trajrec.timeline import Span, max_capture_gap, paused_ns


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_table(path: Path, table: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path), compression="zstd")


def write_markers(path: Path, markers: Iterable[Mapping[str, Any]]) -> None:
    """markers.jsonl: one marker per line, in the given order, as `format.Marker.to_json` writes it."""
    with open(path, "w", encoding="utf-8") as f:
        for mk in markers:
            f.write(json.dumps(fmt.marker_from_json(mk).to_json(), ensure_ascii=False) + "\n")


def anchors_json(anchors: Iterable[fmt.Anchor]) -> list[AnchorJSON]:
    """The manifest's `clock.anchors` (and the live log's anchor records) for `anchors`, in their order."""
    return [{"mono_ns": a.mono_ns, "utc_ns": a.utc_ns, "event": a.event.value} for a in anchors]


def session_stats(
    span: Span,
    pauses: Sequence[Span],
    frame_t_ns: Sequence[int],
    dropped: Iterable[Mapping[str, Any]],
    audio_gaps: tuple[int, int],
    events: int,
    privacy_gaps: Sequence[Span] = (),
) -> StatsJSON:
    """The manifest's `stats` for a session of `span`: the pauses' total, the longest frame gap outside a
    pause or a privacy gap, the frames dropped (the live log's dropped records), the audio lost (ns, count)."""
    return {
        "duration_ns": span.ns,
        "paused_ns": paused_ns(pauses),
        "frames": len(frame_t_ns),
        "dropped_frames": sum(int(d["count"]) for d in dropped),
        "max_frame_gap_ns": max_capture_gap(frame_t_ns, [*pauses, *privacy_gaps]),
        "audio_gaps_ns": audio_gaps[0],
        "audio_gaps": audio_gaps[1],
        "events": events,
    }


def checksum_files(stage: Path) -> list[FileJSON]:
    """fsync every file under `stage` and return the manifest's `files` entries, sorted by path."""
    files: list[FileJSON] = []
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        fsync_file(path)
        with open(path, "rb") as data:
            digest, size = sha256_stream(data)
        files.append({"path": path.relative_to(stage).as_posix(), "bytes": size, "sha256": digest})
    return files


def write_manifest_last(stage: Path, manifest: Manifest) -> None:
    """The commit point: fsync the directories, then write `manifest.json` (temporary name, fsync, rename)."""
    for d in sorted({p.parent for p in stage.rglob("*")}, reverse=True):
        fsync_dir(d)
    tmp = stage / f".{fmt.MANIFEST}.tmp"
    with open(tmp, "wb") as out:
        out.write(dump_manifest(manifest))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, stage / fmt.MANIFEST)
    fsync_dir(stage)


def commit(stage: Path, manifest: Manifest) -> None:
    """Checksum every file of the staged bundle into `manifest["files"]`, then write the manifest last."""
    manifest["files"] = checksum_files(stage)
    write_manifest_last(stage, manifest)
