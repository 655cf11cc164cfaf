"""Where bundles go: the store configuration (settings file, `--to` URL, AWS environment), the boto3 S3 client,
the translation of botocore failures into the uploader's exception tree, and the presigned-URL signer interface.

Precedence: an explicit `--to s3://BUCKET/PREFIX` sets bucket and prefix over the settings file; the settings
file's `endpoint_url` wins over `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, which boto3 reads by itself when the
file has none. With no URL, no settings file, no profile and no AWS endpoint in the environment, bundles go to
the embedded local store (see `uploader.server`).
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import boto3
import platformdirs
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from recorder.logs import APP
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

AddressingStyle = Literal["auto", "path", "virtual"]
ADDRESSING_STYLES: tuple[str, ...] = get_args(AddressingStyle)
DEFAULT_BUCKET = "trajectories"
SETTINGS_FILE = "store.toml"
ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # boto3 reads these itself, in this order
MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 limit

# S3 bucket names (lenient about case and `_`, which some S3-compatible stores allow)
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
_SETTING_TYPES: dict[str, type] = {
    "bucket": str,
    "prefix": str,
    "endpoint_url": str,
    "region": str,
    "addressing_style": str,
    "profile": str,
    "verify_tls": bool,
    "embedded": bool,
}
_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken", "ExpiredToken"}
)
_BUSY_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "RequestLimitExceeded"}
)
_UNREACHABLE = (  # after SSLError, which is a ConnectionError too
    BotoConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError
    HTTPClientError,  # ReadTimeoutError, ConnectionClosedError
    ResponseStreamingError,  # the connection broke while a body was read
    IncompleteReadError,
)


# --- configuration ----------------------------------------------------------------------------------------
def config_dir() -> Path:
    """The settings directory (e.g. ~/.config/trajrec on Linux); `TRAJREC_CONFIG_DIR` overrides it."""
    override = os.environ.get("TRAJREC_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP, appauthor=False))


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def _split_key(path: str, what: str) -> list[str]:
    """Split an S3 key part on `/`, dropping empty segments; `.` and `..` are refused (stores map keys to paths)."""
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"{what} {path!r} contains a '.' or '..' segment")
    return segments


def _check_bucket(bucket: str, source: str | None) -> None:
    if not _BUCKET_RE.match(bucket):
        raise StoreConfigError(
            f"{bucket!r} is not a bucket name",
            "use 3-63 letters, digits, dots or hyphens, starting and ending with a letter or digit",
            source=source,
            key="bucket",
        )


@dataclass(frozen=True)
class StoreConfig:
    """Where and how to reach the S3-compatible store. `embedded` = the local rclone server (uploader.server)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: AddressingStyle = "auto"
    profile: str | None = None
    verify_tls: bool = True  # TLS is used unless endpoint_url says http://
    embedded: bool = False

    def __post_init__(self) -> None:
        _check_bucket(self.bucket, None)
        try:
            prefix = "/".join(_split_key(self.prefix, "prefix"))
        except ValueError as e:
            raise StoreConfigError(str(e), "remove it from the prefix", key="prefix") from e
        object.__setattr__(self, "prefix", prefix)
        if self.addressing_style not in ADDRESSING_STYLES:
            raise StoreConfigError(
                f"unknown addressing style {self.addressing_style!r}",
                f"use one of {', '.join(ADDRESSING_STYLES)}",
                key="addressing_style",
            )

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, session_id: str, relpath: str) -> str:
        """The object key of a bundle file: `<prefix>/<session_id>/<relpath>` with single slashes."""
        session = _split_key(session_id, "session id")
        if len(session) != 1:
            raise ValueError(f"session id {session_id!r} must be one non-empty path segment")
        rel = _split_key(relpath, "bundle path")
        if not rel:
            raise ValueError(f"bundle path {relpath!r} is empty")
        return "/".join([*_split_key(self.prefix, "prefix"), *session, *rel])


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix"); anything else is a StoreConfigError."""
    fix = "write the destination as s3://BUCKET or s3://BUCKET/PREFIX"
    if not url.startswith("s3://"):
        raise StoreConfigError(f"{url!r} is not an s3:// URL", fix, source="--to")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise StoreConfigError(f"{url!r} names no bucket", fix, source="--to")
    _check_bucket(bucket, "--to")
    if "//" in prefix.rstrip("/") or any(s in (".", "..") for s in prefix.split("/")):
        raise StoreConfigError(f"{url!r} has an empty, '.' or '..' path segment", fix, source="--to")
    return bucket, prefix.strip("/")


