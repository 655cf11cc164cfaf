"""The upload ledger: one SQLite database that survives crashes, kill -9 and reboots.

It holds the queue (one row per bundle and destination, with its state) and, per file, what the store has
acknowledged: the multipart upload id, the part size, and each part's number, size, ETag and MD5.
A part is written here, and committed, before it counts as sent; after a restart the uploader reconciles
these rows with the store (ListParts) and sends only what is missing.

WAL journal, `synchronous=FULL`: a committed row survives a power cut. One connection per Ledger, shared
by the upload threads behind a lock (the writes are small and few: one per part of 8 MiB or more).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from uploader.platform import process_alive
from uploader.sqlitefile import SQLiteFile

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    dest TEXT NOT NULL,              -- s3://bucket/prefix the bundle goes to
    manifest_sha256 TEXT NOT NULL,   -- the sealed manifest as enqueued: any later change is refused
    state TEXT NOT NULL,             -- queued | uploading | verifying | done | failed
    reason TEXT,                     -- why it failed, in plain words
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,  -- retry back-off: not picked up before this time (epoch s)
    bytes_total INTEGER NOT NULL DEFAULT 0,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (session_id, dest)
);
CREATE TABLE IF NOT EXISTS files (
    bundle_id INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
    relpath TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    upload_id TEXT,                  -- the multipart upload in progress, if any
    part_size INTEGER,
    done INTEGER NOT NULL DEFAULT 0, -- the object is complete on the store
    PRIMARY KEY (bundle_id, relpath)
);
CREATE TABLE IF NOT EXISTS parts (
    bundle_id INTEGER NOT NULL,
    relpath TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    md5 TEXT NOT NULL,               -- hex MD5 of the part: its checksum (Content-MD5; most stores' ETag)
    PRIMARY KEY (bundle_id, relpath, upload_id, number),
    FOREIGN KEY (bundle_id, relpath) REFERENCES files(bundle_id, relpath) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class States:
    QUEUED = "queued"
    UPLOADING = "uploading"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    ALL = (QUEUED, UPLOADING, VERIFYING, DONE, FAILED)


@dataclass(frozen=True)
class BundleRow:
    id: int
    session_id: str
    path: str
    dest: str
    manifest_sha256: str
    state: str
    reason: str | None
    attempts: int
    not_before: float
    bytes_total: int
    bytes_done: int
    enqueued_at: float
    updated_at: float


@dataclass(frozen=True)
class FileRow:
    bundle_id: int
    relpath: str
    key: str
    size: int
    sha256: str
    upload_id: str | None
    part_size: int | None
    done: bool


@dataclass(frozen=True)
class PartRow:
    number: int
    size: int
    etag: str
    md5: str


class Ledger(SQLiteFile):
    """The upload database. Thread-safe; every method commits before it returns."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, SCHEMA_VERSION)

    # --- bundles ---------------------------------------------------------------------------------
    def add_bundle(
        self, *, session_id: str, path: str, dest: str, manifest_sha256: str, files: list[tuple[str, str, int, str]]
    ) -> tuple[BundleRow, bool]:
        """Queue a bundle (files: relpath, key, size, sha256). Returns (row, added); an existing row for the
        same session and destination is returned as it is (added False): a bundle is never queued twice."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT * FROM bundles WHERE session_id=? AND dest=?", (session_id, dest)).fetchone()
            if row is not None:
                return _bundle(row), False
            cur = db.execute(
                "INSERT INTO bundles (session_id, path, dest, manifest_sha256, state, bytes_total, enqueued_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, path, dest, manifest_sha256, States.QUEUED, sum(f[2] for f in files), now, now),
            )
            bundle_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO files (bundle_id, relpath, key, size, sha256) VALUES (?, ?, ?, ?, ?)",
                [(bundle_id, rel, key, size, sha) for rel, key, size, sha in files],
            )
            return _bundle(db.execute("SELECT * FROM bundles WHERE id=?", (bundle_id,)).fetchone()), True

    def bundle(self, bundle_id: int) -> BundleRow:
        with self._lock:
            row = self._db.execute("SELECT * FROM bundles WHERE id=?", (bundle_id,)).fetchone()
        if row is None:
            raise KeyError(bundle_id)
        return _bundle(row)

    def bundles(self, states: tuple[str, ...] = States.ALL) -> list[BundleRow]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM bundles WHERE state IN ({marks}) ORDER BY id", states).fetchall()
        return [_bundle(r) for r in rows]

    def next_due(self, now: float | None = None) -> BundleRow | None:
        """The oldest bundle that is queued (and past its back-off), or was left mid-upload by a crash."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM bundles WHERE state IN (?, ?, ?) AND not_before <= ? ORDER BY not_before, id LIMIT 1",
                (States.QUEUED, States.UPLOADING, States.VERIFYING, now),
            ).fetchone()
        return None if row is None else _bundle(row)

    def set_state(
        self,
        bundle_id: int,
        state: str,
        *,
        reason: str | None = None,
        attempts: int | None = None,
        not_before: float = 0.0,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE bundles SET state=?, reason=?, attempts=COALESCE(?, attempts), not_before=?, updated_at=?"
                " WHERE id=?",
                (state, reason, attempts, not_before, time.time(), bundle_id),
            )

    def set_bytes_done(self, bundle_id: int, done: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE bundles SET bytes_done=?, updated_at=? WHERE id=?", (done, time.time(), bundle_id))

    def remove(self, bundle_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM bundles WHERE id=?", (bundle_id,))

    # --- files and parts -------------------------------------------------------------------------
    def files(self, bundle_id: int) -> list[FileRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM files WHERE bundle_id=? ORDER BY rowid", (bundle_id,)).fetchall()
        return [_file(r) for r in rows]

    def file(self, bundle_id: int, relpath: str) -> FileRow:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM files WHERE bundle_id=? AND relpath=?", (bundle_id, relpath)
            ).fetchone()
        if row is None:
            raise KeyError((bundle_id, relpath))
        return _file(row)

    def start_multipart(self, bundle_id: int, relpath: str, upload_id: str, part_size: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE bundle_id=? AND relpath=?", (bundle_id, relpath))
            db.execute(
                "UPDATE files SET upload_id=?, part_size=?, done=0 WHERE bundle_id=? AND relpath=?",
                (upload_id, part_size, bundle_id, relpath),
            )

    def forget_multipart(self, bundle_id: int, relpath: str) -> None:
        """The store lost the upload (or we abandon it): start that file over."""
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE bundle_id=? AND relpath=?", (bundle_id, relpath))
            db.execute(
                "UPDATE files SET upload_id=NULL, part_size=NULL WHERE bundle_id=? AND relpath=?", (bundle_id, relpath)
            )

    def add_part(self, bundle_id: int, relpath: str, upload_id: str, part: PartRow) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO parts (bundle_id, relpath, upload_id, number, size, etag, md5)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (bundle_id, relpath, upload_id, part.number, part.size, part.etag, part.md5),
            )

    def drop_part(self, bundle_id: int, relpath: str, upload_id: str, number: int) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM parts WHERE bundle_id=? AND relpath=? AND upload_id=? AND number=?",
                (bundle_id, relpath, upload_id, number),
            )

    def parts(self, bundle_id: int, relpath: str, upload_id: str) -> dict[int, PartRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT number, size, etag, md5 FROM parts WHERE bundle_id=? AND relpath=? AND upload_id=?",
                (bundle_id, relpath, upload_id),
            ).fetchall()
        return {r["number"]: PartRow(r["number"], r["size"], r["etag"], r["md5"]) for r in rows}

    def file_done(self, bundle_id: int, relpath: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE bundle_id=? AND relpath=?", (bundle_id, relpath))
            db.execute("UPDATE files SET done=1, upload_id=NULL WHERE bundle_id=? AND relpath=?", (bundle_id, relpath))

    def reset_files(self, bundle_id: int) -> None:
        """Forget what was uploaded for a bundle (a retry after its upload was found wrong)."""
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE bundle_id=?", (bundle_id,))
            db.execute("UPDATE files SET done=0, upload_id=NULL, part_size=NULL WHERE bundle_id=?", (bundle_id,))

    # --- the one uploader at a time ---------------------------------------------------------------
    def claim_runner(self, pid: int, *, stale_s: float = 15.0) -> int | None:
        """Become the process that sends the queue. Returns None when claimed, else the live holder's pid.
        A holder whose heartbeat is older than `stale_s` (it crashed or was killed) is replaced."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT value FROM settings WHERE key='runner'").fetchone()
            if row is not None:
                holder, _, beat = str(row[0]).partition("@")
                fresh = now - float(beat or 0) < stale_s
                if holder and int(holder) != pid and fresh and process_alive(int(holder)):
                    return int(holder)
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('runner', ?)", (f"{pid}@{now}",))
        return None

    def beat_runner(self, pid: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE settings SET value=? WHERE key='runner' AND value LIKE ?", (f"{pid}@{time.time()}", f"{pid}@%")
            )

    def release_runner(self, pid: int, *, unless_pending: bool = True) -> bool:
        """Stop being the runner, unless (with `unless_pending`) bundles were queued meanwhile: False then, and
        the caller carries on, so a bundle queued while we were finishing is never left waiting for nobody."""
        with self._tx() as db:
            if unless_pending:
                pending = db.execute(
                    "SELECT COUNT(*) FROM bundles WHERE state IN (?, ?, ?)",
                    (States.QUEUED, States.UPLOADING, States.VERIFYING),
                ).fetchone()[0]
                paused = db.execute("SELECT value FROM settings WHERE key='paused'").fetchone()
                if pending and not (paused and paused[0] == "1"):
                    return False
            db.execute("DELETE FROM settings WHERE key='runner' AND value LIKE ?", (f"{pid}@%",))
        return True

    # --- settings --------------------------------------------------------------------------------
    def get_setting(self, key: str, default: str = "") -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))


def _bundle(row: sqlite3.Row) -> BundleRow:
    return BundleRow(**{k: row[k] for k in row.keys()})  # noqa: SIM118 - sqlite3.Row has no items()


def _file(row: sqlite3.Row) -> FileRow:
    return FileRow(
        bundle_id=row["bundle_id"],
        relpath=row["relpath"],
        key=row["key"],
        size=row["size"],
        sha256=row["sha256"],
        upload_id=row["upload_id"],
        part_size=row["part_size"],
        done=bool(row["done"]),
    )
