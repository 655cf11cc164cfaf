"""A real grant service for tests: `trajrec grants serve` as a subprocess on loopback, with the lab's keys for an
embedded S3 store in its environment (never in the expert's), and the expert's side configured the way an expert
does it (`trajrec store set grant_url=... token=...`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uploader.grants.db import GrantDB
from uploader.server import EmbeddedServer

PREFIX = "team"


def lab_env(server: EmbeddedServer, base: Path, endpoint: str | None = None) -> dict[str, str]:
    """The lab's environment: its store's keys, its own trajrec dirs."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ENDPOINT_URL": endpoint or server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(base / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(base / "aws-credentials"),
        "TRAJREC_CONFIG_DIR": str(base / "lab-config"),
        "TRAJREC_DATA_DIR": str(base / "lab-data"),
        "TRAJREC_LOG_DIR": str(base / "lab-logs"),
    }


def expert_env(base: Path, name: str = "expert") -> dict[str, str]:
    """An expert's environment: no AWS variables at all, private trajrec dirs, the token in a file."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_CONFIG_FILE": str(base / f"{name}-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(base / f"{name}-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "TRAJREC_CONFIG_DIR": str(base / f"{name}-config"),
        "TRAJREC_DATA_DIR": str(base / f"{name}-data"),
        "TRAJREC_LOG_DIR": str(base / f"{name}-logs"),
        "TRAJREC_KEYRING": "0",
    }


def trajrec(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recorder.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class GrantService:
    """`trajrec grants serve` for `bucket` on `server` (or on `endpoint`, e.g. a counting proxy in front of it)."""

    server: EmbeddedServer
    base: Path
    bucket: str
    endpoint: str | None = None
    extra: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    url: str = ""

    @property
    def db_path(self) -> Path:
        return self.base / "grants.sqlite"

    @property
    def log(self) -> Path:
        return self.base / "grants-serve.log"

    @property
    def env(self) -> dict[str, str]:
        return lab_env(self.server, self.base, self.endpoint)

    def start(self) -> GrantService:
        listen = f"127.0.0.1:{self.port}"
        with self.log.open("a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "recorder.cli",
                    "grants",
                    "--db",
                    str(self.db_path),
                    "serve",
                    "--listen",
                    listen,
                    "--store",
                    f"s3://{self.bucket}/{PREFIX}",
                    *self.extra,
                ],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.proc.stdout.close()
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError(f"grant service did not start: {line}{self.log.read_text()}")
        self.url = line.strip().rsplit(" ", 1)[-1]
        self.port = int(self.url.rsplit(":", 1)[-1])
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> GrantService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def token(self, expert: str, *, expires_in_s: float | None = None, quota_bytes: int | None = None) -> str:
        with GrantDB(self.db_path) as db:
            expires = None if expires_in_s is None else time.time() + expires_in_s
            return db.add_token(expert, expires_at=expires, quota_bytes=quota_bytes)[1]

    def expert(self, name: str, token: str) -> dict[str, str]:
        """An expert's environment, set up through `trajrec store set` as the README tells experts to."""
        env = expert_env(self.base, name)
        done = trajrec(env, "store", "set", f"grant_url={self.url}", f"token={token}")
        assert done.returncode == 0, done.stderr
        return env


def lab_client(server: EmbeddedServer) -> Any:
    from uploader.config import StoreConfig
    from uploader.store import make_client

    config = StoreConfig(bucket="any", endpoint_url=server.endpoint_url, region="us-east-1", addressing_style="path")
    return make_client(config, server.credentials)
