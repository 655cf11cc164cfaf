"""The durable upload queue: sealed bundles in, verified objects out, whatever happens in between.

States (kept in the ledger, so they survive crashes): ``queued → uploading → verifying → done``, or
``failed`` with a reason in plain words. A bundle is checked when it is queued and again before every
attempt: a manifest or a file that changed after sealing (size or SHA-256 not the manifest's) is refused
and never uploaded. Files go to ``<prefix>/<session_id>/<path>``, ``manifest.json`` last, so a listed
manifest means a complete bundle. After the upload every object is HEADed and its size and stored
SHA-256 compared with the manifest's; only then is the bundle ``done`` (and, if asked, deleted locally).

Errors the store may get over (unreachable, busy, a corrupted part) are retried with jittered exponential
back-off up to a cap, logged as "attempt i/n"; the others (credentials, a missing bucket, a conflicting
object) fail the bundle at once with their reason. `trajrec queue retry` puts a failed bundle back.
Pause is a setting in the ledger, so `trajrec queue pause` in one shell pauses the uploader running in
another: the part in flight finishes, nothing new starts, and resume carries on from the ledger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trajrec.errors import UnsafePathError
from trajrec.format import MAX_MANIFEST_BYTES
from trajrec.hashing import sha256_stream
from trajrec.paths import member_path, member_problem, open_member, session_id_problem
from trajrec.retry import RetryPolicy
from uploader.config import StoreConfig
from uploader.errors import BundleModified, Cancelled, PartCorrupted, QueueBusy, UploaderError
from uploader.ledger import BundleRow, Ledger, States
from uploader.multipart import FileUploader
from uploader.parts import DEFAULT_PART_SIZE, Throttle

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PAUSED = "paused"


@dataclass(frozen=True)
class ProgressEvent:
    """What subscribers (the CLI's progress bars, the app's upload panel) are told."""

    bundle_id: int
    session_id: str
    state: str
    bytes_done: int
    bytes_total: int
    rate_bps: float = 0.0  # recent bytes per second
    eta_s: float | None = None
    reason: str | None = None
    attempt: int = 0


Subscriber = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class SealedBundle:
    """A sealed bundle on disk, checked against its manifest."""

    path: Path
    session_id: str
    manifest_sha256: str
    files: list[tuple[str, int, str]]  # relpath, bytes, sha256 - manifest.json not included

    @classmethod
    def open(cls, path: Path, *, check_hashes: bool = True) -> SealedBundle:
        try:
            raw = _read_manifest(path)
        except FileNotFoundError:
            raise BundleModified(path, f"no {MANIFEST}: not a sealed bundle (seal it with `trajrec repair`)") from None
        except UnsafePathError as e:
            raise BundleModified(path, f"{MANIFEST}: {e.reason}") from e
        except OSError as e:
            raise BundleModified(path, f"cannot read {MANIFEST} ({e.strerror})") from e
        try:
            manifest = json.loads(raw)
            session_id = manifest["session_id"]
            files = [(str(f["path"]), int(f["bytes"]), str(f["sha256"])) for f in manifest["files"]]
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise BundleModified(path, f"{MANIFEST} is not a bundle manifest ({str(e)[:200]})") from e
        problem = session_id_problem(session_id)
        if problem is not None:
            raise BundleModified(path, f"session_id {str(session_id)[:80]!r}: {problem}")
        for rel, _, _ in files:
            if (problem := member_problem(rel)) is not None or rel == MANIFEST:
                raise BundleModified(path, f"files lists {rel[:200]!r}: {problem or 'the manifest itself'}")
        bundle = cls(path, session_id, hashlib.sha256(raw).hexdigest(), files)
        bundle.check(check_hashes=check_hashes)
        return bundle

    def check(self, *, check_hashes: bool = True, manifest_sha256: str | None = None) -> None:
        """Raise BundleModified if anything differs from the manifest (or from the manifest as queued)."""
        if manifest_sha256 is not None:
            try:
                same = hashlib.sha256(_read_manifest(self.path)).hexdigest() == manifest_sha256
            except (OSError, UnsafePathError):
                same = False
            if not same:
                raise BundleModified(self.path, f"{MANIFEST} changed after the bundle was queued")
        for rel, size, sha in self.files:
            try:  # a regular file inside the bundle, never through a link
                with open_member(self.path, rel) as f:
                    actual = os.fstat(f.fileno()).st_size
                    if actual != size:
                        raise BundleModified(self.path, f"{rel} is {actual} bytes, the manifest says {size}")
                    if check_hashes and sha256_stream(f)[0] != sha:
                        raise BundleModified(self.path, f"{rel} does not match its SHA-256 in the manifest")
            except FileNotFoundError:
                raise BundleModified(self.path, f"{rel} is missing") from None
            except UnsafePathError as e:
                raise BundleModified(self.path, f"{rel}: {e.reason}") from e


def _read_manifest(root: Path) -> bytes:
    """manifest.json's bytes: a regular file (no link), at most MAX_MANIFEST_BYTES."""
    with open_member(root, MANIFEST) as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleModified(root, f"{MANIFEST} is over {MAX_MANIFEST_BYTES} bytes: not a bundle manifest")
    return raw


