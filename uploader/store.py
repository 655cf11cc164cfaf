"""The boto3 S3 client for a store, and what its failures mean: botocore errors translated into the uploader's
exception tree (`translate`, `StoreCall`), worded with the endpoint and where the credentials came from.

Which failures are worth retrying is the lab package's rule (`trajrec.source.s3`: no connection, 5xx,
throttling), so reading bundles from S3 and uploading them agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSLError,
)

from trajrec.source.s3 import UNREACHABLE, client_error_fields, is_busy
from uploader.config import StoreConfig, env_endpoint
from uploader.dirs import SETTINGS_FILE
from uploader.errors import (
    BucketMissing,
    StoreAuthError,
    StoreBusy,
    StoreConfigError,
    StoreRequestError,
    StoreUnreachable,
    UploaderError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken", "ExpiredToken"}
)


@dataclass(frozen=True)
class Credentials:
    """An explicit access key pair. `source` says where it came from, for error messages (never the secret)."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = "explicit credentials"


def credential_source(config: StoreConfig, credentials: Credentials | None = None) -> str:
    """Where boto3 takes the credentials from, in words (as far as can be told without asking boto3)."""
    if credentials is not None:
        return credentials.source
    if config.profile:
        return f"AWS profile {config.profile!r}"
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment"
    if os.environ.get("AWS_PROFILE"):
        return f"AWS profile {os.environ['AWS_PROFILE']!r} (from AWS_PROFILE)"
    return "the default AWS credential chain (~/.aws files, SSO or instance role)"


def endpoint_label(config: StoreConfig) -> str:
    """The endpoint in words for messages: the configured URL, the AWS environment's, or AWS itself."""
    return config.endpoint_url or env_endpoint() or f"AWS S3 ({config.region or 'default region'})"


def make_client(
    config: StoreConfig,
    credentials: Credentials | None = None,
    *,
    max_attempts: int = 3,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 60.0,
) -> S3Client:
    """A boto3 S3 client for `config` (SigV4, standard retries). Close it with `client.close()`."""
    if config.embedded and (config.endpoint_url is None or credentials is None):
        raise StoreConfigError(
            "the embedded store has no endpoint until its server runs", "open it with uploader.server.open_store()"
        )
    botocore_config = Config(
        signature_version="s3v4",
        # Bodies are not hashed into the signature (UNSIGNED-PAYLOAD, as botocore already does over TLS): every
        # part carries Content-MD5, which S3 enforces, and its ETag is compared with our MD5; the signed SHA-256
        # cost 0.6 CPU-s per GiB here and the local store did not even check it.
        s3={"addressing_style": config.addressing_style, "payload_signing_enabled": False},
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        max_pool_connections=16,
        # Ranged GETs from rclone carry the whole object's CRC32, which botocore would then reject; bundle files
        # are verified against the manifest's sha256 instead.
        response_checksum_validation="when_required",
        # Parts carry our own Content-MD5 (checked by S3 and most stores) and the ledger keeps their SHA-256;
        # botocore's default CRC32 would also switch uploads to aws-chunked bodies, which some stores refuse.
        request_checksum_calculation="when_required",
    )
    try:
        session = boto3.session.Session(profile_name=config.profile)
        return session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            verify=config.verify_tls,
            aws_access_key_id=credentials.access_key if credentials else None,
            aws_secret_access_key=credentials.secret_key if credentials else None,
            aws_session_token=credentials.session_token if credentials else None,
            config=botocore_config,
        )
    except ProfileNotFound as e:
        raise _profile_error(config) from e


def _profile_error(config: StoreConfig) -> StoreConfigError:
    name = config.profile or os.environ.get("AWS_PROFILE", "")
    return StoreConfigError(
        f"AWS profile {name!r} not found",
        "add it to ~/.aws/config (aws configure --profile NAME) or pass another --profile",
    )


def translate(
    exc: BaseException, config: StoreConfig, credentials: Credentials | None = None, *, settings: Path | None = None
) -> UploaderError:
    """The uploader error for a botocore failure (raise it `from exc`). Unknown failures become StoreRequestError.
    `settings`: the settings file, named in the fixes that point there."""
    if isinstance(exc, UploaderError):
        return exc
    endpoint = endpoint_label(config)
    where = str(settings) if settings is not None else f"the store settings file ({SETTINGS_FILE})"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StoreAuthError(
            endpoint,
            credential_source(config, credentials),
            "no usable credentials found",
            fix=f"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or set `profile` in {where}",
        )
    if isinstance(exc, ProfileNotFound):
        return _profile_error(config)
    if isinstance(exc, SSLError):
        return StoreConfigError(
            f"TLS with {endpoint} failed ({exc})",
            f"check the endpoint URL, or for a test store with a self-signed certificate set verify_tls = false in "
            f"{where}",
        )
    if isinstance(exc, UNREACHABLE):
        return StoreUnreachable(endpoint, type(exc).__name__)
    if isinstance(exc, ClientError):
        code, status, message = client_error_fields(exc)
        operation = exc.operation_name
        if code in _AUTH_CODES or status == 403:
            return StoreAuthError(endpoint, credential_source(config, credentials), code)
        if code == "NoSuchBucket" or (status == 404 and operation == "HeadBucket"):
            return BucketMissing(config.bucket, endpoint)
        if is_busy(code, status):
            return StoreBusy(endpoint, operation, code)
        return StoreRequestError(endpoint, operation, code, message)
    return StoreRequestError(endpoint, "request", type(exc).__name__, str(exc))


def check_store(
    client: S3Client, config: StoreConfig, credentials: Credentials | None = None, *, settings: Path | None = None
) -> None:
    """Preflight: the store answers, accepts the credentials, and the bucket exists (HEAD bucket)."""
    StoreCall(config, credentials, settings)(lambda: client.head_bucket(Bucket=config.bucket))


@dataclass(frozen=True)
class StoreCall:
    """Runs one S3 request; botocore failures become the uploader's errors (which say whether they are
    `retryable`), worded for `config`. The `call` hook of `trajrec.source.s3.S3Source` and of the downloads."""

    config: StoreConfig
    credentials: Credentials | None = None
    settings: Path | None = None

    def __call__(self, request: Callable[[], T], /) -> T:
        try:
            return request()
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self.config, self.credentials, settings=self.settings) from e

    @classmethod
    def for_client(cls, client: S3Client, bucket: str, *, settings: Path | None = None) -> StoreCall:
        """Errors worded for the endpoint `client` talks to (all a bare client can tell)."""
        config = StoreConfig(bucket=bucket, endpoint_url=client.meta.endpoint_url, region=client.meta.region_name)
        return cls(config, settings=settings)


def store_call(client: S3Client, bucket: str, request: Callable[[], T]) -> T:
    """Run one S3 request through `client`; botocore failures become the uploader's errors."""
    return StoreCall.for_client(client, bucket)(request)
