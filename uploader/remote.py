"""Bundles read straight from the store: `S3Source` is the BundleSource of `s3://bucket/prefix/<session_id>`, so
`trajrec validate s3://bucket/prefix` checks bundles without writing them to disk.

A member opens as a seekable, buffered, read-only file backed by ranged GETs of a few MiB (read-ahead), which
is what hashing, Parquet, libsndfile and PyAV's demuxer need; small members are fetched whole once and kept for
the life of the source (the validator reads them twice: checksum, then content). Store errors the store may get
over are retried; one that persists is kept in `S3Source.error` and raised again by `RemoteBundles.validate`,
because a store that fails is no finding about the bundle.
"""

from __future__ import annotations

import io
import threading
from contextlib import ExitStack, closing
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from recorder.errors import BundleMemberError
from trajrec.source import BundleSource, Member, UnsafeMember, unsafe_name
from trajrec.validation import Report, validate_source
from uploader.download import DEFAULT_RETRY, get_from, list_bundles, store_call, with_retries
from uploader.errors import StoreConfigError, UploaderError
from uploader.retry import RetryPolicy
from uploader.server import StoreHandle, open_store
from uploader.store import StoreConfig, load_config, parse_s3_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from uploader.download import RemoteBundle

READ_AHEAD = 4 << 20  # bytes per ranged GET
KEEP_WHOLE = 1 << 20  # members up to this size are fetched once, whole, and kept in memory


class _RangedFile(io.RawIOBase):
    """Raw reads of one object by ranged GETs; wrapped in a BufferedReader for read-ahead."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, name: str) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._pos = 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence {whence}")
        if base + offset < 0:
            raise OSError(22, f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readall(self) -> bytes:
        """The rest in one GET (RawIOBase's would ask for 8 KiB at a time)."""
        n = self._size - self._pos
        if n <= 0:
            return b""
        data = self._fetch(self._pos, n)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._fetch(self._pos, n)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class S3Source(BundleSource):
    """The bundle whose files are the objects under `key_prefix` (`<prefix>/<session_id>/`) in `bucket`."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key_prefix: str,
        *,
        name: str | None = None,
        read_ahead: int = READ_AHEAD,
        cancel: threading.Event | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        super().__init__()
        self.client = client
        self.bucket = bucket
        self.key_prefix = key_prefix.strip("/") + "/"
        self.location = f"s3://{bucket}/{self.key_prefix.rstrip('/')}"
        self.name = name if name is not None else self.key_prefix.rstrip("/").rsplit("/", 1)[-1]
        self.read_ahead = read_ahead
        self.cancel = cancel
        self.retry = retry
        self.error: UploaderError | None = None  # the first store error that outlasted the retries
        self._kept: dict[str, bytes] = {}
        paginator = client.get_paginator("list_objects_v2")

        def scan() -> None:
            for page in paginator.paginate(Bucket=bucket, Prefix=self.key_prefix):
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(self.key_prefix) :]
                    if not rel or rel.endswith("/"):  # "folder" marker objects
                        continue
                    reason = unsafe_name(rel)
                    if reason is not None:
                        self.unsafe.append(UnsafeMember(rel, reason))
                    else:
                        self.members[rel] = Member(rel, obj["Size"])

        store_call(client, bucket, scan)

    def _fetch(self, key: str, offset: int, n: int) -> bytes:
        """Bytes [offset, offset + n) of `key`, retried; a lasting store error is kept in `self.error`."""

        def attempt() -> bytes:
            body, starts_at = store_call(
                self.client, self.bucket, lambda: get_from(self.client, self.bucket, key, offset, offset + n - 1)
            )
            with closing(body):
                if starts_at != offset:  # the store ignored the range: skip to it
                    store_call(self.client, self.bucket, lambda: body.read(offset))
                data: bytes = store_call(self.client, self.bucket, lambda: body.read(n))
            return data

        try:
            return with_retries(f"{self.location}: {key}", attempt, retry=self.retry, cancel=self.cancel)
        except UploaderError as e:
            if self.error is None:
                self.error = e
            raise

    def open(self, path: str) -> IO[bytes]:
        member = self.members.get(path)
        if member is None:
            raise BundleMemberError(self.location, path, "missing")
        key = self.key_prefix + path
        if member.size <= KEEP_WHOLE:
            if path not in self._kept:
                self._kept[path] = self._fetch(key, 0, member.size) if member.size else b""
            return io.BytesIO(self._kept[path])
        raw = _RangedFile(lambda offset, n: self._fetch(key, offset, n), member.size, f"{self.location}/{path}")
        return io.BufferedReader(raw, buffer_size=self.read_ahead)

    def close(self) -> None:
        self._kept.clear()


def load_source(url: str, *, profile: str | None = None) -> StoreConfig:
    """load_config for an s3:// URL to read bundles from, with URL errors worded for a source."""
    try:
        parse_s3_url(url)
    except StoreConfigError as e:
        fix = e.fix if e.key == "bucket" else "write it as s3://BUCKET or s3://BUCKET/PREFIX"
        raise StoreConfigError(e.problem, fix) from e
    return load_config(url, profile=profile)


class RemoteBundles:
    """The s3:// URLs given to `trajrec validate`: each store opened once, the bundles under each URL found, and
    each validated through an S3Source. A context manager (it closes the clients and any embedded server)."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._stores: dict[StoreConfig, StoreHandle] = {}
        self._found: dict[str, tuple[StoreHandle, RemoteBundle]] = {}

    def expand(self, url: str) -> list[str]:
        """The bundles under `url` as s3:// locations: the URL itself if it holds manifest.json, else each
        `<session_id>/manifest.json` one level below it. Raises StoreConfigError / UploaderError."""
        config = load_source(url)
        store = replace(config, prefix="")
        handle = self._stores.get(store)
        if handle is None:
            handle = self._stores[store] = self._stack.enter_context(open_store(store))
        out = []
        for bundle in list_bundles(handle.client, config.bucket, config.prefix, include_prefix=True):
            location = f"s3://{config.bucket}/{bundle.key_prefix.rstrip('/')}"
            self._found[location] = (handle, bundle)
            out.append(location)
        return out

    def size(self, location: str) -> int:
        """Bytes stored under the bundle (a progress total)."""
        return self._found[location][1].bytes

    def validate(
        self,
        location: str,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Report:
        """validate_source on the bundle at `location` (from expand). Raises the UploaderError of a store that kept
        failing: that is no finding about the bundle."""
        handle, bundle = self._found[location]
        source = S3Source(handle.client, handle.config.bucket, bundle.key_prefix, name=bundle.session_id, cancel=cancel)
        with source:
            report = validate_source(source, deep=deep, cancel=cancel, progress=progress)
        if source.error is not None:
            raise source.error
        return report

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> RemoteBundles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
