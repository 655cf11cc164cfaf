"""The grant service's database (SQLite, mode 0600): experts' tokens (only their SHA-256 is kept), the bundles
being uploaded through the service with their declared files, the parts it presigned, and the audit log of every
grant and refusal. Thread-safe; every method commits before it returns."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uploader.sqlitefile import SQLiteFile

SCHEMA_VERSION = 1
TOKEN_PREFIX = "trg_"
EXPERT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # one key segment under the lab's prefix

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, expert TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    expires_at REAL, quota_bytes INTEGER, revoked_at REAL, last_used_at REAL
);
CREATE TABLE IF NOT EXISTS bundles (
    session_id TEXT PRIMARY KEY, expert TEXT NOT NULL, token_id TEXT NOT NULL, state TEXT NOT NULL,
    files TEXT NOT NULL, bytes INTEGER NOT NULL, opened_at REAL NOT NULL, completed_at REAL
);
CREATE TABLE IF NOT EXISTS files (
    session_id TEXT NOT NULL, path TEXT NOT NULL, upload_id TEXT, verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, path)
);
CREATE TABLE IF NOT EXISTS signed_parts (
    session_id TEXT NOT NULL, path TEXT NOT NULL, upload_id TEXT NOT NULL, part INTEGER NOT NULL,
    bytes INTEGER NOT NULL, PRIMARY KEY (session_id, path, upload_id, part)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, token_id TEXT, expert TEXT, action TEXT NOT NULL,
    session_id TEXT, path TEXT, bytes INTEGER, outcome TEXT NOT NULL, detail TEXT
);
"""


