"""Bundles from the store to a lab's disk: list, fetch, verify.

On the store (DESIGN.md, "Upload protocol") a bundle is `<prefix>/<session_id>/<relpath>` with `manifest.json`
uploaded last, so a listed manifest means a complete bundle. Locally it becomes `<dest>/<session_id>/<relpath>`:
each file arrives as `<relpath>.part`, is checked against the manifest's sha256 (never against the objects'
`sha256` metadata, which some stores lose) and renamed into place; `manifest.json` is written last (a temporary
file renamed over), so a local directory with a manifest is a complete, verified bundle.

Files already present with the manifest's size and sha256 are not fetched again. A `.part` left behind by an
interrupted run, or by a connection that broke, is resumed with a ranged GET from its current size. A file whose
bytes do not hash to the manifest's sha256 is fetched once more from zero, then the bundle fails and nothing of
that file is kept. Errors the store may get over (unreachable, busy) are retried with jittered exponential
back-off, logged as "attempt i/n"; the others fail the bundle with their reason.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from recorder.errors import ManifestError
from trajrec import format as fmt
from trajrec.hashing import CHUNK as HASH_CHUNK
from trajrec.hashing import iter_chunks, sha256_stream
from trajrec.manifest import load_manifest
from trajrec.source import unsafe_name
from uploader.errors import UploaderError
from uploader.retry import RetryPolicy
from uploader.store import StoreConfig, translate

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

MANIFEST = fmt.MANIFEST
PART_SUFFIX = ".part"
DEFAULT_JOBS = 4
_SHA256_HEX = frozenset("0123456789abcdef")
T = TypeVar("T")
# Bytes done since the last call (negative when a file restarts from zero); called from the transfer threads.
Progress = Callable[[int], None]


# --- errors -----------------------------------------------------------------------------------------------
class DownloadError(UploaderError):
    """One bundle (or one of its files) could not be downloaded and verified; nothing unverified is kept."""

    def __init__(self, session_id: str, path: str, reason: str) -> None:
        self.session_id = session_id
        self.path = path
        self.reason = reason
        super().__init__(f"{session_id}/{path}: {reason}" if path else f"{session_id}: {reason}")


class _Stopped(Exception):
    """The cancel event was set: stop between two chunks (the .part is kept for the next run)."""


# --- retries ----------------------------------------------------------------------------------------------
DEFAULT_RETRY = RetryPolicy(attempts=5, base_s=0.25, cap_s=8.0)


def _error_config(client: S3Client, bucket: str) -> StoreConfig:
    """A StoreConfig good enough to word errors (the endpoint the client talks to)."""
    return StoreConfig(bucket=bucket, endpoint_url=client.meta.endpoint_url, region=client.meta.region_name)


def store_call(client: S3Client, bucket: str, call: Callable[[], T]) -> T:
    """Run one S3 call; botocore failures become the uploader's errors (with `retryable`)."""
    try:
        return call()
    except (ClientError, BotoCoreError) as e:
        raise translate(e, _error_config(client, bucket)) from e


def with_retries(
    what: str, attempt: Callable[[], T], *, retry: RetryPolicy = DEFAULT_RETRY, cancel: threading.Event | None = None
) -> T:
    """Call `attempt` until it returns; retryable UploaderErrors are retried `retry.attempts` times in all."""
    for i in range(1, retry.attempts + 1):
        try:
            return attempt()
        except UploaderError as e:
            if not e.retryable or i == retry.attempts:
                raise
            wait_s = retry.delay(i)
            log.warning("%s: attempt %d/%d failed (%s); again in %.1f s", what, i, retry.attempts, e, wait_s)
            if cancel is not None and cancel.wait(wait_s):
                raise _Stopped from e
            if cancel is None:
                time.sleep(wait_s)
    raise AssertionError("unreachable")  # pragma: no cover


