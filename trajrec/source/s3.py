"""Bundles read straight from S3: `S3Source` is the BundleSource of the objects under
`s3://bucket/<prefix>/<session_id>/`, so a bundle is read and validated without being written to disk.

A member opens as a seekable, buffered, read-only file backed by ranged GETs of a few MiB (read-ahead), which
is what hashing, Parquet, libsndfile and PyAV's demuxer need; small members are fetched whole once and kept for
the life of the source (the validator reads them twice: checksum, then content). Requests the store may get
over (no connection, 5xx, throttling: `is_transient`) are retried with `trajrec.retry`; an error that persists
is kept in `S3Source.error` and `trajrec.validate` raises it, because a store that fails is no finding about
the bundle.

The uploader, which reads through here too, hands in its hooks: `call` runs each request (turning botocore
failures into its own errors, which say themselves whether they are `retryable`), its retry policy, and the
`RetriesExceeded` of its own exception tree. boto3 is imported here only, so `import trajrec` stays light.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from trajrec import format as fmt
from trajrec.errors import BundleMemberError, Cancelled, ListingError, RetriesExceeded, UsageError
from trajrec.retry import RetryPolicy
from trajrec.retry import retry as retrying
from trajrec.source.base import BundleSource, Member, UnsafeMember, unsafe_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
READ_AHEAD = 4 << 20  # bytes per ranged GET
KEEP_WHOLE = 1 << 20  # members up to this size are fetched once, whole, and kept in memory
DEFAULT_RETRY = RetryPolicy(attempts=5, base_s=0.25, cap_s=8.0)

# What a store may get over. S3's codes for "busy, slow down, try later"; other 5xx count too, but not
# 501 NotImplemented (a feature the store lacks).
BUSY_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "RequestLimitExceeded"}
)
UNREACHABLE = (  # test SSLError first: it is a ConnectionError too, and retrying a TLS failure does not help
    BotoConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError
    HTTPClientError,  # ReadTimeoutError, ConnectionClosedError
    ResponseStreamingError,  # the connection broke while a body was read
    IncompleteReadError,
)


class StoreCall(Protocol):
    """Runs one request to the store (a hook: the uploader's turns botocore failures into its own errors)."""

    def __call__(self, request: Callable[[], T], /) -> T: ...


def direct(request: Callable[[], T], /) -> T:
    """The default StoreCall: the request as it is, botocore errors and all."""
    return request()


def client_error_fields(exc: ClientError) -> tuple[str, int, str]:
    """(S3 error code, HTTP status, message) of a ClientError; the code falls back to the status."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", status)), int(status), str(error.get("Message", ""))


def is_busy(code: str, status: int) -> bool:
    """An S3 error reply that asks to come back later."""
    return code in BUSY_CODES or (status >= 500 and status != 501 and code != "NotImplemented")


def is_transient(error: BaseException) -> bool:
    """May trying again help? An error's own `retryable` attribute decides when it has one; botocore errors
    count when the connection failed or the store was busy."""
    flag = getattr(error, "retryable", None)
    if isinstance(flag, bool):
        return flag
    if isinstance(error, SSLError):
        return False
    if isinstance(error, UNREACHABLE):
        return True
    if isinstance(error, ClientError):
        code, status, _ = client_error_fields(error)
        return is_busy(code, status)
    return False


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix/SESSION` -> ("bucket", "prefix/SESSION"); a bundle URL names at least a session."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    key = key.strip("/")
    if not url.startswith("s3://") or not bucket or not key or any(s in ("", ".", "..") for s in key.split("/")):
        raise UsageError(f"{url!r} is not a bundle URL: write it as s3://BUCKET/PREFIX/SESSION_ID")
    return bucket, key


def default_client() -> S3Client:
    """A boto3 S3 client from boto3's usual chain: AWS_ENDPOINT_URL(_S3), credentials, profile and region."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard"},
        # Ranged GETs from some stores (rclone) carry the whole object's CRC32, which botocore would reject;
        # bundle files are checked against the manifest's sha256 instead.
        response_checksum_validation="when_required",
        request_checksum_calculation="when_required",
    )
    return boto3.session.Session().client("s3", config=config)


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
    """The bundle whose files are the objects under `key_prefix` (`<prefix>/<session_id>/`) in `bucket`.

    `call` runs each request, `retry` and `retryable` say which failures are tried again and how often, and
    `exceeded` is raised when they keep failing (see the module docstring)."""

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
        call: StoreCall = direct,
        retryable: Callable[[BaseException], bool] = is_transient,
        exceeded: type[RetriesExceeded] = RetriesExceeded,
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
        self.call = call
        self.retryable = retryable
        self.exceeded = exceeded
        self.owns_client = False  # close the client with the source (it was made for it)
        self._kept: dict[str, bytes] = {}
        self._retried(self.location, self._scan)

    def _retried(self, what: str, attempt: Callable[[], T]) -> T:
        """`attempt` under the retry policy; an error that outlasts it is kept in `self.error`."""
        try:
            return retrying(
                attempt,
                what=what,
                policy=self.retry,
                retryable=self.retryable,
                cancel=self.cancel,
                exceeded=self.exceeded,
            )
        except Cancelled:
            raise
        except Exception as e:
            if self.error is None:
                self.error = e
            raise

    def _scan(self) -> None:
        """List the members (one paginated listing), sorting out the names that must not be opened."""
        members: dict[str, Member] = {}
        unsafe: list[UnsafeMember] = []

        def pages() -> None:
            for obj in listed(self.client, self.bucket, self.key_prefix, fmt.MAX_BUNDLE_OBJECTS):
                rel = obj["Key"][len(self.key_prefix) :]
                if not rel or rel.endswith("/"):  # "folder" marker objects
                    continue
                reason = unsafe_name(rel)
                if reason is not None:
                    unsafe.append(UnsafeMember(rel, reason))
                else:
                    members[rel] = Member(rel, obj["Size"])

        self.call(pages)
        self.members, self.unsafe = members, unsafe

    def _fetch(self, key: str, offset: int, n: int) -> bytes:
        """Bytes [offset, offset + n) of `key`, retried; a lasting store error is kept in `self.error`."""

        def attempt() -> bytes:
            body, starts_at = self.call(lambda: get_from(self.client, self.bucket, key, offset, offset + n - 1))
            with closing(body):
                if starts_at != offset:  # the store ignored the range: skip to it
                    self.call(lambda: body.read(offset))
                data: bytes = self.call(lambda: body.read(n))
            return data

        return self._retried(f"{self.location}: {key}", attempt)

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
        if self.owns_client:
            self.client.close()