def token_hash(token: str) -> str:
    """Tokens carry 256 random bits: a plain SHA-256 is enough to keep them unrecoverable from the database."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Token:
    id: str
    expert: str
    created_at: float
    expires_at: float | None
    quota_bytes: int | None
    revoked_at: float | None
    last_used_at: float | None

    def state(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Bundle:
    session_id: str
    expert: str
    token_id: str
    state: str  # open | complete
    files: dict[str, tuple[int, str]]  # path -> (bytes, sha256), manifest.json included
    bytes: int


def _token(row: sqlite3.Row) -> Token:
    return Token(
        row["id"],
        row["expert"],
        row["created_at"],
        row["expires_at"],
        row["quota_bytes"],
        row["revoked_at"],
        row["last_used_at"],
    )


def _bundle(row: sqlite3.Row) -> Bundle:
    files = {f["path"]: (int(f["bytes"]), str(f["sha256"])) for f in json.loads(row["files"])}
    return Bundle(row["session_id"], row["expert"], row["token_id"], row["state"], files, int(row["bytes"]))


class GrantDB(SQLiteFile):
    """See the module docstring."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        # WAL with synchronous=NORMAL: a commit is on disk at the next checkpoint; a power cut may lose the last
        # grants' audit rows, never the database. Every request writes, so FULL's fsync each time would cost a
        # round trip per part.
        super().__init__(path, _SCHEMA, SCHEMA_VERSION, synchronous="NORMAL")
        self._touched: dict[str, float] = {}

    # --- tokens ----------------------------------------------------------------------------------------
    def add_token(self, expert: str, *, expires_at: float | None, quota_bytes: int | None) -> tuple[Token, str]:
        """A new token for `expert`: (its row, the token itself, to be shown once and never again)."""
        if not EXPERT_RE.match(expert):
            raise ValueError(f"{expert!r} is not an expert name: use 1-64 letters, digits, '.', '_' or '-'")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = "t" + secrets.token_hex(4)
        with self._tx() as db:
            db.execute(
                "INSERT INTO tokens (id, expert, hash, created_at, expires_at, quota_bytes) VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, expert, token_hash(secret), time.time(), expires_at, quota_bytes),
            )
            row = db.execute("SELECT * FROM tokens WHERE id=?", (token_id,)).fetchone()
        return _token(row), secret

    def tokens(self, expert: str | None = None) -> list[Token]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tokens WHERE ? IS NULL OR expert=? ORDER BY created_at", (expert, expert)
            ).fetchall()
        return [_token(r) for r in rows]

    def revoke(self, which: str) -> list[Token]:
        """Revoke the token with id `which`, or every token of the expert `which`; returns those revoked."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM tokens WHERE (id=? OR expert=?) AND revoked_at IS NULL", (which, which)
            ).fetchall()
            db.executemany("UPDATE tokens SET revoked_at=? WHERE id=?", [(time.time(), r["id"]) for r in rows])
            return [_token(db.execute("SELECT * FROM tokens WHERE id=?", (r["id"],)).fetchone()) for r in rows]

    def find_token(self, secret: str) -> Token | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tokens WHERE hash=?", (token_hash(secret),)).fetchone()
        return None if row is None else _token(row)

    def touch(self, token_id: str) -> None:
        """Record the token's use (at most once a minute: `token list` shows the minute)."""
        now = time.time()
        if now - self._touched.get(token_id, 0.0) < 60:
            return
        self._touched[token_id] = now
        with self._lock:
            self._db.execute("UPDATE tokens SET last_used_at=? WHERE id=?", (now, token_id))

    def used_bytes(self, token_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(bytes), 0) FROM bundles WHERE token_id=?", (token_id,)
            ).fetchone()
        return int(row[0])

    # --- bundles ---------------------------------------------------------------------------------------
    def bundle(self, session_id: str) -> Bundle | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM bundles WHERE session_id=?", (session_id,)).fetchone()
        return None if row is None else _bundle(row)

    def open_bundle(self, session_id: str, token: Token, files: list[dict[str, Any]]) -> Bundle:
        """Record a newly opened bundle (the caller checked there is none)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO bundles (session_id, expert, token_id, state, files, bytes, opened_at)"
                " VALUES (?, ?, ?, 'open', ?, ?, ?)",
                (session_id, token.expert, token.id, json.dumps(files), sum(f["bytes"] for f in files), time.time()),
            )
            db.executemany(
                "INSERT INTO files (session_id, path) VALUES (?, ?)", [(session_id, f["path"]) for f in files]
            )
            return _bundle(db.execute("SELECT * FROM bundles WHERE session_id=?", (session_id,)).fetchone())

    def complete_bundle(self, session_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE bundles SET state='complete', completed_at=? WHERE session_id=?", (time.time(), session_id)
            )

    def file(self, session_id: str, path: str) -> tuple[str | None, bool]:
        """(multipart upload id, verified) of one declared file."""
        with self._lock:
            row = self._db.execute(
                "SELECT upload_id, verified FROM files WHERE session_id=? AND path=?", (session_id, path)
            ).fetchone()
        return (None, False) if row is None else (row["upload_id"], bool(row["verified"]))

    def set_file(self, session_id: str, path: str, *, upload_id: str | None, verified: bool) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE files SET upload_id=?, verified=? WHERE session_id=? AND path=?",
                (upload_id, int(verified), session_id, path),
            )
            if upload_id is None:
                db.execute("DELETE FROM signed_parts WHERE session_id=? AND path=?", (session_id, path))

    def sign_part(self, session_id: str, path: str, upload_id: str, part: int, size: int, limit: int) -> bool:
        """Record that `part` of `size` bytes was presigned; False (nothing recorded) when the parts presigned for
        this upload would then add up to more than `limit` bytes (the file's declared size)."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT part, bytes FROM signed_parts WHERE session_id=? AND path=? AND upload_id=?",
                (session_id, path, upload_id),
            ).fetchall()
            total = sum(int(r["bytes"]) for r in rows if r["part"] != part) + size
            if total > limit:
                return False
            db.execute(
                "INSERT OR REPLACE INTO signed_parts (session_id, path, upload_id, part, bytes) VALUES (?, ?, ?, ?, ?)",
                (session_id, path, upload_id, part, size),
            )
            return True

    # --- audit -----------------------------------------------------------------------------------------
    def audit(
        self,
        action: str,
        outcome: str,
        *,
        token: Token | None = None,
        session_id: str | None = None,
        path: str | None = None,
        size: int | None = None,
        detail: str | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, token_id, expert, action, session_id, path, bytes, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    token.id if token else None,
                    token.expert if token else None,
                    action,
                    session_id,
                    path,
                    size,
                    outcome,
                    detail,
                ),
            )

    def audit_log(
        self, *, expert: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM audit WHERE (? IS NULL OR expert=?) AND (? IS NULL OR at>=?) ORDER BY id DESC LIMIT ?",
                (expert, expert, since, since, limit),
            ).fetchall()
        return [dict(r) for r in reversed(rows)]