def get_from(client: S3Client, bucket: str, key: str, offset: int = 0, end: int | None = None) -> tuple[Any, int]:
    """GET `key` from byte `offset` (to `end` inclusive, or to its end). Returns the streaming body, to be closed,
    and where its first byte is in the object: `offset` when the store honoured the range (206, or rclone's 200
    with a Content-Range header), 0 when it sent the whole object. Raises botocore errors."""
    ranged = offset > 0 or end is not None
    if ranged:
        reply = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{'' if end is None else end}")
    else:
        reply = client.get_object(Bucket=bucket, Key=key)
    starts_at = offset if ranged and (reply.get("ContentRange") or "").startswith(f"bytes {offset}-") else 0
    return reply["Body"], starts_at


# --- listing ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteBundle:
    """A bundle on the store: the key of its manifest and what the listing said about it."""

    session_id: str
    manifest_key: str
    last_modified: datetime  # the manifest object's: when the upload completed
    manifest_size: int
    bytes: int = 0  # every object under the bundle's key prefix, manifest included (a progress total)

    @property
    def key_prefix(self) -> str:
        """`<prefix>/<session_id>/`: the keys of the bundle's files start with it."""
        return self.manifest_key[: -len(MANIFEST)]


def _bad_session_id(session_id: str) -> str | None:
    if session_id in ("", ".", ".."):
        return "not a usable directory name"
    return unsafe_name(session_id)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def list_bundles(
    client: S3Client,
    bucket: str,
    prefix: str,
    *,
    since: datetime | None = None,
    match: str | None = None,
    include_prefix: bool = False,
) -> list[RemoteBundle]:
    """The bundles under `prefix`, sorted by session id: each key `<prefix>/<session_id>/manifest.json` exactly
    one level below the prefix (deeper manifests are not bundles of this prefix).

    `since`: only bundles whose manifest object was stored at or after this time (its LastModified, i.e. when the
    upload completed, not when the session was recorded; a naive datetime is UTC). `match`: an fnmatch glob on the
    session id. `include_prefix`: when the prefix itself holds `manifest.json` it is a bundle and the only one
    returned (its session id is the prefix's last segment). One paginated listing; raises UploaderError."""
    base = prefix.strip("/")
    lead = f"{base}/" if base else ""
    manifests: dict[str, Any] = {}
    sizes: dict[str, int] = defaultdict(int)
    own: Any = None
    own_bytes = 0
    paginator = client.get_paginator("list_objects_v2")

    def scan() -> None:
        nonlocal own, own_bytes
        for page in paginator.paginate(Bucket=bucket, Prefix=lead):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(lead) :]
                own_bytes += obj["Size"]
                if rest == MANIFEST:
                    own = obj
                session, _, relpath = rest.partition("/")
                if relpath:
                    sizes[session] += obj["Size"]
                    if relpath == MANIFEST:
                        manifests[session] = obj

    store_call(client, bucket, scan)
    if include_prefix and own is not None and base:
        session_id = base.rsplit("/", 1)[-1]
        found = [RemoteBundle(session_id, own["Key"], own["LastModified"], own["Size"], own_bytes)]
    else:
        found = []
        for session_id, obj in sorted(manifests.items()):
            reason = _bad_session_id(session_id)
            if reason is not None:
                log.warning("s3://%s/%s: skipped, the session id %r is %s", bucket, obj["Key"], session_id, reason)
                continue
            found.append(RemoteBundle(session_id, obj["Key"], obj["LastModified"], obj["Size"], sizes[session_id]))
    if since is not None:
        found = [b for b in found if _utc(b.last_modified) >= _utc(since)]
    if match is not None:
        found = [b for b in found if fnmatch.fnmatchcase(b.session_id, match)]
    return found


# --- download ---------------------------------------------------------------------------------------------
@dataclass
class DownloadResult:
    """What became of one bundle. `ok` means a complete, verified bundle is at `path`."""

    session_id: str
    path: Path
    status: str = "pending"  # downloaded | present (nothing fetched) | failed | cancelled
    files_downloaded: int = 0
    files_skipped: int = 0  # already on disk with the manifest's size and sha256
    bytes_downloaded: int = 0  # fetched from the store by this run, manifest included
    bytes: int = 0  # the bundle: its files and manifest
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("downloaded", "present")

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "path": str(self.path),
            "status": self.status,
            "files_downloaded": self.files_downloaded,
            "files_skipped": self.files_skipped,
            "bytes_downloaded": self.bytes_downloaded,
            "bytes": self.bytes,
            "error": self.error,
        }


