"""The work items of a download: fetch and check a bundle's manifest, fetch one file into its `.part` (resuming
it with a ranged GET) and verify it against the manifest's sha256, and commit the bundle by writing manifest.json
last. `uploader.download` schedules them; each is thread-safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from trajrec import format as fmt
from trajrec.errors import Cancelled, ManifestError, UnsafePathError
from trajrec.hashing import CHUNK as HASH_CHUNK
from trajrec.hashing import sha256_stream
from trajrec.manifest import load_manifest
from trajrec.paths import member_path, open_member, open_regular
from trajrec.retry import RetryPolicy, retry
from trajrec.source import unsafe_name
from trajrec.source.s3 import get_from
from uploader.errors import DownloadError, RetriesExceeded, UploaderError
from uploader.listing import RemoteBundle, bad_session_id
from uploader.store import StoreCall

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
T = TypeVar("T")

MANIFEST = fmt.MANIFEST
PART_SUFFIX = ".part"
_SHA256_HEX = frozenset("0123456789abcdef")
# Bytes done since the last call (negative when a file restarts from zero); called from the transfer threads.
Progress = Callable[[int], None]


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
class Entry:
    """One file the manifest lists."""

    path: str
    size: int
    sha256: str


@dataclass
class InFlight:
    """One bundle in flight: its manifest, the files still to come, and the result being filled in."""

    remote: RemoteBundle
    result: DownloadResult
    manifest: bytes = b""
    entries: list[Entry] = field(default_factory=list)
    present: bool = False  # the same manifest.json is already there
    waiting: int = 0

    @property
    def directory(self) -> Path:
        return self.result.path


def manifest_entries(session_id: str, manifest: dict[str, Any]) -> list[Entry]:
    """The manifest's file list, refused whole when an entry is malformed or unsafe to write."""
    files = manifest.get("files")
    if not isinstance(files, list):
        raise DownloadError(session_id, MANIFEST, "has no `files` list: not a bundle manifest")
    entries: list[Entry] = []
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
        entries.append(Entry(path, size, digest))
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


