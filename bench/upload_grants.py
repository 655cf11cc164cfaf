"""The `grants` contender of bench/upload.py: the same UploadQueue as `ours`, but through a lab's grant service
(`trajrec grants serve` as a subprocess holding the store's keys) with only a token on the uploading side: presigned
PUTs and parts straight to the store, every file read back and checked by the service, manifest.json written by
it. A fresh service and database per run (started before the timed part, stopped after), one expert per run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from uploader.grants.client import GrantS3, GrantService
from uploader.grants.db import GrantDB
from uploader.server import EmbeddedServer


@dataclass
class RunningService:
    proc: subprocess.Popen[str]
    url: str
    db: Path

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def client(self, expert: str) -> GrantS3:
        with GrantDB(self.db) as db:
            token = db.add_token(expert, expires_at=None, quota_bytes=None)[1]
        return GrantS3(GrantService(self.url, token))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_service(server: EmbeddedServer, run_dir: Path, bucket: str, region: str) -> RunningService:
    """`trajrec grants serve` for `bucket` (no prefix: experts write under EXPERT/SESSION_ID/) on a fresh database."""
    run_dir.mkdir(parents=True, exist_ok=True)
    db = run_dir / "grants.sqlite"
    for stale in run_dir.glob("grants.sqlite*"):
        stale.unlink()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": region,
        "TRAJREC_CONFIG_DIR": str(run_dir / "config"),
        "TRAJREC_DATA_DIR": str(run_dir / "data"),
        "TRAJREC_LOG_DIR": str(run_dir / "logs"),
    }
    with (run_dir / "serve.log").open("a") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recorder.cli",
                "grants",
                "--db",
                str(db),
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--store",
                f"s3://{bucket}",
                "--rate",
                "1000",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    if "listening on" not in line:
        proc.kill()
        proc.wait(10)
        raise RuntimeError(f"the grant service did not start: {(run_dir / 'serve.log').read_text()[-500:]}")
    time.sleep(0.2)
    return RunningService(proc, line.strip().rsplit(" ", 1)[-1], db)