def _env_endpoint() -> str | None:
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return next((os.environ[name] for name in ENDPOINT_ENV if os.environ.get(name)), None)


def _aws_credentials_configured() -> bool:
    """Does this machine name AWS credentials (environment or ~/.aws files)? Cheap: no network, no metadata
    service probe."""
    if any(os.environ.get(n) for n in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")):
        return True
    files = [os.environ.get("AWS_SHARED_CREDENTIALS_FILE"), os.environ.get("AWS_CONFIG_FILE")]
    home = Path.home() / ".aws"
    return any(Path(f).is_file() for f in files if f) or (home / "credentials").is_file() or (home / "config").is_file()


def read_settings(path: Path) -> dict[str, Any] | None:
    """The settings file's table, checked for unknown keys and wrong types; None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreConfigError(
            f"cannot read the settings file ({e})", "fix its permissions or encoding", source=str(path)
        ) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StoreConfigError(f"not valid TOML ({e})", "fix or delete the file", source=str(path)) from e
    for key, value in data.items():
        expected = _SETTING_TYPES.get(key)
        if expected is None:
            raise StoreConfigError(
                "unknown setting", f"remove it (known: {', '.join(_SETTING_TYPES)})", source=str(path), key=key
            )
        if not isinstance(value, expected):
            raise StoreConfigError(
                f"must be a {'boolean (true/false)' if expected is bool else 'string'}, not {type(value).__name__}",
                "fix its value",
                source=str(path),
                key=key,
            )
    style = data.get("addressing_style", "auto")
    if style not in ADDRESSING_STYLES:
        raise StoreConfigError(
            f"unknown addressing style {style!r}",
            f"use one of {', '.join(ADDRESSING_STYLES)}",
            source=str(path),
            key="addressing_style",
        )
    endpoint = data.get("endpoint_url")
    if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
        raise StoreConfigError(
            f"{endpoint!r} is not an http(s) URL",
            "write it as https://HOST[:PORT]",
            source=str(path),
            key="endpoint_url",
        )
    if data.get("embedded") and endpoint is not None:
        raise StoreConfigError(
            "`embedded = true` and `endpoint_url` contradict each other",
            "keep one of them",
            source=str(path),
            key="embedded",
        )
    return data


def load_config(url: str | None = None, *, profile: str | None = None, path: Path | None = None) -> StoreConfig:
    """The store to use: `url` (`--to`) > settings file > AWS environment > the embedded default store."""
    path = path or settings_path()
    settings = read_settings(path)
    if settings is None and profile is None and _env_endpoint() is None:
        if url is None:
            return StoreConfig(bucket=DEFAULT_BUCKET, addressing_style="path", embedded=True)
        if not _aws_credentials_configured():
            # A fresh machine: nothing configured and no AWS credentials, so s3:// names the embedded store's
            # buckets (record, upload, download and validate then work end to end with no set-up).
            bucket, prefix = parse_s3_url(url)
            return StoreConfig(bucket=bucket, prefix=prefix, addressing_style="path", embedded=True)
    settings = settings or {}
    embedded = bool(settings.get("embedded", False))
    if url is not None:
        bucket, prefix = parse_s3_url(url)
    else:
        bucket = settings.get("bucket") or (DEFAULT_BUCKET if embedded else "")
        prefix = settings.get("prefix", "")
        if not bucket:
            raise StoreConfigError("no bucket configured", f"pass --to s3://BUCKET/PREFIX or set `bucket` in {path}")
        _check_bucket(bucket, str(path))
    try:
        return StoreConfig(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=settings.get("endpoint_url"),
            region=settings.get("region"),
            addressing_style="path" if embedded else settings.get("addressing_style", "auto"),
            profile=profile or settings.get("profile"),
            verify_tls=settings.get("verify_tls", True),
            embedded=embedded,
        )
    except StoreConfigError as e:
        raise StoreConfigError(e.problem, e.fix, source=str(path), key=e.key) from e


def _toml_string(value: str) -> str:
    escaped = []
    for ch in value:
        if ch in '"\\':
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def save_config(config: StoreConfig, path: Path | None = None) -> Path:
    """Write `config` as the settings file (atomically: a temporary file renamed over it). Returns the path."""
    path = path or settings_path()
    values: dict[str, str | bool | None] = {
        "bucket": config.bucket,
        "prefix": config.prefix or None,
        "endpoint_url": None if config.embedded else config.endpoint_url,  # the embedded one changes per start
        "region": config.region,
        "addressing_style": None if config.addressing_style == "auto" or config.embedded else config.addressing_style,
        "profile": config.profile,
        "verify_tls": None if config.verify_tls else False,
        "embedded": True if config.embedded else None,
    }
    lines = [f"# trajrec store settings; keys: {', '.join(_SETTING_TYPES)}"]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif value is not None:
            lines.append(f"{key} = {_toml_string(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- client -----------------------------------------------------------------------------------------------
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
    return config.endpoint_url or _env_endpoint() or f"AWS S3 ({config.region or 'default region'})"


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


def _client_error_fields(exc: ClientError) -> tuple[str, int, str]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", status)), int(status), str(error.get("Message", ""))


def translate(exc: BaseException, config: StoreConfig, credentials: Credentials | None = None) -> UploaderError:
    """The uploader error for a botocore failure (raise it `from exc`). Unknown failures become StoreRequestError."""
    if isinstance(exc, UploaderError):
        return exc
    endpoint = endpoint_label(config)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StoreAuthError(
            endpoint,
            credential_source(config, credentials),
            "no usable credentials found",
            fix="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or set `profile` in "
            f"{settings_path()}",
        )
    if isinstance(exc, ProfileNotFound):
        return _profile_error(config)
    if isinstance(exc, SSLError):
        return StoreConfigError(
            f"TLS with {endpoint} failed ({exc})",
            f"check the endpoint URL, or for a test store with a self-signed certificate set verify_tls = false in "
            f"{settings_path()}",
        )
    if isinstance(exc, _UNREACHABLE):
        return StoreUnreachable(endpoint, type(exc).__name__)
    if isinstance(exc, ClientError):
        code, status, message = _client_error_fields(exc)
        operation = exc.operation_name
        if code in _AUTH_CODES or status == 403:
            return StoreAuthError(endpoint, credential_source(config, credentials), code)
        if code == "NoSuchBucket" or (status == 404 and operation == "HeadBucket"):
            return BucketMissing(config.bucket, endpoint)
        if code in _BUSY_CODES or (status >= 500 and status != 501 and code != "NotImplemented"):
            return StoreBusy(endpoint, operation, code)
        return StoreRequestError(endpoint, operation, code, message)
    return StoreRequestError(endpoint, "request", type(exc).__name__, str(exc))


def check_store(client: S3Client, config: StoreConfig, credentials: Credentials | None = None) -> None:
    """Preflight: the store answers, accepts the credentials, and the bucket exists (HEAD bucket)."""
    try:
        client.head_bucket(Bucket=config.bucket)
    except (ClientError, BotoCoreError) as e:
        raise translate(e, config, credentials) from e


# --- presigned URLs ---------------------------------------------------------------------------------------
class Signer(Protocol):
    """Hands out presigned SigV4 URLs, so an expert can upload without long-lived keys (e.g. a lab's service).

    A URL from `presign_put(..., metadata=m)` must be used with the headers `x-amz-meta-<k>: <v>` for each item
    of `m`: they are part of the signature."""

    def presign_put(self, key: str, *, expires_s: int, metadata: Mapping[str, str] | None = None) -> str: ...

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, *, expires_s: int) -> str: ...


def _check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_PRESIGN_S:
        raise ValueError(f"expires_s={expires_s} is outside 1..{MAX_PRESIGN_S} (SigV4 limit)")


class ClientSigner:
    """A Signer that signs locally with a boto3 client's credentials."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def presign_put(self, key: str, *, expires_s: int, metadata: Mapping[str, str] | None = None) -> str:
        _check_expiry(expires_s)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if metadata:
            params["Metadata"] = dict(metadata)
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, *, expires_s: int) -> str:
        _check_expiry(expires_s)
        if not 1 <= part_number <= 10_000:
            raise ValueError(f"part number {part_number} is outside 1..10000")
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s)
