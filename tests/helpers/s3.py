"""A real S3 store for uploader tests: the embedded `rclone serve s3` on temporary directories (no mocks).

Fixtures are defined here under `name=` and imported by the test modules that need them:

    from tests.helpers.s3 import aws_isolated_fixture, s3_server_fixture  # noqa: F401  (pytest fixtures)
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from uploader.server import EmbeddedServer

BUCKET = "trajectories"
# AWS settings that would make a test depend on the machine it runs on
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CA_BUNDLE",
)


@dataclass(frozen=True)
class StoreDirs:
    """The three directories an embedded server uses, all under one temporary base."""

    data: Path
    config: Path
    logs: Path

    @classmethod
    def under(cls, base: Path) -> StoreDirs:
        return cls(base / "data" / "store", base / "config", base / "logs")

    def server(self, **options: Any) -> EmbeddedServer:
        return EmbeddedServer(self.data, config_dir=self.config, log_dir=self.logs, **options)


@contextmanager
def running_server(base: Path, bucket: str = BUCKET, **options: Any) -> Iterator[EmbeddedServer]:
    """An embedded server on fresh directories under `base`, with `bucket` made; stopped on exit."""
    with StoreDirs.under(base).server(**options) as server:
        server.ensure_bucket(bucket)
        yield server


def fresh_bucket(server: EmbeddedServer) -> str:
    """A new, empty bucket on `server` (tests sharing a server do not see each other's objects)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    server.ensure_bucket(name)
    return name


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(name="aws_isolated")
def aws_isolated_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS settings from this machine (env, ~/.aws, instance metadata); trajrec config/data dirs in tmp.
    Returns the temporary TRAJREC_CONFIG_DIR."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = tmp_path / "trajrec-config"
    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(config))
    monkeypatch.setenv("TRAJREC_DATA_DIR", str(tmp_path / "trajrec-data"))
    return config


@pytest.fixture(name="s3_server", scope="module")
def s3_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One running embedded server per test module, with the default bucket; use fresh_bucket() for isolation."""
    with running_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def put_bundle(client: Any, bucket: str, prefix: str, bundle: Path, *, mtime: str | None = None) -> None:
    """Upload a bundle as the protocol says: each file with its sha256 in metadata, manifest.json last."""
    extra = {"mtime": mtime} if mtime else {}
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    for rel in [f["path"] for f in files] + ["manifest.json"]:
        data = (bundle / rel).read_bytes()
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{bundle.name}/{rel}",
            Body=data,
            Metadata={"sha256": hashlib.sha256(data).hexdigest(), **extra},
        )


@pytest.fixture(name="cli_env")
def cli_env_fixture(s3_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS environment a lab would set for its store (no settings file: TRAJREC_CONFIG_DIR is empty)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def acknowledged_parts(db: Path) -> set[int]:
    """The part numbers an upload ledger holds as acknowledged by the store (empty before it exists)."""
    import sqlite3

    if not db.exists():
        return set()
    con = sqlite3.connect(db, timeout=5)
    try:
        return {n for (n,) in con.execute("SELECT number FROM parts")}
    except sqlite3.OperationalError:
        return set()
    finally:
        con.close()


def upload_cli(bundle: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    """`trajrec upload BUNDLE` as a subprocess, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "recorder.cli", "upload", str(bundle), "--progress", "never", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
