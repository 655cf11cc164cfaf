"""The lab package's two entry points: `trajrec.open` (a reader) and `trajrec.validate` (a report)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from trajrec.reader import BundleReader
from trajrec.source import BundleSource, is_s3_url, open_source
from trajrec.validation import Report, validate_bundle, validate_source

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def open(location: str | Path | BundleSource, *, client: S3Client | None = None) -> BundleReader:
    """A reader for the bundle at `location`: a directory, a .tar, `s3://BUCKET/PREFIX/SESSION_ID` (read through
    `client`, or a client from boto3's usual chain: AWS_ENDPOINT_URL, credentials, profile), or an already
    opened source."""
    if is_s3_url(location):
        return BundleReader(open_source(location, client=client))
    return BundleReader(location)


def validate(
    location: str | Path | BundleSource,
    *,
    deep: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    client: S3Client | None = None,
) -> Report:
    """Check one bundle against the format; every problem is a finding in the report, never an exception.

    The exception is a store that keeps failing while an s3:// bundle is read: that is no finding about the
    bundle, so the store's error is raised (after the retries)."""
    if isinstance(location, BundleSource):
        report = validate_source(location, deep=deep, cancel=cancel, progress=progress)
        if location.error is not None:
            raise location.error
        return report
    if is_s3_url(location):
        from trajrec.source.s3 import open_s3

        with open_s3(str(location), client=client, cancel=cancel) as source:
            return validate(source, deep=deep, cancel=cancel, progress=progress)
    return validate_bundle(str(location), deep=deep, cancel=cancel, progress=progress)