def enqueue_bundle(ledger: Ledger, path: Path, dest: StoreConfig) -> tuple[BundleRow, bool]:
    """Check a sealed bundle against its manifest and queue it for `dest` (once per destination). Returns the
    row and whether it was added. Raises BundleModified if the bundle changed after sealing."""
    bundle = SealedBundle.open(path.resolve())
    files = [(rel, dest.key(bundle.session_id, rel), size, sha) for rel, size, sha in bundle.files]
    mbytes = (bundle.path / MANIFEST).stat().st_size
    files.append((MANIFEST, dest.key(bundle.session_id, MANIFEST), mbytes, bundle.manifest_sha256))
    row, added = ledger.add_bundle(
        session_id=bundle.session_id,
        path=str(bundle.path),
        dest=dest.url,
        manifest_sha256=bundle.manifest_sha256,
        files=files,
    )
    if added:
        log.info("queued %s (%s) for %s", row.session_id, row.path, row.dest)
    return row, added


def _fingerprint(root: Path, relpaths: list[str]) -> list[tuple[str, int, int, int]]:
    """Size, mtime and inode of each file: what changes when a file is written or replaced."""
    out = []
    for rel in relpaths:
        try:
            st = (root / rel).stat()
        except OSError:
            return []
        out.append((rel, st.st_size, st.st_mtime_ns, st.st_ino))
    return out


class _Meter:
    """Bytes done for one bundle, from many threads; rate over the last few seconds."""

    def __init__(self, total: int, publish: Callable[[int, float, float | None], None]) -> None:
        self.total = total
        self.done = 0
        self._publish = publish
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int]] = [(time.monotonic(), 0)]
        self._last_publish = 0.0

    def __call__(self, delta: int) -> None:
        with self._lock:
            self.done = max(0, min(self.total, self.done + delta))
            now = time.monotonic()
            self._samples.append((now, self.done))
            while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
                self._samples.pop(0)
            if now - self._last_publish < 0.2 and self.done < self.total:
                return
            self._last_publish = now
            t0, b0 = self._samples[0]
            rate = (self.done - b0) / (now - t0) if now > t0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else None
            done = self.done
        self._publish(done, max(rate, 0.0), eta)


