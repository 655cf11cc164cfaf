"""The store configuration: `StoreConfig` (bucket, prefix, endpoint, ...), `s3://` URLs, and the settings file
(store.toml) read, checked and written.

Precedence: an explicit `--to s3://BUCKET/PREFIX` sets bucket and prefix over the settings file; the settings
file's `endpoint_url` wins over `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, which boto3 reads by itself when the
file has none. With no URL, no settings file, no profile and no AWS endpoint in the environment, bundles go to
the embedded local store (see `uploader.server`). The caller says where the settings file is (`uploader.dirs`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from trajrec.paths import write_private
from uploader.errors import StoreConfigError

AddressingStyle = Literal["auto", "path", "virtual"]
ADDRESSING_STYLES: tuple[str, ...] = get_args(AddressingStyle)
DEFAULT_BUCKET = "trajectories"
ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # boto3 reads these itself, in this order

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
    "grant_url": str,
    "grant_ca": str,
}


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
    grant_url: str | None = None  # a lab's grant service: no storage credentials here (uploader.grants)
    grant_ca: str | None = None  # CA bundle (PEM) for the grant service's TLS certificate, if not a public CA

    def __post_init__(self) -> None:
        _check_bucket(self.bucket, None)
        try:
            prefix = "/".join(_split_key(self.prefix, "prefix"))
        except ValueError as e:
            raise StoreConfigError(str(e), "remove it from the prefix", key="prefix") from e
        object.__setattr__(self, "prefix", prefix)
        if self.grant_url is not None:
            problem = grant_url_problem(self.grant_url)
            if problem:
                raise StoreConfigError(problem, "write it as https://HOST[:PORT][/PATH]", key="grant_url")
            object.__setattr__(self, "grant_url", self.grant_url.rstrip("/"))
        if self.addressing_style not in ADDRESSING_STYLES:
            raise StoreConfigError(
                f"unknown addressing style {self.addressing_style!r}",
                f"use one of {', '.join(ADDRESSING_STYLES)}",
                key="addressing_style",
            )

    @property
    def url(self) -> str:
        """Where bundles go, as the queue names the destination: the grant service's URL, or s3://BUCKET/PREFIX."""
        if self.grant_url:
            return self.grant_url
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


def grant_url_problem(url: str) -> str | None:
    """Why `url` cannot be a grant service's address: https only, except on this machine (tokens travel in it)."""
    m = re.match(r"^(https?)://(\[[0-9A-Fa-f:.]+\]|[^/\s:?#]+)(:\d{1,5})?(/[^\s?#]*)?$", url)
    if not m:
        return f"grant_url {url!r} is not an http(s) URL"
    if m[1] == "http" and m[2] not in ("127.0.0.1", "localhost", "[::1]"):
        return f"grant_url {url!r} would send the token in clear: use https (http only on 127.0.0.1)"
    return None


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


def env_endpoint() -> str | None:
    """The endpoint boto3 takes from the environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), if any."""
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
    grant_url = data.get("grant_url")
    if grant_url is not None and (problem := grant_url_problem(grant_url)):
        raise StoreConfigError(problem, "write it as https://HOST[:PORT][/PATH]", source=str(path), key="grant_url")
    if data.get("embedded") and endpoint is not None:
        raise StoreConfigError(
            "`embedded = true` and `endpoint_url` contradict each other",
            "keep one of them",
            source=str(path),
            key="embedded",
        )
    return data


def load_config(url: str | None = None, *, profile: str | None = None, path: Path) -> StoreConfig:
    """The store to use: `url` (`--to`) > the settings file at `path` > AWS environment > the embedded default
    store."""
    settings = read_settings(path)
    if settings is None and profile is None and env_endpoint() is None:
        if url is None:
            return StoreConfig(bucket=DEFAULT_BUCKET, addressing_style="path", embedded=True)
        if not _aws_credentials_configured():
            # A fresh machine: nothing configured and no AWS credentials, so s3:// names the embedded store's
            # buckets (record, upload, download and validate then work end to end with no set-up).
            bucket, prefix = parse_s3_url(url)
            return StoreConfig(bucket=bucket, prefix=prefix, addressing_style="path", embedded=True)
    settings = settings or {}
    if url is None and settings.get("grant_url"):  # `--to` still names a store directly
        return StoreConfig(
            bucket=DEFAULT_BUCKET,
            grant_url=settings["grant_url"],
            grant_ca=settings.get("grant_ca"),
            verify_tls=settings.get("verify_tls", True),
        )
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


def save_config(config: StoreConfig, path: Path) -> Path:
    """Write `config` as the settings file at `path` (atomically: a temporary file renamed over it). Returns the
    path."""
    values: dict[str, str | bool | None] = {
        "bucket": config.bucket,
        "prefix": config.prefix or None,
        "endpoint_url": None if config.embedded else config.endpoint_url,  # the embedded one changes per start
        "region": config.region,
        "addressing_style": None if config.addressing_style == "auto" or config.embedded else config.addressing_style,
        "profile": config.profile,
        "verify_tls": None if config.verify_tls else False,
        "embedded": True if config.embedded else None,
        "grant_url": config.grant_url,
        "grant_ca": config.grant_ca,
    }
    lines = [f"# trajrec store settings; keys: {', '.join(_SETTING_TYPES)}"]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif value is not None:
            lines.append(f"{key} = {_toml_string(value)}")
    write_private(path, "\n".join(lines) + "\n")
    return path
