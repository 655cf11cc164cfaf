"""Resumable upload of one file to an S3-compatible store: our own state machine over the S3 API.

Small files go up as one PUT; larger ones as a multipart upload whose state lives in the ledger
(uploader.ledger): the upload id and part size when it starts, each part's number, size, ETag and MD5
(its checksum) once the store has acknowledged it and before it counts as sent. After a crash or a restart:

- the ledger's upload id is reconciled with ListParts: parts the store holds with the ETag we recorded
  are kept; parts the store holds that we never recorded (we died between its reply and our commit) are
  adopted when their ETag is the MD5 of our bytes; everything else is sent (again);
- an upload id the store no longer knows (it aborted or lost it: rclone forgets them on restart) starts
  that file over, cleanly;
- an object already complete on the store with our size and SHA-256 is not sent again.

Every part carries Content-MD5, so a store that checks it rejects a corrupted part; when the store's ETag
is an MD5 we also compare it with ours, so a corrupted part is caught even by a store that does not
check. Objects carry their file's SHA-256 in the `sha256` user metadata; completion asks for
`If-None-Match: *`, so nothing already there is overwritten (stores that do not support it are detected
once and then asked without it: the HEAD before each file keeps the "never twice" rule there too).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from trajrec.paths import open_regular
from uploader.errors import Cancelled, ObjectConflict, PartCorrupted, UploaderError, UploadLost
from uploader.ledger import FileRow, Ledger, PartRow
from uploader.parts import (
    DEFAULT_PART_SIZE,
    Digest,
    PartBody,
    Progress,
    Throttle,
    etag_of,
    expected_etags,
    is_md5,
    part_size_for,
)

log = logging.getLogger(__name__)
META_SHA256 = "sha256"  # user metadata key (x-amz-meta-sha256): the file's hex SHA-256


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _status(e: ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@dataclass
class Capabilities:
    """What the store turned out to support (learned once per uploader)."""

    if_none_match: bool = True


class FileUploader:
    """Uploads files of one bundle to one bucket, resumably. Safe to share between bundles, not threads."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        ledger: Ledger,
        *,
        workers: int = 4,
        part_size: int = DEFAULT_PART_SIZE,
        throttle: Throttle | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.ledger = ledger
        self.workers = max(1, workers)
        self.part_size = part_size
        self.throttle = throttle or Throttle(None)
        self.cancel = cancel or threading.Event()
        self.caps = Capabilities()
        self.parts_sent = 0  # parts (and single PUTs) sent by this uploader: the resume tests count them
        self.parts_adopted = 0

    # --- the store's view ------------------------------------------------------------------------
    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as e:
            if _status(e) == 404 or _code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def matches(self, head: dict[str, Any] | None, f: FileRow, local: Path | None = None) -> bool:
        """Is the object on the store this file? Same size, and the SHA-256 in its metadata is ours; a store
        that lost the metadata (rclone keeps it in memory only) is judged by its ETag against our bytes."""
        if head is None or int(head.get("ContentLength", -1)) != f.size:
            return False
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        if META_SHA256 in meta:
            return bool(meta[META_SHA256] == f.sha256)
        if local is None:
            return False
        return etag_of(head.get("ETag")) in expected_etags(local, f.part_size or part_size_for(f.size, self.part_size))

    # --- one file --------------------------------------------------------------------------------
    def upload(self, f: FileRow, local: Path, progress: Progress) -> None:
        """Make the store hold `local` at `f.key`, whole and verified; record it done in the ledger."""
        if f.done:
            return
        if self.matches(self.head(f.key), f, local):  # complete already (a crash after completing, before our commit)
            log.info("%s: already on the store, not sent again", f.key)
            self.ledger.file_done(f.bundle_id, f.relpath)
            progress(f.size)
            return
        if f.size < self.part_size and f.upload_id is None:
            self._put(f, local, progress)
        else:
            for restart in range(3):
                try:
                    self._multipart(self.ledger.file(f.bundle_id, f.relpath), local, progress)
                    break
                except UploadLost:
                    log.warning("%s: the store lost multipart upload; starting the file over (%d)", f.key, restart + 1)
                    self.ledger.forget_multipart(f.bundle_id, f.relpath)
            else:
                raise UploaderError(f"{f.key}: the store kept losing the multipart upload; try again later")
        self.ledger.file_done(f.bundle_id, f.relpath)

    def _conditional(self) -> dict[str, str]:
        return {"IfNoneMatch": "*"} if self.caps.if_none_match else {}

    def _unsupported_condition(self, e: ClientError) -> bool:
        if self.caps.if_none_match and (_code(e) in ("NotImplemented", "InvalidArgument") or _status(e) == 501):
            log.info("the store does not support If-None-Match; relying on a HEAD before each file")
            self.caps.if_none_match = False
            return True
        return False

    def _already_there(self, f: FileRow, local: Path) -> None:
        """The store refused to overwrite: fine when it is our file, a conflict otherwise."""
        if not self.matches(self.head(f.key), f, local):
            raise ObjectConflict(self.bucket, f.key)
        log.info("%s: already on the store (If-None-Match), not overwritten", f.key)

    def _put(self, f: FileRow, local: Path, progress: Progress) -> None:
        with open_regular(local) as fh:
            data = fh.read()
        digest = Digest.of(data)
        body = PartBody(data, progress, self.throttle, self.cancel)
        while True:
            try:
                reply = self.client.put_object(
                    Bucket=self.bucket,
                    Key=f.key,
                    Body=body,
                    ContentLength=len(data),
                    ContentMD5=digest.md5_b64,
                    Metadata={META_SHA256: f.sha256},
                    **self._conditional(),
                )
                self.parts_sent += 1
                break
            except ClientError as e:
                progress(-body.counted)
                body = PartBody(data, progress, self.throttle, self.cancel)
                if _status(e) == 412 or _code(e) == "PreconditionFailed":
                    self._already_there(f, local)
                    progress(f.size)
                    return
                if self._unsupported_condition(e):
                    continue
                if _code(e) in ("BadDigest", "InvalidDigest"):
                    raise PartCorrupted(f.key, 1, "the store received different bytes (Content-MD5)") from e
                raise
            except BaseException:
                progress(-body.counted)
                raise
        etag = etag_of(reply.get("ETag"))
        if is_md5(etag) and etag != digest.md5_hex:
            # The store kept corrupted bytes under our key: take them away, the retry sends them again.
            self.client.delete_object(Bucket=self.bucket, Key=f.key)
            progress(-f.size)
            raise PartCorrupted(f.key, 1, f"ETag {etag} is not the MD5 of what we sent ({digest.md5_hex})")

    def _multipart(self, f: FileRow, local: Path, progress: Progress) -> None:
        if f.upload_id is None:
            part_size = part_size_for(f.size, self.part_size)
            reply = self.client.create_multipart_upload(Bucket=self.bucket, Key=f.key, Metadata={META_SHA256: f.sha256})
            upload_id = str(reply["UploadId"])
            self.ledger.start_multipart(f.bundle_id, f.relpath, upload_id, part_size)
            have: dict[int, PartRow] = {}
        else:
            upload_id, part_size = f.upload_id, int(f.part_size or self.part_size)
            have = self._reconcile(f, local, upload_id, part_size)
        count = max(1, -(-f.size // part_size))
        already = sum(p.size for p in have.values())
        if already:
            progress(already)
            log.info("%s: resuming, %d of %d parts already on the store", f.key, len(have), count)
        missing = [n for n in range(1, count + 1) if n not in have]
        self._send_parts(f, local, upload_id, part_size, missing, progress)
        parts = self.ledger.parts(f.bundle_id, f.relpath, upload_id)
        if sorted(parts) != list(range(1, count + 1)):
            raise UploaderError(f"{f.key}: parts {sorted(set(range(1, count + 1)) - set(parts))} were not recorded")
        self._complete(f, local, upload_id, parts)

    def _read_part(self, local: Path, number: int, part_size: int, size: int) -> bytes:
        offset = (number - 1) * part_size
        length = min(part_size, size - offset)
        with open_regular(local) as fh:  # never through a link put there after the bundle was checked
            data = os.pread(fh.fileno(), length, offset)
        if len(data) != length:
            raise UploaderError(f"{local}: shorter than when it was queued (read {len(data)} of {length} bytes)")
        return data

    def _send_parts(
        self, f: FileRow, local: Path, upload_id: str, part_size: int, numbers: list[int], progress: Progress
    ) -> None:
        if not numbers:
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(numbers)), thread_name_prefix="part") as pool:
            pending: set[Future[None]] = set()
            queue = list(reversed(numbers))
            while queue or pending:
                while queue and len(pending) < self.workers and not self.cancel.is_set():
                    n = queue.pop()
                    pending.add(pool.submit(self._send_part, f, local, upload_id, part_size, n, progress))
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    if fut.exception() is not None:
                        self.cancel_pending(pending)
                        raise fut.exception()  # type: ignore[misc]
                if self.cancel.is_set() and not pending:
                    raise Cancelled()

    @staticmethod
    def cancel_pending(pending: set[Future[None]]) -> None:
        for fut in pending:
            fut.cancel()
        wait(pending)

    def _send_part(self, f: FileRow, local: Path, upload_id: str, part_size: int, n: int, progress: Progress) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        data = self._read_part(local, n, part_size, f.size)
        digest = Digest.of(data)
        body = PartBody(data, progress, self.throttle, self.cancel)
        try:
            reply = self.client.upload_part(
                Bucket=self.bucket,
                Key=f.key,
                UploadId=upload_id,
                PartNumber=n,
                Body=body,
                ContentLength=len(data),
                ContentMD5=digest.md5_b64,
            )
        except ClientError as e:
            progress(-body.counted)
            if _code(e) == "NoSuchUpload":
                raise UploadLost(f.key, upload_id) from e
            if _code(e) in ("BadDigest", "InvalidDigest"):
                raise PartCorrupted(f.key, n, "the store received different bytes (Content-MD5)") from e
            raise
        except BaseException:
            progress(-body.counted)
            raise
        self.parts_sent += 1
        etag = etag_of(reply.get("ETag"))
        if not etag or (is_md5(etag) and etag != digest.md5_hex):
            progress(-body.counted)
            raise PartCorrupted(f.key, n, f"ETag {etag or 'missing'} is not the MD5 of what we sent ({digest.md5_hex})")
        # Recorded (committed) before it counts as sent.
        self.ledger.add_part(f.bundle_id, f.relpath, upload_id, PartRow(n, len(data), etag, digest.md5_hex))

    def _reconcile(self, f: FileRow, local: Path, upload_id: str, part_size: int) -> dict[int, PartRow]:
        """Parts the store holds for `upload_id` that are ours; the ledger is brought in line with them."""
        on_store: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            try:
                reply = self.client.list_parts(
                    Bucket=self.bucket, Key=f.key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000
                )
            except ClientError as e:
                if _code(e) == "NoSuchUpload" or _status(e) == 404:
                    raise UploadLost(f.key, upload_id) from e
                raise
            for p in reply.get("Parts", []):
                on_store[int(p["PartNumber"])] = (etag_of(p.get("ETag")), int(p.get("Size", -1)))
            if not reply.get("IsTruncated"):
                break
            marker = int(reply.get("NextPartNumberMarker", 0))
        recorded = self.ledger.parts(f.bundle_id, f.relpath, upload_id)
        kept: dict[int, PartRow] = {}
        for n, row in recorded.items():
            if on_store.get(n) == (row.etag, row.size):
                kept[n] = row
            else:
                self.ledger.drop_part(f.bundle_id, f.relpath, upload_id, n)
        for n, (etag, size) in on_store.items():
            if n in kept or not is_md5(etag):
                continue
            data = self._read_part(local, n, part_size, f.size) if (n - 1) * part_size < f.size else b""
            if data and len(data) == size:
                digest = Digest.of(data)
                if digest.md5_hex == etag:  # acknowledged by the store, lost by our crash: it is ours
                    row = PartRow(n, size, etag, digest.md5_hex)
                    self.ledger.add_part(f.bundle_id, f.relpath, upload_id, row)
                    kept[n] = row
                    self.parts_adopted += 1
        return kept

    def _complete(self, f: FileRow, local: Path, upload_id: str, parts: dict[int, PartRow]) -> None:
        listing = {"Parts": [{"PartNumber": n, "ETag": f'"{parts[n].etag}"'} for n in sorted(parts)]}
        while True:
            try:
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=f.key, UploadId=upload_id, MultipartUpload=listing, **self._conditional()
                )
                return
            except ClientError as e:
                if _status(e) == 412 or _code(e) == "PreconditionFailed":
                    self._already_there(f, local)
                    self._abort(f.key, upload_id)
                    return
                if self._unsupported_condition(e):
                    continue
                if _code(e) == "NoSuchUpload":
                    if self.matches(self.head(f.key), f, local):  # completed by us before a crash
                        return
                    raise UploadLost(f.key, upload_id) from e
                raise

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as e:
            log.info("%s: abort of upload %s: %s", key, upload_id, e)