@dataclass(frozen=True)
class _Entry:
    path: str
    size: int
    sha256: str


@dataclass
class _Bundle:
    """One bundle in flight: its manifest, the files still to come, and the result being filled in."""

    remote: RemoteBundle
    result: DownloadResult
    manifest: bytes = b""
    entries: list[_Entry] = field(default_factory=list)
    present: bool = False  # the same manifest.json is already there
    waiting: int = 0

    @property
    def directory(self) -> Path:
        return self.result.path


def _entries(session_id: str, manifest: dict[str, Any]) -> list[_Entry]:
    """The manifest's file list, refused whole when an entry is malformed or unsafe to write."""
    files = manifest.get("files")
    if not isinstance(files, list):
        raise DownloadError(session_id, MANIFEST, "has no `files` list: not a bundle manifest")
    entries: list[_Entry] = []
    for n, item in enumerate(files):
        path = item.get("path") if isinstance(item, dict) else None
        size = item.get("bytes") if isinstance(item, dict) else None
        digest = item.get("sha256") if isinstance(item, dict) else None
        if not (
            isinstance(path, str)
            and isinstance(size, int)
            and size >= 0
            and isinstance(digest, str)
            and len(digest) == 64
            and set(digest) <= _SHA256_HEX
        ):
            raise DownloadError(session_id, MANIFEST, f"files[{n}] is not {{path, bytes, sha256}}")
        reason = unsafe_name(path)
        parts = PurePosixPath(path).parts
        if reason is None and (path.endswith("/") or "//" in path or not parts or "." in path.split("/")):
            reason = "not a plain relative file path"
        if reason is None and path == MANIFEST:
            reason = "the manifest lists itself"
        if reason is not None:
            raise DownloadError(session_id, MANIFEST, f"files[{n}] {path!r} refused: {reason}")
        entries.append(_Entry(path, size, digest))
    paths = {e.path for e in entries}
    folders = {str(p) for e in entries for p in PurePosixPath(e.path).parents if str(p) != "."}
    clash = (
        len(paths) != len(entries)
        or paths & folders
        or any(p + PART_SUFFIX in paths for p in paths)
        or MANIFEST in folders
    )
    if clash:
        raise DownloadError(session_id, MANIFEST, "lists a path twice, or a file where another one needs a folder")
    return entries


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return sha256_stream(f)[0]