class Fetcher:
    """The work items of a download: fetch a manifest, fetch one file, commit a bundle. Thread-safe.

    `call` runs each request to the store (turning botocore failures into the uploader's errors); errors that say
    they are `retryable` are retried under `retry`, and raised as RetriesExceeded when they last."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        progress: Progress | None,
        cancel: threading.Event | None,
        retry: RetryPolicy,
        call: StoreCall | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.retry = retry
        self.call = call or StoreCall.for_client(client, bucket)

    def _advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)

    def _stop_if_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the download was cancelled: run it again to resume")

    def retried(self, what: str, attempt: Callable[[], T]) -> T:
        """`attempt` under the retry policy (retryable errors only); stops when the cancel event is set."""
        return retry(attempt, what=what, policy=self.retry, cancel=self.cancel, exceeded=RetriesExceeded, log=log)

    def manifest(self, bundle: InFlight) -> None:
        """Fetch, check and plan: fills bundle.manifest, .entries and .present."""
        remote = bundle.remote
        sid = remote.session_id
        reason = bad_session_id(sid)
        if reason is not None:
            raise DownloadError(sid, "", f"session id refused: {reason}")
        limit = fmt.MAX_MANIFEST_BYTES
        if remote.manifest_size > limit:
            raise DownloadError(sid, MANIFEST, f"{remote.manifest_size} bytes, over the {limit} byte limit; not read")

        def attempt() -> bytes:
            self._stop_if_cancelled()
            body, _ = self.call(lambda: get_from(self.client, self.bucket, remote.manifest_key))
            with closing(body):
                data: bytes = self.call(lambda: body.read(limit + 1))
            return data

        raw = self.retried(f"{sid}/{MANIFEST}", attempt)
        if len(raw) > limit:
            raise DownloadError(sid, MANIFEST, f"over the {limit} byte limit; not read")
        try:
            manifest = load_manifest(raw)
        except ManifestError as e:
            raise DownloadError(sid, MANIFEST, str(e).removeprefix("manifest.json ")) from e
        bundle.entries = manifest_entries(sid, manifest)
        _check_room(bundle)
        bundle.manifest = raw
        bundle.result.bytes = len(raw) + sum(e.size for e in bundle.entries)
        bundle.result.bytes_downloaded += len(raw)
        self._advance(len(raw))
        local = bundle.directory / MANIFEST
        if local.exists() or local.is_symlink():
            try:
                with open_member(bundle.directory, MANIFEST) as held:
                    same = held.read(len(raw) + 1) == raw
            except (OSError, UnsafePathError):
                same = False
            if not same:
                raise DownloadError(
                    sid,
                    "",
                    f"{bundle.directory} already holds a different bundle (its manifest.json is not the store's): "
                    "move it away or download to another folder",
                )
            bundle.present = True

    def file(self, bundle: InFlight, entry: Entry) -> tuple[bool, int]:
        """Make `entry` present and verified. Returns (skipped, bytes fetched)."""
        self._stop_if_cancelled()
        sid = bundle.remote.session_id
        try:  # the folder, and every folder on the way to the file, must not be links (trajrec.paths)
            member_path(bundle.directory.parent, bundle.directory.name)
            final = member_path(bundle.directory, entry.path)
        except UnsafePathError as e:
            raise DownloadError(sid, entry.path, f"{e.reason} in {bundle.directory}: move it away") from e
        if _holds(final, entry):
            self._advance(entry.size)
            return True, 0
        part = final.with_name(final.name + PART_SUFFIX)
        final.parent.mkdir(parents=True, exist_ok=True)
        if part.is_symlink() or (part.exists() and not part.is_file()):
            part.unlink()  # our own temporary name: never written through
        key = bundle.remote.key_prefix + entry.path
        job = FileJob(self, sid, key, part, entry)
        for restart in range(2):
            digest = self.retried(f"{sid}/{entry.path}", job.attempt)
            if digest == entry.sha256:
                got = os.lstat(part).st_size
                if got != entry.size:  # the right bytes, the wrong size: the manifest contradicts itself
                    part.unlink(missing_ok=True)
                    raise DownloadError(sid, entry.path, f"is {got} bytes, the manifest says {entry.size}")
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

    def commit(self, bundle: InFlight) -> None:
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


def _check_room(bundle: InFlight) -> None:
    """Refuse a bundle whose files would not fit on the destination's disk before fetching any of it (the sizes
    are the manifest's, which the transfer then holds each file to)."""
    present = 0
    for e in bundle.entries:
        with contextlib.suppress(OSError):
            present += os.lstat(bundle.directory / e.path).st_size
    need = sum(e.size for e in bundle.entries) - present
    folder = bundle.directory
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DownloadError(
            bundle.remote.session_id,
            "",
            f"needs {need} bytes but {folder} has {free} free: free some space or download elsewhere",
        )


def _holds(final: Path, entry: Entry) -> bool:
    """Whether `final` is already the entry's file: a regular file (not a link) of its size and hash."""
    try:
        with open_regular(final) as f:
            return os.fstat(f.fileno()).st_size == entry.size and sha256_stream(f)[0] == entry.sha256
    except (FileNotFoundError, UnsafePathError):
        return False


class FileJob:
    """One file's transfer into its .part: each attempt resumes from what the .part holds."""

    def __init__(self, fetcher: Fetcher, session_id: str, key: str, part: Path, entry: Entry) -> None:
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
        offset = os.lstat(self.part).st_size if self.part.is_file() and not self.part.is_symlink() else 0
        if offset > size:
            self.part.unlink()
            offset = 0
        self._count(offset - self.counted)  # what the .part already holds is done
        h = hashlib.sha256()
        if offset == size:
            with open_regular(self.part, "ab"), open_regular(self.part) as held:  # nothing to fetch
                return sha256_stream(held)[0]
        try:
            body, starts_at = f.call(lambda: get_from(f.client, f.bucket, self.key, offset))
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
            with open_regular(self.part) as held:
                sha256_stream(held, h=h)  # the bytes held so far, then the rest as it arrives
        written = offset
        with closing(body), open_regular(self.part, "ab" if offset else "wb") as out:
            while written <= size:  # one byte more than expected is enough to know the object is too long
                f._stop_if_cancelled()
                chunk = f.call(lambda: body.read(HASH_CHUNK))
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
