"""The recordings on this machine: every sealed bundle and interrupted session in the recordings folder, with
what the upload ledger says of it, so that no recording is ever orphaned (the desktop app's library lists these).

The folder is read as untrusted: names that are not session ids, links and unreadable manifests are listed as
what they are (an unreadable entry says why) or skipped (links, partial seals), never followed or trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from trajrec import format as fmt
from trajrec.errors import TrajrecError
from trajrec.manifest import read_manifest
from trajrec.paths import open_member, session_id_problem

LIVE_SUFFIX = ".live"

STATE_WORDS = {
    "review": "Not yet submitted",
    "queued": "Submitted, waiting",
    "uploading": "Uploading",
    "verifying": "Uploading",
    "done": "Uploaded",
    "failed": "Upload failed",
    "interrupted": "Interrupted: recover it",
    "unreadable": "Unreadable",
}


class LedgerRow(Protocol):
    id: int
    path: str
    state: str
    reason: str | None


@dataclass(frozen=True)
class Recording:
    path: Path
    session_id: str
    title: str
    sealed_utc: str  # ISO 8601 as the manifest says, "" when unknown
    recorded_s: float | None  # pauses not counted (the recording timer's time)
    state: str  # a key of STATE_WORDS
    recovered: bool = False  # sealed from what a crash left
    reason: str = ""  # why an upload failed, or why the entry is unreadable
    upload_id: int | None = None  # its ledger row, for Retry

    @property
    def state_words(self) -> str:
        words = STATE_WORDS.get(self.state, self.state)
        return f"{words} (recovered)" if self.recovered and self.state not in ("unreadable", "interrupted") else words

    @property
    def when(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(self.sealed_utc.replace("Z", "+00:00"))
        except ValueError:
            return None


def recordings(out_dir: Path, rows: Iterable[LedgerRow] = ()) -> list[Recording]:
    """Every recording in `out_dir`, newest first; `rows` are the upload ledger's (matched by path)."""
    if not out_dir.is_dir():
        return []
    by_path = {}
    for row in rows:
        by_path[str(Path(row.path).resolve())] = row  # the latest row of a path wins (a later destination)
    found = []
    for entry in out_dir.iterdir():
        if entry.is_symlink() or not entry.is_dir():
            continue
        name = entry.name
        if name.startswith(".") and name.endswith(LIVE_SUFFIX):
            sid = name[1 : -len(LIVE_SUFFIX)]
            if session_id_problem(sid) is None and not (out_dir / sid).exists():
                found.append(Recording(entry, sid, "", _mtime(entry), None, "interrupted"))
            continue
        if name.startswith(".") or session_id_problem(name) is not None:
            continue  # partial seals, edits in progress, other files
        found.append(_sealed(entry, by_path.get(str(entry.resolve()))))
    return sorted(found, key=lambda r: r.when or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)


def _sealed(path: Path, row: LedgerRow | None) -> Recording:
    try:
        with open_member(path, fmt.MANIFEST) as f:
            data = f.read(fmt.MAX_MANIFEST_BYTES + 1)
        manifest, _newer = read_manifest(data)
    except FileNotFoundError:
        return Recording(path, path.name, "", _mtime(path), None, "unreadable", reason="no manifest: not sealed")
    except (OSError, TrajrecError) as e:
        return Recording(path, path.name, "", _mtime(path), None, "unreadable", reason=str(e))
    task = manifest.get("task") or {}
    stats = manifest["stats"]
    recorded = max(0, int(stats["duration_ns"]) - int(stats["paused_ns"])) / 1e9
    state = "review" if row is None else row.state
    return Recording(
        path,
        str(manifest["session_id"]),
        str(task.get("title", "")) if isinstance(task, dict) else "",
        str(manifest["created_utc"]),
        recorded,
        state,
        recovered=manifest["status"] == "recovered",
        reason=(row.reason or "") if row is not None and row.state == "failed" else "",
        upload_id=None if row is None else row.id,
    )


def title_of(bundle: Path) -> str:
    """The task title a sealed bundle's manifest gives, "" when it cannot be read."""
    entry = _sealed(bundle, None)
    return "" if entry.state == "unreadable" else entry.title


def _mtime(path: Path) -> str:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat()
    except OSError:
        return ""