class _Fetcher:
    """The work items of a download: fetch a manifest, fetch one file, commit a bundle. Thread-safe."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        progress: Progress | None,
        cancel: threading.Event | None,
        retry: RetryPolicy,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.retry = retry

    def _advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)

    def _stop_if_cancelled(self) -> None:
        if self.cancel.is_set():
            raise _Stopped

    def manifest(self, bundle: _Bundle) -> None:
        """Fetch, check and plan: fills bundle.manifest, .entries and .present."""
        remote = bundle.remote
        sid = remote.session_id
        reason = _bad_session_id(sid)
        if reason is not None:
            raise DownloadError(sid, "", f"session id refused: {reason}")
        limit = fmt.MAX_MANIFEST_BYTES
        if remote.manifest_size > limit:
            raise DownloadError(sid, MANIFEST, f"{remote.manifest_size} bytes, over the {limit} byte limit; not read")

        def attempt() -> bytes:
            self._stop_if_cancelled()
            body, _ = store_call(
                self.client, self.bucket, lambda: get_from(self.client, self.bucket, remote.manifest_key)
            )
            with closing(body):
                data: bytes = store_call(self.client, self.bucket, lambda: body.read(limit + 1))
            return data

        raw = with_retries(f"{sid}/{MANIFEST}", attempt, retry=self.retry, cancel=self.cancel)
        if len(raw) > limit:
            raise DownloadError(sid, MANIFEST, f"over the {limit} byte limit; not read")
        try:
            manifest = load_manifest(raw)
        except ManifestError as e:
            raise DownloadError(sid, MANIFEST, str(e).removeprefix("manifest.json ")) from e
        bundle.entries = _entries(sid, manifest)
        bundle.manifest = raw
        bundle.result.bytes = len(raw) + sum(e.size for e in bundle.entries)
        bundle.result.bytes_downloaded += len(raw)
        self._advance(len(raw))
        local = bundle.directory / MANIFEST
        if local.exists():
            if not local.is_file() or local.read_bytes() != raw:
                raise DownloadError(
                    sid,
                    "",
                    f"{bundle.directory} already holds a different bundle (its manifest.json is not the store's): "
                    "move it away or download to another folder",
                )
            bundle.present = True

    def file(self, bundle: _Bundle, entry: _Entry) -> tuple[bool, int]:
        """Make `entry` present and verified. Returns (skipped, bytes fetched)."""
        self._stop_if_cancelled()
        sid = bundle.remote.session_id
        final = bundle.directory / entry.path
        if final.is_file() and final.stat().st_size == entry.size and sha256_file(final) == entry.sha256:
            self._advance(entry.size)
            return True, 0
        part = final.with_name(final.name + PART_SUFFIX)
        final.parent.mkdir(parents=True, exist_ok=True)
        key = bundle.remote.key_prefix + entry.path
        job = _FileJob(self, sid, key, part, entry)
        for restart in range(2):
            digest = with_retries(f"{sid}/{entry.path}", job.attempt, retry=self.retry, cancel=self.cancel)
            if digest == entry.sha256:
                os.replace(part, final)
                return False, job.fetched
            part.unlink(missing_ok=True)
            self._advance(-job.counted)
            job.counted = 0
            log.warning(
                "%s/%s: sha256 %s does not match the manifest's %s%s",
                sid,
                entry.path,
                digest,
                entry.sha256,
                "; fetching it again from zero" if restart == 0 else "",
            )
        raise DownloadError(
            sid,
            entry.path,
            f"the store's bytes do not match the manifest's sha256 {entry.sha256[:16]}... (fetched twice): the object "
            f"s3://{self.bucket}/{key} is corrupt or was changed after the upload; nothing of it was kept",
        )

    def commit(self, bundle: _Bundle) -> None:
        """Write manifest.json last, atomically: from now on the directory is a complete bundle."""
        if bundle.present:
            return
        directory = bundle.directory
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(bundle.manifest)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, directory / MANIFEST)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class _FileJob:
    """One file's transfer into its .part: each attempt resumes from what the .part holds."""

    def __init__(self, fetcher: _Fetcher, session_id: str, key: str, part: Path, entry: _Entry) -> None:
        self.f = fetcher
        self.session_id = session_id
        self.key = key
        self.part = part
        self.entry = entry
        self.fetched = 0  # bytes received from the store, over all attempts
        self.counted = 0  # bytes of this file reported to the progress callback

    def _count(self, n: int) -> None:
        self.counted += n
        self.f._advance(n)

    def attempt(self) -> str:
        """Complete the .part (resuming it) and return the sha256 of its content."""
        f, size = self.f, self.entry.size
        offset = self.part.stat().st_size if self.part.exists() else 0
        if offset > size:
            self.part.unlink()
            offset = 0
        self._count(offset - self.counted)  # what the .part already holds is done
        h = hashlib.sha256()
        if offset == size:
            with open(self.part, "ab"):  # a zero-byte file, or a complete .part: nothing to fetch
                pass
            return sha256_file(self.part)
        try:
            body, starts_at = store_call(f.client, f.bucket, lambda: get_from(f.client, f.bucket, self.key, offset))
        except UploaderError as e:
            if offset and getattr(e, "code", None) == "InvalidRange":  # the object is shorter than the .part
                self.part.unlink()
                return self.attempt()  # from zero; the hash check then tells what is wrong
            if getattr(e, "code", None) in ("NoSuchKey", "404"):
                raise DownloadError(
                    self.session_id,
                    self.entry.path,
                    f"listed in the manifest, but s3://{f.bucket}/{self.key} does not exist (deleted since?)",
                ) from e
            raise
        if starts_at != offset:  # the store ignored the range and sends the whole object: rewrite from 0
            self._count(-self.counted)
            offset = 0
        elif offset:
            with open(self.part, "rb") as held:
                for chunk in iter_chunks(held):
                    h.update(chunk)
        written = offset
        with closing(body), open(self.part, "ab" if offset else "wb") as out:
            while written <= size:  # one byte more than expected is enough to know the object is too long
                f._stop_if_cancelled()
                chunk = store_call(f.client, f.bucket, lambda: body.read(HASH_CHUNK))
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                written += len(chunk)
                self.fetched += len(chunk)
                self._count(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        return h.hexdigest()


def download_many(
    client: S3Client,
    bucket: str,
    remotes: Iterable[RemoteBundle],
    dest_root: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    on_result: Callable[[DownloadResult], None] | None = None,
) -> list[DownloadResult]:
    """Download bundles into `dest_root/<session_id>/` with `jobs` transfers at once, shared by all bundles.

    Results come back in the order of `remotes`; `on_result` hears of each as it ends (on this thread). A failed
    bundle never gets a manifest.json; its verified files stay, so the next run fetches only the rest. When
    `cancel` is set, transfers stop between chunks (their .part files are resumed next time) and unfinished
    bundles come back `cancelled`."""
    dest_root = Path(dest_root)
    cancel = cancel or threading.Event()
    fetcher = _Fetcher(client, bucket, progress, cancel, retry)
    bundles = [_Bundle(r, DownloadResult(r.session_id, dest_root / r.session_id)) for r in remotes]

    def end(b: _Bundle, status: str, error: str | None = None) -> None:
        if b.result.status != "pending":
            return
        b.result.status, b.result.error = status, error
        if on_result is not None:
            on_result(b.result)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="download") as pool:
        futures: dict[Future[Any], tuple[_Bundle, _Entry | None]] = {
            pool.submit(fetcher.manifest, b): (b, None) for b in bundles
        }
        try:
            while futures and not cancel.is_set():
                done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    b, entry = futures.pop(fut)
                    try:
                        outcome = fut.result()
                    except _Stopped:
                        continue
                    except (UploaderError, OSError) as e:
                        _fail(b, entry, e, end)
                        if entry is not None:
                            b.waiting -= 1
                        continue
                    if entry is None:  # the manifest is in: its files go to the pool
                        b.waiting = len(b.entries)
                        for item in b.entries:
                            futures[pool.submit(fetcher.file, b, item)] = (b, item)
                    else:
                        b.waiting -= 1
                        skipped, fetched = outcome
                        b.result.files_skipped += skipped
                        b.result.files_downloaded += not skipped
                        b.result.bytes_downloaded += fetched
                    if b.waiting == 0 and b.result.status == "pending":
                        try:
                            fetcher.commit(b)
                        except OSError as e:
                            _fail(b, None, e, end)
                            continue
                        fresh = not (b.present and b.result.files_downloaded == 0)
                        end(b, "downloaded" if fresh else "present")
        finally:
            for fut in futures:
                fut.cancel()
            if futures:
                cancel.set()  # running transfers stop between chunks; the pool waits for them on exit
    for b in bundles:
        end(b, "cancelled", "interrupted before it completed: run again to resume")
    return [b.result for b in bundles]


def _fail(b: _Bundle, entry: _Entry | None, e: BaseException, end: Callable[[_Bundle, str, str | None], None]) -> None:
    if isinstance(e, DownloadError):
        message = str(e)
    elif isinstance(e, OSError):
        where = f"{b.directory / entry.path}" if entry else str(b.directory)
        message = f"{b.remote.session_id}: cannot write {where} ({e.strerror or e})"
    else:
        message = f"{b.remote.session_id}/{entry.path if entry else MANIFEST}: {e}"
    log.warning("download failed: %s", message)
    end(b, "failed", message)


def download_bundle(
    client: S3Client,
    bucket: str,
    remote: RemoteBundle,
    dest_root: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    jobs: int = DEFAULT_JOBS,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> DownloadResult:
    """Download one bundle into `dest_root/<session_id>/` (see download_many)."""
    return download_many(client, bucket, [remote], dest_root, jobs=jobs, progress=progress, cancel=cancel, retry=retry)[
        0
    ]
