"""The recorder's exception tree (the experts' side). Every message says what happened and what to do.

The bundle errors are the lab package's (`trajrec.errors`), re-exported here so the recorder's code has
one place to import its errors from; everything derives from `trajrec.errors.TrajrecError`.
"""

from __future__ import annotations

from trajrec.errors import (
    BundleError,
    BundleMemberError,
    BundleNotFoundError,
    Cancelled,
    FormatVersionError,
    ManifestError,
    TrajrecError,
    UsageError,
)

__all__ = [
    "BundleError",
    "BundleMemberError",
    "BundleNotFoundError",
    "Cancelled",
    "CaptureError",
    "FormatVersionError",
    "ManifestError",
    "RecorderError",
    "SealError",
    "TrajrecError",
    "UsageError",
]


class RecorderError(TrajrecError):
    """Base of every error raised on purpose by the `recorder` package itself."""


class SealError(BundleError, RecorderError):
    """A live session directory could not be sealed into a bundle."""


class CaptureError(RecorderError):
    """A capture source cannot start or failed while running; the message says what to do."""
