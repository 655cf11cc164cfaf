"""The lab package's exception tree: every error `trajrec` raises on purpose. Messages say what to do."""

from __future__ import annotations


class TrajrecError(Exception):
    """Base of every error raised on purpose by `trajrec`, `recorder` and `uploader`."""


class UsageError(TrajrecError):
    """The user asked for something that cannot be done as asked (bad path, bad option)."""


class BundleError(TrajrecError):
    """A bundle cannot be read or written."""


class FormatVersionError(BundleError):
    """The bundle was written in a format version this reader cannot read."""

    def __init__(self, found: str, supported: str) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"bundle format {found} is not readable by this version (reads {supported}.x): upgrade trajectory-recorder"
        )


class BundleNotFoundError(BundleError):
    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: no such bundle directory or .tar file")


class BundleMemberError(BundleError):
    """A file inside a bundle is missing, unsafe or unreadable."""

    def __init__(self, bundle: str, member: str, reason: str) -> None:
        self.bundle = bundle
        self.member = member
        self.reason = reason
        super().__init__(f"{bundle}: {member}: {reason}")


class UnsafePathError(BundleMemberError):
    """A name from a bundle, a live directory or a store that must not become a path (absolute, `..`, a link,
    not a regular file, not a session id): nothing is read or written through it."""


class ManifestError(BundleError):
    """manifest.json is absent, too large, not JSON or not a manifest."""


class RetriesExceeded(TrajrecError):
    """An operation kept failing with retryable errors; `last` is the last of them."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        self.what = what
        self.attempts = attempts
        self.last = last
        super().__init__(f"{what} failed {attempts} times; last error: {last}")


class ListingError(TrajrecError):
    """A store's listing that cannot be trusted: it repeats a page or does not end within the bound."""


class OcrError(TrajrecError):
    """Text on screen cannot be read: tesseract (or pytesseract) is missing, fails or hangs."""


class Cancelled(TrajrecError):
    """Work stopped because the user asked it to (Ctrl+C, a cancel event)."""


class ExportWriteError(TrajrecError):
    """An export's destination cannot be written (full, read-only, gone). What was exported stays; run the same
    export again to resume."""

    def __init__(self, path: object, error: OSError) -> None:
        self.path = str(path)
        super().__init__(
            f"{path}: cannot write the export ({error.strerror or error}); the bundles finished so far are kept: "
            "free the space (or fix the folder) and run the same command again to resume"
        )
