"""Validate one bundle: every check of the format, each reported as a Finding with a code, the path it
concerns and the numbers. `validate_bundle` never raises for a bad bundle; it reports.

Quick mode reads every byte once (checksums) plus headers, tables and the video's packet index.
Deep mode also decodes every video frame and every audio sample.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import soundfile as sf

from trajrec import format as fmt
from trajrec.errors import BundleError, Cancelled, TrajrecError
from trajrec.hashing import CHUNK as HASH_CHUNK
from trajrec.manifest import load_manifest, schema_errors
from trajrec.source import BundleSource, open_source

# Columns each kind of input event must fill.
NEEDED_FIELDS = {
    "move": ("x", "y"),
    "scroll": ("x", "y", "dx", "dy"),
    "down": ("x", "y", "button"),
    "up": ("x", "y", "button"),
    "key_down": ("key",),
    "key_up": ("key",),
}


class Severity(enum.StrEnum):
    ERROR = "error"  # the bundle is invalid
    WARNING = "warning"  # valid, but a lab should know (recovered, capture stalls)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    path: str  # file inside the bundle ("" for the bundle as a whole)
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": str(self.severity), "path": self.path, "message": self.message}


@dataclass
class Report:
    location: str
    findings: list[Finding] = field(default_factory=list)
    session_id: str | None = None
    status: str | None = None
    duration_ns: int | None = None
    frames: int | None = None
    bytes: int = 0
    seconds: float = 0.0

    @property
    def valid(self) -> bool:
        return not any(f.severity == Severity.ERROR for f in self.findings)

    @property
    def errors(self) -> int:
        return sum(f.severity == Severity.ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == Severity.WARNING for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.location,
            "valid": self.valid,
            "session_id": self.session_id,
            "status": self.status,
            "duration_ns": self.duration_ns,
            "frames": self.frames,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.to_json() for f in self.findings],
        }


def _s(ns: int) -> str:
    """Seconds into the session, for messages."""
    return f"{ns / 1e9:.3f} s"


class _Checker:
    def __init__(
        self, source: BundleSource, deep: bool, cancel: threading.Event | None, progress: Callable[[int], None] | None
    ) -> None:
        self.src = source
        self.deep = deep
        self.cancel = cancel
        self.progress = progress
        self.findings: list[Finding] = []
        self.bad_files: set[str] = set()  # missing/size/checksum problems: their content is not checked
        self.m: dict[str, Any] = {}
        self.bytes = 0
        self.newer = False

    def add(self, code: str, path: str, message: str, severity: Severity = Severity.ERROR) -> None:
        self.findings.append(Finding(code, severity, path, message))

    # --- manifest -------------------------------------------------------------------------------
    def manifest(self) -> bool:
        for u in self.src.unsafe:
            self.add("unsafe-member", u.path, f"refused: {u.reason}")
        member = self.src.members.get(fmt.MANIFEST)
        if member is None:
            self.add(
                "manifest-missing",
                fmt.MANIFEST,
                "no manifest.json: not a bundle, or sealing never finished (try `trajrec repair`)",
            )
            return False
        if member.size > fmt.MAX_MANIFEST_BYTES:
            self.add(
                "manifest-too-large",
                fmt.MANIFEST,
                f"{member.size} bytes, over the {fmt.MAX_MANIFEST_BYTES} byte limit; not read",
            )
            return False
        try:
            self.m = load_manifest(self.src.read_bytes(fmt.MANIFEST, fmt.MAX_MANIFEST_BYTES))
        except BundleError as e:
            self.add("manifest-malformed", fmt.MANIFEST, str(e).removeprefix("manifest.json "))
            return False
        try:
            newer = fmt.check_format_version(self.m.get("format_version"))
        except BundleError as e:
            self.add("format-version", fmt.MANIFEST, str(e))
            return False
        if newer:
            self.add(
                "format-newer",
                fmt.MANIFEST,
                f"format {self.m['format_version']} is newer than {fmt.FORMAT_VERSION}: checked by "
                f"{fmt.FORMAT_VERSION} rules",
                Severity.WARNING,
            )
        # A newer minor may add fields; everything this version knows must still hold.
        errors = schema_errors(self.m, ignore_unknown=newer)
        self.newer = newer
        for message in errors:
            self.add("manifest-schema", fmt.MANIFEST, message)
        if errors:
            return False
        if self.m["status"] == fmt.Status.RECOVERED:
            notes = "; ".join(self.m.get("notes", [])) or "no notes"
            self.add(
                "status-recovered",
                fmt.MANIFEST,
                f"recovered after a crash: the end may be missing ({notes})",
                Severity.WARNING,
            )
        if self.src.name and self.src.name != self.m["session_id"] and not self.src.name.startswith("."):
            self.add(
                "session-id-mismatch",
                "",
                f"bundle is named {self.src.name!r} but its session_id is {self.m['session_id']!r}",
                Severity.WARNING,
            )
        return True

    # --- files ----------------------------------------------------------------------------------
    def expected_files(self) -> set[str]:
        s = self.m["streams"]
        want = {fmt.EVENTS, fmt.WINDOWS, fmt.MARKERS, fmt.RAW_LOG}
        if s["screen"]["present"]:
            want |= {fmt.VIDEO, fmt.FRAMES}
        if s["audio"]["present"]:
            want.add(fmt.AUDIO)
        return want

    def files(self) -> None:
        listed: dict[str, dict[str, Any]] = {}
        for entry in self.m["files"]:
            if entry["path"] in listed:
                self.add("file-duplicate", entry["path"], "listed twice in the manifest")
            listed[entry["path"]] = entry
        want = self.expected_files()
        for path in sorted(set(listed) - want):
            self.add("file-unexpected", path, "listed in the manifest but not part of the format for these streams")
        for path in sorted(want - set(listed)):
            self.add("file-unlisted", path, "required by the streams in the manifest but not listed in files")
            self.bad_files.add(path)
        present = set(self.src.members) - {fmt.MANIFEST}
        for path in sorted(present - set(listed)):
            self.add("file-extra", path, f"{self.src.members[path].size} bytes not listed in the manifest")
        for path in sorted(listed):
            entry = listed[path]
            member = self.src.members.get(path)
            if member is None:
                self.add("file-missing", path, f"listed ({entry['bytes']} bytes) but absent")
                self.bad_files.add(path)
                continue
            if member.size != entry["bytes"]:
                hint = " (truncated?)" if member.size < entry["bytes"] else ""
                self.add("file-size", path, f"{member.size} bytes, manifest says {entry['bytes']}{hint}")
                self.bad_files.add(path)
                continue
            digest = self.sha256(path)
            if digest != entry["sha256"]:
                self.add(
                    "file-sha256",
                    path,
                    f"sha256 {digest[:16]}... does not match the manifest's "
                    f"{entry['sha256'][:16]}... (changed after sealing)",
                )
                self.bad_files.add(path)

    def sha256(self, path: str) -> str:
        h = hashlib.sha256()
        local = self.src.local_path(path)
        with open(local, "rb", buffering=0) if local else self.src.open(path) as f:
            while chunk := f.read(HASH_CHUNK):
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled("cancelled")
                h.update(chunk)
                self.bytes += len(chunk)
                if self.progress:
                    self.progress(len(chunk))
        return h.hexdigest()

    def usable(self, path: str) -> bool:
        return path in self.src.members and path not in self.bad_files

    # --- tables ---------------------------------------------------------------------------------
    def table(self, path: str, schema: pa.Schema, rows_expected: int, count_field: str) -> pa.Table | None:
        if not self.usable(path):
            return None
        try:
            with self.src.open(path) as f:
                table = pq.read_table(f)
        except (pa.ArrowException, OSError, ValueError) as e:
            self.add("table-unreadable", path, f"not a readable Parquet file ({str(e)[:200]})")
            return None
        problems = []
        have = {f.name: f for f in table.schema}
        for want in schema:
            got = have.get(want.name)
            if got is None:
                problems.append(f"column {want.name!r} missing")
            elif not got.type.equals(want.type):
                problems.append(f"column {want.name!r} is {got.type}, expected {want.type}")
            elif not want.nullable and table.column(want.name).null_count:
                problems.append(f"column {want.name!r} has {table.column(want.name).null_count} nulls")
        extra = sorted(set(have) - {f.name for f in schema})
        if extra and not self.newer:
            problems.append(f"unknown columns {extra}")
        if problems:
            self.add("table-schema", path, "; ".join(problems))
            return None
        if table.num_rows != rows_expected:
            self.add("table-rows", path, f"{table.num_rows} rows, manifest {count_field} says {rows_expected}")
        return table

    # --- time span and pauses -------------------------------------------------------------------
    def span(self) -> tuple[int, int, list[tuple[int, int]]]:
        c = self.m["clock"]
        start, end = c["start_ns"], c["end_ns"]
        problems = []
        if end < start:
            problems.append(f"end_ns {end} is before start_ns {start}")
        if self.m["stats"]["duration_ns"] != end - start:
            problems.append(f"stats.duration_ns {self.m['stats']['duration_ns']} != end_ns - start_ns ({end - start})")
        anchors = c["anchors"]
        monos = [a["mono_ns"] for a in anchors]
        if monos != sorted(monos):
            problems.append("anchors are not in time order")
        if anchors[0]["event"] != "start" or anchors[0]["mono_ns"] != start:
            problems.append("the first anchor is not the start anchor at start_ns")
        for p in problems:
            self.add("clock", fmt.MANIFEST, p)
        paused: list[tuple[int, int]] = []
        open_at = None
        for a in anchors:
            if a["event"] == "pause" and open_at is None:
                open_at = a["mono_ns"]
            elif a["event"] == "resume" and open_at is not None:
                paused.append((open_at, a["mono_ns"]))
                open_at = None
        if open_at is not None:
            paused.append((open_at, end))
        return start, end, paused

    @staticmethod
    def in_pause(t: np.ndarray, paused: list[tuple[int, int]]) -> np.ndarray:
        mask = np.zeros(len(t), bool)
        for p0, p1 in paused:
            mask |= (t > p0) & (t < p1)
        return mask

    def outside_span(self, code: str, path: str, what: str, t: np.ndarray, start: int, end: int) -> None:
        bad = np.flatnonzero((t < start) | (t > end))
        if len(bad):
            i = int(bad[0])
            self.add(
                code,
                path,
                f"{len(bad)} {what} outside the session span [{start}, {end}]; first at row "
                f"{i}: t_ns {int(t[i])} ({_s(int(t[i]) - start)} from start)",
            )

    # --- screen ---------------------------------------------------------------------------------
    def screen(self, start: int, end: int, paused: list[tuple[int, int]]) -> None:
        meta = self.m["streams"]["screen"]
        if not meta["present"]:
            return
        table = self.table(fmt.FRAMES, fmt.FRAMES_SCHEMA, meta["frames"], "streams.screen.frames")
        if table is None:
            return
        n = table.num_rows
        if self.m["stats"]["frames"] != n:
            self.add("table-rows", fmt.FRAMES, f"{n} rows, manifest stats.frames says {self.m['stats']['frames']}")
        idx = table.column("frame_index").to_numpy()
        pts = table.column("pts").to_numpy()
        t = table.column("t_ns").to_numpy()
        if n and not np.array_equal(idx, np.arange(n)):
            i = int(np.flatnonzero(idx != np.arange(n))[0])
            self.add("frames-index", fmt.FRAMES, f"frame_index is not 0..{n - 1}: row {i} holds {int(idx[i])}")
        for name, col in (("pts", pts), ("t_ns", t)):
            d = np.diff(col)
            if len(d) and (d <= 0).any():
                i = int(np.flatnonzero(d <= 0)[0])
                self.add(
                    f"frames-{'pts' if name == 'pts' else 't'}-order",
                    fmt.FRAMES,
                    f"{name} not strictly increasing: row {i + 1} has {int(col[i + 1])} after {int(col[i])}",
                )
        if n and t[0] != meta["t0_ns"]:
            self.add("frames-t0", fmt.FRAMES, f"first frame t_ns {int(t[0])} != streams.screen.t0_ns {meta['t0_ns']}")
        self.outside_span("frames-span", fmt.FRAMES, "frames", t, start, end)
        inp = np.flatnonzero(self.in_pause(t, paused))
        if len(inp):
            self.add(
                "frames-in-pause",
                fmt.FRAMES,
                f"{len(inp)} frames grabbed while paused (privacy); first at {_s(int(t[inp[0]]) - start)}",
            )
        self.frame_gaps(t, start, paused)
        ids = {d["id"] for d in self.m["environment"]["displays"]} | {-1}
        bad_ids = sorted(set(table.column("display_id").to_pylist()) - ids)
        if bad_ids:
            self.add("frames-display", fmt.FRAMES, f"display_id {bad_ids} not among the manifest's displays")
        if meta["region"]["size_px"] != [meta["width"], meta["height"]]:
            self.add(
                "video-size",
                fmt.MANIFEST,
                f"region size {meta['region']['size_px']} differs from the video's "
                f"{meta['width']}x{meta['height']} (format 1 records regions unscaled)",
            )
        if self.usable(fmt.VIDEO):
            self.video(meta, pts, table.column("keyframe").to_numpy(zero_copy_only=False))

    def frame_gaps(self, t: np.ndarray, start: int, paused: list[tuple[int, int]]) -> None:
        if len(t) < 2:
            return
        gaps = np.diff(t)
        longest = 0
        big = []
        for i in np.flatnonzero(gaps > fmt.FRAME_GAP_LIMIT_NS):
            a, b = int(t[i]), int(t[i + 1])
            if any(p0 < b and a < p1 for p0, p1 in paused):
                continue
            big.append(i)
            longest = max(longest, b - a)
        if big:
            i = big[0]
            self.add(
                "frames-gap",
                fmt.FRAMES,
                f"{len(big)} gaps between frames over {_s(fmt.FRAME_GAP_LIMIT_NS)} outside pauses (capture "
                f"stalled); longest {_s(longest)}, first at {_s(int(t[i]) - start)}",
                Severity.WARNING,
            )

    def video(self, meta: dict[str, Any], pts: np.ndarray, keyframe: np.ndarray) -> None:
        path = fmt.VIDEO
        local = self.src.local_path(path)
        try:
            f = open(local, "rb") if local else self.src.open(path)  # noqa: SIM115 - closed below
            with f, av.open(f, "r") as container:
                if not container.streams.video:
                    self.add("video-unreadable", path, "no video stream")
                    return
                vs = container.streams.video[0]
                cc = vs.codec_context
                if cc.name != "h264":
                    self.add("video-codec", path, f"codec {cc.name}, expected h264")
                if (cc.width, cc.height) != (meta["width"], meta["height"]):
                    self.add(
                        "video-size", path, f"{cc.width}x{cc.height}, manifest says {meta['width']}x{meta['height']}"
                    )
                tb = vs.time_base
                if tb is None or [tb.numerator, tb.denominator] != meta["time_base"]:
                    self.add("video-time-base", path, f"time base {tb}, manifest says {meta['time_base']}")
                if vs.frames and vs.frames != len(pts):
                    self.add(
                        "video-frame-count", path, f"{vs.frames} frames in the video, {len(pts)} rows in {fmt.FRAMES}"
                    )
                    return
                if self.deep:
                    got = self._decode_pts(container, vs)
                else:
                    got = [(p.pts, bool(p.is_keyframe)) for p in container.demux(vs) if p.pts is not None and p.size]
        except (av.FFmpegError, OSError, ValueError, TrajrecError) as e:
            self.add("video-decode" if self.deep else "video-unreadable", path, f"{str(e)[:300]}")
            return
        if len(got) != len(pts):
            self.add("video-frame-count", path, f"{len(got)} frames in the video, {len(pts)} rows in {fmt.FRAMES}")
            return
        got_pts = np.array([p for p, _ in got], dtype=np.int64)
        if not np.array_equal(got_pts, pts):
            i = int(np.flatnonzero(got_pts != pts)[0])
            self.add(
                "video-pts", path, f"frame {i} has pts {int(got_pts[i])} in the video, {int(pts[i])} in {fmt.FRAMES}"
            )
        got_key = np.array([k for _, k in got], dtype=bool)
        if not np.array_equal(got_key, keyframe):
            i = int(np.flatnonzero(got_key != keyframe)[0])
            self.add(
                "video-keyframes",
                path,
                f"frame {i} keyframe={bool(got_key[i])} in the video, {bool(keyframe[i])} in {fmt.FRAMES}",
            )

    def _decode_pts(self, container: Any, vs: Any) -> list[tuple[int, bool]]:
        """Decode every frame; return each packet's (pts, keyframe flag), the flags seeking relies on."""
        packets: list[tuple[int, bool]] = []
        decoded = 0
        for packet in container.demux(vs):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("cancelled")
            if packet.pts is not None and packet.size:
                packets.append((int(packet.pts), bool(packet.is_keyframe)))
            decoded += len(packet.decode())  # the flush packet at the end returns the delayed frames
        if decoded != len(packets):
            raise TrajrecError(f"{decoded} of {len(packets)} frames decoded")
        return packets

    # --- input ----------------------------------------------------------------------------------
    def events(self, start: int, end: int, paused: list[tuple[int, int]]) -> None:
        path = fmt.EVENTS
        table = self.table(path, fmt.EVENTS_SCHEMA, self.m["streams"]["input"]["events"], "streams.input.events")
        if table is None:
            return
        if self.m["stats"]["events"] != table.num_rows:
            self.add(
                "table-rows", path, f"{table.num_rows} rows, manifest stats.events says {self.m['stats']['events']}"
            )
        n = table.num_rows
        seq = table.column("seq").to_numpy()
        t = table.column("t_ns").to_numpy()
        if n and not np.array_equal(seq, np.arange(n)):
            i = int(np.flatnonzero(seq != np.arange(n))[0])
            want = "sorted and contiguous from 0"
            self.add("events-seq", path, f"seq is not {want}: row {i} holds {int(seq[i])}, expected {i}")
        d = np.diff(t)
        if len(d) and (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0])
            self.add("events-order", path, f"t_ns goes back in time at row {i + 1}: {int(t[i + 1])} after {int(t[i])}")
        self.outside_span("events-span", path, "events", t, start, end)
        inp = np.flatnonzero(self.in_pause(t, paused))
        if len(inp):
            self.add(
                "events-in-pause",
                path,
                f"{len(inp)} events captured while paused (privacy); first at row {int(inp[0])}",
            )
        kind = table.column("kind")
        bad_kind = np.flatnonzero(
            ~pc.is_in(kind, value_set=pa.array([k.value for k in fmt.EventKind])).to_numpy(zero_copy_only=False)
        )
        if len(bad_kind):
            i = int(bad_kind[0])
            self.add(
                "events-kind", path, f"{len(bad_kind)} rows with an unknown kind; first row {i}: {kind[i].as_py()!r}"
            )
        self.event_fields(table)
        self.pairs(table, paused)
        self.coords(table)

    def event_fields(self, table: pa.Table) -> None:
        kind = table.column("kind")
        missing = np.zeros(table.num_rows, bool)
        first_field: dict[int, str] = {}
        for k, cols in NEEDED_FIELDS.items():
            of_kind = pc.equal(kind, k).to_numpy(zero_copy_only=False)
            for col in cols:
                hole = of_kind & pc.is_null(table.column(col)).to_numpy(zero_copy_only=False)
                if hole.any():
                    first_field.setdefault(int(np.flatnonzero(hole)[0]), col)
                missing |= hole
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            self.add(
                "events-fields",
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
                self.add(
                    "events-fields",
                    fmt.EVENTS,
                    f"{len(bad_rows)} rows with unknown or repeated modifiers; first: row {i} {mods[i].as_py()}",
                )

    def pairs(self, table: pa.Table, paused: list[tuple[int, int]]) -> None:
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
        resumes = sorted(p1 for _, p1 in paused)
        held: set[tuple[str, Any]] = set()
        seen: set[tuple[str, Any]] = set()
        r_i = 0
        orphans = []
        for j, kind in enumerate(kinds):
            while r_i < len(resumes) and t[j] >= resumes[r_i]:
                held.clear()
                seen.clear()
                r_i += 1
            k: tuple[str, Any] = (
                ("button", buttons[j])
                if kind in ("down", "up")
                else ("key", codes[j] if codes[j] is not None else keys[j])
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
            self.add(
                "events-unpaired",
                fmt.EVENTS,
                f"{len(orphans)} releases without a press; first at row {i} ({what} {which!r})",
            )

    def coords(self, table: pa.Table) -> None:
        x = table.column("x").to_numpy(zero_copy_only=False)
        y = table.column("y").to_numpy(zero_copy_only=False)
        has = ~(np.isnan(x.astype(float)) | np.isnan(y.astype(float)))
        if not has.any():
            return
        xs, ys = x[has].astype(np.int64), y[has].astype(np.int64)
        inside = np.zeros(len(xs), bool)
        env = self.m["environment"]
        layouts = [env["displays"], *(c["displays"] for c in env.get("display_changes", []))]
        for d in (d for layout in layouts for d in layout):  # any layout of the session
            (ox, oy), (w, h) = d["origin"], d["size_px"]
            inside |= (xs >= ox) & (xs < ox + w) & (ys >= oy) & (ys < oy + h)
        bad = np.flatnonzero(~inside)
        if len(bad):
            row = int(np.flatnonzero(has)[bad[0]])
            self.add(
                "events-coords",
                fmt.EVENTS,
                f"{len(bad)} pointer positions outside every display; first: "
                f"row {row} at ({int(xs[bad[0]])}, {int(ys[bad[0]])})",
            )

    # --- context and markers --------------------------------------------------------------------
    def windows(self, start: int, end: int) -> None:
        path = fmt.WINDOWS
        table = self.table(path, fmt.WINDOWS_SCHEMA, self.m["streams"]["context"]["records"], "streams.context.records")
        if table is None:
            return
        t = table.column("t_ns").to_numpy()
        d = np.diff(t)
        if len(d) and (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0])
            self.add("windows-order", path, f"t_ns goes back in time at row {i + 1}")
        self.outside_span("windows-span", path, "window records", t, start, end)

    def markers(self, start: int, end: int) -> None:
        path = fmt.MARKERS
        if not self.usable(path):
            return
        with self.src.open(path) as f:
            data = f.read()
        markers = []
        for n, line in enumerate(data.splitlines(), 1):
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                self.add("markers-malformed", path, f"line {n}: not JSON ({e})")
                return
            errs = schema_errors(obj, fmt.RECORD_SCHEMA_FILES[fmt.MARKERS], limit=1)
            if errs:
                self.add("markers-malformed", path, f"line {n}: {errs[0]}")
                return
            markers.append(obj)
        if len(markers) != self.m["streams"]["markers"]["count"]:
            self.add(
                "table-rows",
                path,
                f"{len(markers)} markers, manifest streams.markers.count says {self.m['streams']['markers']['count']}",
            )
        t = np.array([mk["t_ns"] for mk in markers], dtype=np.int64)
        if len(t) > 1 and (np.diff(t) < 0).any():
            self.add("markers-order", path, "markers are not in time order")
        self.outside_span("markers-span", path, "markers", t, start, end)

    # --- audio ----------------------------------------------------------------------------------
    def audio(self, start: int, end: int) -> None:
        meta = self.m["streams"]["audio"]
        path = fmt.AUDIO
        if not meta["present"] or not self.usable(path):
            return
        local = self.src.local_path(path)
        try:
            f = open(local, "rb") if local else self.src.open(path)  # noqa: SIM115 - closed below
            with f, sf.SoundFile(f) as snd:
                if (snd.samplerate, snd.channels) != (meta["sample_rate"], meta["channels"]):
                    self.add(
                        "audio-format",
                        path,
                        f"{snd.samplerate} Hz x{snd.channels}, manifest says "
                        f"{meta['sample_rate']} Hz x{meta['channels']}",
                    )
                    return
                frames = snd.frames
                if self.deep:
                    frames = 0
                    for block in snd.blocks(blocksize=1 << 16, dtype="int16"):
                        frames += len(block)
                        if self.cancel is not None and self.cancel.is_set():
                            raise Cancelled("cancelled")
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            self.add("audio-decode" if self.deep else "audio-unreadable", path, str(e)[:300])
            return
        if frames != meta["samples"]:
            self.add("audio-samples", path, f"{frames} samples in the file, manifest says {meta['samples']}")
            return
        a0 = meta["first_sample_t_ns"]
        a1 = a0 + round(frames * 1e9 / (meta.get("clock_rate_hz") or meta["sample_rate"]))
        tol = fmt.AUDIO_SPAN_TOLERANCE_NS
        if abs(a0 - start) > tol or abs(end - a1) > tol:
            self.add(
                "audio-duration",
                path,
                f"audio covers {_s(a0 - start)} to {_s(a1 - start)} of a {_s(end - start)} session "
                f"(tolerance {_s(tol)} at each end)",
            )

    def run(self) -> None:
        if not self.manifest():
            return
        self.files()
        start, end, paused = self.span()
        self.screen(start, end, paused)
        self.events(start, end, paused)
        self.windows(start, end)
        self.markers(start, end)
        self.audio(start, end)


def validate_source(
    source: BundleSource,
    *,
    deep: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    t0 = time.perf_counter()
    checker = _Checker(source, deep, cancel, progress)
    report = Report(location=source.location)
    try:
        checker.run()
    except Cancelled:
        raise
    except Exception as e:  # a check that met something it did not foresee: report, never crash the batch
        checker.add("internal", "", f"validator error {type(e).__name__}: {str(e)[:300]} (please report)")
    report.findings = checker.findings
    report.bytes = checker.bytes
    if checker.m and not any(f.code in ("manifest-schema", "format-version") for f in checker.findings):
        report.session_id = checker.m.get("session_id")
        report.status = checker.m.get("status")
        report.duration_ns = checker.m.get("stats", {}).get("duration_ns")
        report.frames = checker.m.get("stats", {}).get("frames")
    report.seconds = time.perf_counter() - t0
    return report


def validate_bundle(
    path: str,
    *,
    deep: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Validate the bundle at `path` (directory or tar). Problems become findings, never exceptions."""
    try:
        source = open_source(path)
    except BundleError as e:
        return Report(location=path, findings=[Finding("unreadable", Severity.ERROR, "", str(e))])
    with source:
        return validate_source(source, deep=deep, cancel=cancel, progress=progress)


def bundle_bytes(path: str) -> int:
    """Bytes a validation of `path` will hash (for progress totals); 0 when unreadable."""
    try:
        with open_source(path) as s:
            return sum(m.size for m in s.members.values())
    except BundleError:
        return 0