def open_s3(url: str, *, client: S3Client | None = None, cancel: threading.Event | None = None) -> S3Source:
    """The S3Source of the bundle at `s3://BUCKET/PREFIX/SESSION_ID`, through `client` or, without one, a client
    from boto3's usual chain (`default_client`), closed with the source."""
    bucket, key_prefix = split_s3_url(url)
    own = client is None
    s3 = default_client() if client is None else client
    try:
        source = S3Source(s3, bucket, key_prefix, cancel=cancel)
    except BaseException:
        if own:
            s3.close()
        raise
    source.owns_client = own
    return source


def listed(client: Any, bucket: str, prefix: str, limit: int) -> Iterator[dict[str, Any]]:
    """The objects under `prefix`, page after page, trusting the store no further than this: a continuation
    token seen before (a listing going round) or more than `limit` objects (one that never ends) is a
    ListingError, not a hang."""
    seen: set[str] = set()
    count = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = client.list_objects_v2(**kwargs)
        contents = page.get("Contents", [])
        count += len(contents)
        if count > limit:
            raise ListingError(
                f"s3://{bucket}/{prefix}: the store lists more than {limit} objects here: not a bundle layout"
            )
        yield from contents
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if not token:
            return
        if token in seen:
            raise ListingError(f"s3://{bucket}/{prefix}: the store's listing goes round (a page token came back twice)")
        seen.add(token)
        kwargs["ContinuationToken"] = token
