"""The lab package's two entry points: `trajrec.open` (a reader) and `trajrec.validate` (a report)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from trajrec.reader import BundleReader
from trajrec.source import BundleSource
from trajrec.validation import Report, validate_bundle, validate_source


def open(location: str | Path | BundleSource) -> BundleReader:
    """A reader for the bundle at `location`: a directory, a .tar, or an already opened source."""
    return BundleReader(location)


def validate(
    location: str | Path | BundleSource,
    *,
    deep: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check one bundle against the format; every problem is a finding in the report, never an exception."""
    if isinstance(location, BundleSource):
        return validate_source(location, deep=deep, cancel=cancel, progress=progress)
    return validate_bundle(str(location), deep=deep, cancel=cancel, progress=progress)