@dataclass
class UploadQueue:
    """Runs the ledger's bundles through upload and verification. `client` is a boto3 S3 client."""

    ledger: Ledger
    client: Any
    dest: StoreConfig  # bucket and prefix; the endpoint is the client's
    workers: int = 4
    part_size: int = DEFAULT_PART_SIZE
    bandwidth_bps: float | None = None
    delete_after: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    translate: Callable[[Exception], UploaderError] | None = None  # botocore error -> our tree
    subscribers: list[Subscriber] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cancel = threading.Event()
        self._hashed: dict[int, list[tuple[str, int, int, int]]] = {}
        self.uploader = FileUploader(
            self.client,
            self.dest.bucket,
            self.ledger,
            workers=self.workers,
            part_size=self.part_size,
            throttle=Throttle(self.bandwidth_bps),
            cancel=self.cancel,
        )

    # --- queueing --------------------------------------------------------------------------------
    def enqueue(self, path: Path) -> tuple[BundleRow, bool]:
        """Check a sealed bundle and queue it (once per destination). Raises BundleModified if it changed."""
        row, added = enqueue_bundle(self.ledger, path, self.dest)
        # Hashed just now: the first attempt in this process need not read every byte again unless a file's
        # size, mtime or inode moves in between (later attempts, and other processes, hash again).
        self._hashed[row.id] = _fingerprint(Path(row.path), [f.relpath for f in self.ledger.files(row.id)])
        self._tell(row, row.state)
        return row, added

    # --- pause / resume / retry (any process) ------------------------------------------------------
    def pause(self) -> None:
        self.ledger.set_setting(PAUSED, "1")

    def resume(self) -> None:
        self.ledger.set_setting(PAUSED, "0")

    @property
    def paused(self) -> bool:
        return self.ledger.get_setting(PAUSED, "0") == "1"

    def retry_failed(self, bundle_ids: Iterable[int] | None = None) -> list[int]:
        ids = set(bundle_ids) if bundle_ids is not None else None
        again = [b.id for b in self.ledger.bundles((States.FAILED,)) if ids is None or b.id in ids]
        for bundle_id in again:
            self.ledger.set_state(bundle_id, States.QUEUED, attempts=0)
        return again

    # --- running ---------------------------------------------------------------------------------
    def run(self, *, until_idle: bool = True, stop: threading.Event | None = None) -> None:
        """Upload due bundles one after another (each with parallel parts). With `until_idle`, return when
        nothing is left but failed, done or paused bundles; otherwise wait for more until `stop` is set.
        One process sends the queue at a time: raises QueueBusy when another live one does."""
        stop = stop or threading.Event()
        pid = os.getpid()
        holder = self.ledger.claim_runner(pid)
        if holder is not None:
            raise QueueBusy(holder)
        watching = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(watching, pid), name="queue-watch", daemon=True)
        watcher.start()
        try:
            while not stop.is_set():
                if self.paused:
                    if until_idle and self.ledger.release_runner(pid):
                        return
                    stop.wait(0.5)
                    continue
                self.cancel.clear()
                row = self.ledger.next_due()
                if row is None:
                    waiting = [b.not_before for b in self.ledger.bundles((States.QUEUED,))]
                    if not waiting and until_idle and self.ledger.release_runner(pid):
                        return
                    stop.wait(min([max(0.05, t - time.time()) for t in waiting] + [1.0]))
                    continue
                self._attempt(row)
        finally:
            watching.set()
            watcher.join(2)
            self.ledger.release_runner(pid, unless_pending=False)

    def _watch(self, done: threading.Event, pid: int) -> None:
        """Heartbeat of the runner claim, and pause requests from any process."""
        while not done.wait(0.5):
            self.ledger.beat_runner(pid)
            if self.paused:
                self.cancel.set()

    def _tell(
        self,
        row: BundleRow,
        state: str,
        done: int | None = None,
        rate: float = 0.0,
        eta: float | None = None,
        reason: str | None = None,
    ) -> None:
        event = ProgressEvent(
            row.id,
            row.session_id,
            state,
            row.bytes_done if done is None else done,
            row.bytes_total,
            rate,
            eta,
            reason,
            row.attempts,
        )
        for subscriber in list(self.subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("a progress subscriber failed")

    def _attempt(self, row: BundleRow) -> None:
        attempt = row.attempts + 1
        log.info("uploading %s to %s: attempt %d/%d", row.session_id, row.dest, attempt, self.retry.attempts)
        self.ledger.set_state(row.id, States.UPLOADING, attempts=attempt)
        row = self.ledger.bundle(row.id)
        try:
            self._upload(row)
            self.ledger.set_state(row.id, States.VERIFYING)
            self._tell(row, States.VERIFYING, row.bytes_total)
            self._verify(row)
        except Cancelled:
            log.info("%s: paused; it resumes from what the store holds", row.session_id)
            self.ledger.set_state(row.id, States.QUEUED)
            self._tell(self.ledger.bundle(row.id), States.QUEUED)
            return
        except BundleModified as e:
            self._fail(row, str(e))
            return
        except Exception as e:
            err = self._ours(e)
            if not err.retryable:
                self._fail(row, str(err))
                return
            delay = self.retry.next_wait(row.session_id, attempt, err, log=log)  # logs "attempt i/n"
            if delay is None:
                self._fail(row, f"gave up after {attempt} attempts: {err}")
                return
            self.ledger.set_state(row.id, States.QUEUED, reason=str(err), not_before=time.time() + delay)
            self._tell(self.ledger.bundle(row.id), States.QUEUED, reason=str(err))
            return
        self.ledger.set_state(row.id, States.DONE)
        log.info("%s: uploaded and verified at %s", row.session_id, row.dest)
        self._tell(self.ledger.bundle(row.id), States.DONE, row.bytes_total)
        if self.delete_after:
            shutil.rmtree(row.path, ignore_errors=True)
            log.info("%s: local copy %s deleted after verified upload", row.session_id, row.path)

    def _ours(self, e: Exception) -> UploaderError:
        if isinstance(e, UploaderError):
            return e
        if self.translate is not None and isinstance(e, (ClientError, BotoCoreError)):
            return self.translate(e)
        return UploaderError(f"unexpected {type(e).__name__}: {e}")

    def _fail(self, row: BundleRow, reason: str) -> None:
        log.error("%s: upload failed: %s", row.session_id, reason)
        self.ledger.set_state(row.id, States.FAILED, reason=reason)
        self._tell(self.ledger.bundle(row.id), States.FAILED, reason=reason)

    def _upload(self, row: BundleRow) -> None:
        files = self.ledger.files(row.id)
        bundle = SealedBundle(
            Path(row.path),
            row.session_id,
            row.manifest_sha256,
            [(f.relpath, f.size, f.sha256) for f in files if f.relpath != MANIFEST],
        )
        fresh = self._hashed.pop(row.id, None) == _fingerprint(bundle.path, [f.relpath for f in files])
        bundle.check(manifest_sha256=row.manifest_sha256, check_hashes=not fresh)  # never upload a changed bundle

        saved = [0.0]

        def publish(done: int, rate: float, eta: float | None) -> None:
            self._tell(row, States.UPLOADING, done, rate, eta)
            if time.monotonic() - saved[0] >= 1.0:  # `trajrec queue` in another shell sees the progress too
                saved[0] = time.monotonic()
                self.ledger.set_bytes_done(row.id, done)

        opener = getattr(self.client, "open_bundle", None)  # a grant service: the bundle's upload is opened first
        if opener is not None:
            opener(row.session_id, [(f.relpath, f.size, f.sha256) for f in files])
        meter = _Meter(row.bytes_total, publish)
        meter(sum(f.size for f in files if f.done))
        ordered = [f for f in files if f.relpath != MANIFEST] + [f for f in files if f.relpath == MANIFEST]
        for f in ordered:  # manifest.json last: a listed manifest means a complete bundle
            if self.cancel.is_set():
                raise Cancelled()
            self.uploader.upload(f, member_path(Path(row.path), f.relpath), meter)
            self.ledger.set_bytes_done(row.id, meter.done)

    def _verify(self, row: BundleRow) -> None:
        for f in self.ledger.files(row.id):
            head = self.uploader.head(f.key)
            if not self.uploader.matches(head, f, member_path(Path(row.path), f.relpath)):
                self.ledger.reset_files(row.id)
                found = "missing" if head is None else f"{head.get('ContentLength')} bytes, other sha256"
                raise PartCorrupted(f.key, 0, f"verification found {found}; uploading the bundle again")


def describe(rows: Iterable[BundleRow]) -> list[dict[str, Any]]:
    """Rows as plain dicts (the CLI's --json)."""
    return [
        {
            "id": r.id,
            "session_id": r.session_id,
            "path": r.path,
            "dest": r.dest,
            "state": r.state,
            "reason": r.reason,
            "attempts": r.attempts,
            "bytes_total": r.bytes_total,
            "bytes_done": r.bytes_done,
            "enqueued_at": r.enqueued_at,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]
