"""The recorder's exception tree. Every message says what happened and what to do about it."""

from __future__ import annotations


class RecorderError(Exception):
    """Base of every error raised on purpose by the `recorder` package."""


class UsageError(RecorderError):
    """The user asked for something that cannot be done as asked (bad path, bad option)."""


class BundleError(RecorderError):
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


class ManifestError(BundleError):
    """manifest.json is absent, too large, not JSON or not a manifest."""


class SealError(BundleError):
    """A live session directory could not be sealed into a bundle."""
