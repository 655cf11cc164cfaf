"""The recorder's exception tree (the experts' side). Every message says what happened and what to do.

The bundle errors are the lab package's (`trajrec.errors`), re-exported here so the recorder's code has
one place to import its errors from; everything derives from `trajrec.errors.TrajrecError`. `FirstError` is the
one helper that keeps the first error of a thread nobody waits on (a worker, a listener, an audio callback)
until the owner's stop() raises it.
"""

from __future__ import annotations

import threading

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
    "AudioDeviceError",
    "BackendUnavailable",
    "BundleEditError",
    "BundleError",
    "BundleMemberError",
    "BundleNotFoundError",
    "Cancelled",
    "CaptureError",
    "FirstError",
    "FormatVersionError",
    "ManifestError",
    "RecorderError",
    "SealError",
    "TaskFileError",
    "TrajrecError",
    "UsageError",
    "VideoWriteError",
]


class RecorderError(TrajrecError):
    """Base of every error raised on purpose by the `recorder` package itself."""


class SealError(BundleError, RecorderError):
    """A live session directory could not be sealed into a bundle."""


class BundleEditError(BundleError, RecorderError):
    """A bundle could not be edited as asked; the bundle itself is unchanged."""


class CaptureError(RecorderError):
    """A capture source cannot start or failed while running; the message says what to do."""


class BackendUnavailable(CaptureError):
    """No backend can serve this desktop (no X display, or the platform's backend is not written)."""


class AudioDeviceError(CaptureError, UsageError):
    """The audio device asked for does not exist, is ambiguous or cannot record as asked (a usage error)."""


class VideoWriteError(RecorderError):
    """The live video cannot be written as asked (odd size, unsupported pixel format, a frame of the wrong size)."""


class TaskFileError(RecorderError, UsageError):
    """A task file (a lab's JSON or YAML task) that cannot be used: the message names the file and what is wrong."""


class FirstError:
    """The one first-error helper: keep the first exception raised on a thread its owner does not run (a worker,
    a listener, a real-time callback), count them all, and hand it over at stop(), which raises it.

    A failure on such a thread must never vanish into stderr, nor be reported twice: keep() is safe from any
    thread and never raises (call it in the thread's ``except``); take() and raise_first() forget what they
    return, so a second stop() reports nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._count = 0

    def keep(self, error: BaseException) -> None:
        with self._lock:
            self._count += 1
            if self._error is None:
                self._error = error

    @property
    def error(self) -> BaseException | None:
        """The first error kept (still to be taken), or None."""
        return self._error

    def take(self) -> tuple[BaseException | None, int]:
        """(the first error, how many were kept), and forget them."""
        with self._lock:
            taken = self._error, self._count
            self._error, self._count = None, 0
        return taken

    def raise_first(self, what: str, passthrough: type[BaseException] = TrajrecError) -> None:
        """Raise the first error kept, if any: an instance of `passthrough` as it is (it already says what to do),
        anything else as ``CaptureError("<what> failed: <type>: <message>")`` from it."""
        error, _ = self.take()
        if error is None:
            return
        if isinstance(error, passthrough):
            raise error
        raise CaptureError(f"{what} failed: {type(error).__name__}: {error}") from error
