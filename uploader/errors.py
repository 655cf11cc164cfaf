"""The uploader's exception tree. Every message is one line built from fields: what happened, then what to do.

`retryable` tells the upload queue and the retry loop (`trajrec.retry`) whether trying again later can help
(the network came back, the store is less busy) or whether a person must change something first (credentials,
configuration, a bucket). The tree hangs off the lab package's `TrajrecError`; `Cancelled` and
`RetriesExceeded` are also the lab package's, so code that catches those catches the uploader's too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from trajrec import errors as lab


class UploaderError(lab.TrajrecError):
    """Base of every error raised on purpose by the `uploader` package."""

    retryable: ClassVar[bool] = False


class RetriesExceeded(UploaderError, lab.RetriesExceeded):
    """A store error worth retrying lasted through every attempt. The message is the last error's (what
    went wrong and what to do); `attempts` and `last` say the rest. Retryable: a later run may succeed."""

    retryable = True

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        super().__init__(what, attempts, last)
        self.args = (str(last),)


class StoreConfigError(UploaderError):
    """The store configuration is missing, malformed or names something that does not exist."""

    def __init__(self, problem: str, fix: str, *, source: str | None = None, key: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.source = source  # the settings file (or flag) the problem is in
        self.key = key  # the offending setting, if one
        where = ": ".join(part for part in (source, f"`{key}`" if key else None) if part)
        super().__init__(f"{where + ': ' if where else ''}{problem}: {fix}")


class StoreUnreachable(UploaderError):
    """No connection to the store (refused, timed out, dropped): usually temporary."""

    retryable = True

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(
            f"cannot reach the store at {endpoint} ({reason}): check the network and the endpoint URL; "
            "queued uploads resume when it is back"
        )


class StoreAuthError(UploaderError):
    """The store refused the credentials (or none were found). Names where they came from, never the secret."""

    DEFAULT_FIX: ClassVar[str] = (
        "check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --profile, or `profile` in the "
        "settings file) and that they may use this bucket"
    )

    def __init__(self, endpoint: str, credential_source: str, reason: str, fix: str | None = None) -> None:
        self.endpoint = endpoint
        self.credential_source = credential_source
        self.reason = reason
        self.fix = fix or self.DEFAULT_FIX
        super().__init__(
            f"the store at {endpoint} refused the credentials from {credential_source} ({reason}): {self.fix}"
        )


class BucketMissing(UploaderError):
    def __init__(self, bucket: str, endpoint: str) -> None:
        self.bucket = bucket
        self.endpoint = endpoint
        super().__init__(
            f"bucket {bucket!r} does not exist at {endpoint}: create it, or fix the bucket in --to s3://BUCKET/PREFIX "
            "or in the settings file"
        )


class StoreBusy(UploaderError):
    """The store answered but failed or asked us to slow down (5xx, SlowDown, RequestTimeout)."""

    retryable = True

    def __init__(self, endpoint: str, operation: str, code: str) -> None:
        self.endpoint = endpoint
        self.operation = operation
        self.code = code
        super().__init__(f"the store at {endpoint} failed {operation} ({code}): it is busy or unwell; retry later")


class StoreRequestError(UploaderError):
    """The store rejected a request for a reason not covered above; `code` is the S3 error code (e.g. NoSuchUpload)."""

    def __init__(self, endpoint: str, operation: str, code: str, message: str) -> None:
        self.endpoint = endpoint
        self.operation = operation
        self.code = code
        self.message = message
        detail = f"{code}: {message}" if message and message != code else code
        super().__init__(f"the store at {endpoint} rejected {operation} ({detail}): see the log for the request")


class ServerStartError(UploaderError):
    """The embedded local store (rclone serve s3) did not start or answer."""

    def __init__(self, reason: str, log_path: str | None = None, log_tail: Sequence[str] = ()) -> None:
        self.reason = reason
        self.log_path = log_path
        self.log_tail = list(log_tail)
        where = f"; its log is {log_path}" if log_path else ""
        tail = f"; last lines: {' | '.join(self.log_tail)}" if self.log_tail else ""
        super().__init__(f"the embedded store did not start ({reason}){where}{tail}")


# --- raised by the upload state machine (uploader.multipart) -----------------------------------------------
class Cancelled(UploaderError, lab.Cancelled):
    """The upload was stopped on request; what the store acknowledged is kept and the rest resumes later."""

    def __init__(self) -> None:
        super().__init__("the upload was cancelled: start it again to resume where it stopped")


class UploadLost(UploaderError):
    """The store no longer knows a multipart upload id (it aborted or lost it): that file starts over."""

    def __init__(self, key: str, upload_id: str) -> None:
        self.key = key
        self.upload_id = upload_id
        super().__init__(f"{key}: the store lost multipart upload {upload_id}; the file is sent again")


class ObjectConflict(UploaderError):
    """Another object already sits at the key (a different size or SHA-256): never overwritten."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(
            f"s3://{bucket}/{key} already exists with different content: delete it or upload to another prefix"
        )


class PartCorrupted(UploaderError):
    """The store received different bytes than were sent (Content-MD5 or ETag mismatch): send the part again."""

    retryable = True

    def __init__(self, key: str, part_number: int, reason: str) -> None:
        self.key = key
        self.part_number = part_number
        self.reason = reason
        super().__init__(f"{key}: part {part_number} arrived corrupted ({reason}): it is sent again")


class BundleModified(UploaderError):
    """A queued bundle no longer matches its manifest (or is not a sealed bundle): it is not uploaded."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}; it was not uploaded")


class QueueBusy(UploaderError):
    """Another live process is sending the upload queue; it picks up newly queued bundles too."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        super().__init__(
            f"another uploader (pid {pid}) is sending the queue and will send these bundles too: "
            "`trajrec queue` shows their progress"
        )


# --- raised by downloads (uploader.download) ----------------------------------------------------------------
class DownloadError(UploaderError):
    """One bundle (or one of its files) could not be downloaded and verified; nothing unverified is kept."""

    def __init__(self, session_id: str, path: str, reason: str) -> None:
        self.session_id = session_id
        self.path = path
        self.reason = reason
        super().__init__(f"{session_id}/{path}: {reason}" if path else f"{session_id}: {reason}")


class GrantRefused(UploaderError):
    """The lab's grant service turned a request down (`code` from the protocol): a revoked or expired token, a
    quota, a checksum that does not match... a person must act first."""

    def __init__(self, service: str, code: str, message: str, status: int) -> None:
        self.service = service
        self.code = code
        self.status = status
        super().__init__(f"the grant service at {service} refused ({code}): {message}")


class GrantBusy(GrantRefused):
    """The grant service asked to come back later (request rate, a busy or unreachable store)."""

    retryable = True


class GrantUnreachable(UploaderError):
    """No answer from the lab's grant service: usually temporary."""

    retryable = True

    def __init__(self, service: str, reason: str) -> None:
        self.service = service
        super().__init__(
            f"cannot reach the grant service at {service} ({reason}): check the network and grant_url; "
            "queued uploads resume when it is back"
        )
