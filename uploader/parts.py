"""One part on the wire: part sizes within S3's limits, the body boto3 reads (throttled by a bandwidth limit
shared by every upload thread, and counted as progress once per byte), the part's MD5 (Content-MD5 and the ETag
to expect), and the ETags a store may give a whole file."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trajrec.paths import open_regular
from uploader.errors import Cancelled

MiB = 1 << 20
DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
MAX_PARTS = 10_000
META_SHA256 = "sha256"  # user metadata key (x-amz-meta-sha256): the file's hex SHA-256

Progress = Callable[[int], None]  # bytes sent since the last call (negative when a part is sent again)


def part_size_for(size: int, preferred: int = DEFAULT_PART_SIZE) -> int:
    """The preferred part size, grown (in whole MiB) so that the file fits in S3's 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(preferred, MIN_PART_SIZE, -(-needed // MiB) * MiB)


class Throttle:
    """A token bucket shared by every upload thread: at most `rate` bytes per second (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._at = time.monotonic()

    def take(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)  # burst of at most 1 s
            self._at = now
            self._tokens -= n
            wait_s = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait_s > 0:
            time.sleep(wait_s)


class PartBody:
    """A part's bytes as the file-like body boto3 sends: reads are throttled and reported as progress.

    botocore may read a body more than once (to sign it, on a retry): only bytes past the furthest point
    already read count, so progress and the bandwidth limit see each byte once per attempt."""

    CHUNK = 256 * 1024

    def __init__(self, data: bytes, progress: Progress, throttle: Throttle, cancel: threading.Event) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._high = 0
        self._progress = progress
        self._throttle = throttle
        self._cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self._cancel.is_set():
            raise Cancelled()
        end = len(self._data) if n is None or n < 0 else min(len(self._data), self._pos + n)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        if end > self._high:
            fresh = end - self._high
            self._high = end
            self._throttle.take(fresh)
            self._progress(fresh)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, min(len(self._data), base + offset))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return len(self._data)

    @property
    def counted(self) -> int:
        return self._high


@dataclass(frozen=True)
class Digest:
    md5_hex: str
    md5_b64: str

    @classmethod
    def of(cls, data: bytes) -> Digest:
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        return cls(md5.hex(), base64.b64encode(md5).decode())


def expected_etags(path: Path, part_size: int) -> set[str]:
    """The ETags a store may give `path`: its MD5 (single PUT; rclone for any object) and S3's multipart
    form, the MD5 of the parts' MD5s with the part count (``md5-of-md5s-N``)."""
    whole = hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    with open_regular(path) as fh:
        while block := fh.read(part_size):
            whole.update(block)
            parts.append(hashlib.md5(block, usedforsecurity=False).digest())
    etags = {whole.hexdigest()}
    if parts:
        etags.add(f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}")
    return etags


def etag_of(value: str | None) -> str:
    """An ETag as stores quote and case it, bare and lower-case."""
    return (value or "").strip('"').lower()


def is_md5(etag: str) -> bool:
    """Is this ETag an MD5 (a single PUT, or a store that hashes whole objects), not a multipart form?"""
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)
