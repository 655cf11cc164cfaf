"""A real Dask cluster on loopback for tests: a `dask scheduler` and `dask worker` processes (no nanny: a killed
worker stays dead), each with the environment the test gives it (the workers' own store credentials)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.harness import HarnessError

DASK = [sys.executable, "-m", "dask"]


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path()

    def kill(self, name: str) -> None:
        """kill -9 one worker."""
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait()


def _quiet_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DASK_"))}
    env.update({"DASK_DISTRIBUTED__WORKER__DAEMON": "False", "PYTHONWARNINGS": "ignore", **extra})
    return env


def _pin(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextmanager
def dask_cluster(
    root: Path, workers: dict[str, dict[str, str]], timeout: float = 60, cpus: dict[str, int] | None = None
) -> Iterator[Cluster]:
    """A scheduler on 127.0.0.1 and one single-threaded worker per entry of `workers` (name: its extra env);
    `cpus` pins a worker to one CPU (as if each ran on a machine of its own)."""
    root.mkdir(parents=True, exist_ok=True)
    sched_file = root / "scheduler.json"
    with (root / "scheduler.log").open("wb") as log:
        scheduler = subprocess.Popen(
            [*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
             str(sched_file)], stdout=log, stderr=subprocess.STDOUT, env=_quiet_env({}), start_new_session=True,
        )  # fmt: skip
    cluster = Cluster("", scheduler, logs=root)
    try:
        deadline = time.monotonic() + timeout
        while not sched_file.exists() or not sched_file.read_text().strip():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"dask scheduler did not start: {(root / 'scheduler.log').read_text()[-800:]}")
            time.sleep(0.05)
        cluster.address = json.loads(sched_file.read_text())["address"]
        for name, env in workers.items():
            with (root / f"worker-{name}.log").open("wb") as log:
                cluster.workers[name] = subprocess.Popen(
                    [*DASK, "worker", cluster.address, "--name", name, "--nthreads", "1", "--no-nanny",
                     "--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(root / f"w-{name}")],
                    stdout=log, stderr=subprocess.STDOUT, env=_quiet_env(env), start_new_session=True,
                    preexec_fn=_pin((cpus or {}).get(name)),
                )  # fmt: skip
        from distributed import Client

        with Client(cluster.address, timeout=timeout) as c:
            c.wait_for_workers(len(workers), timeout=timeout)
        yield cluster
    finally:
        for p in [*cluster.workers.values(), scheduler]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*cluster.workers.values(), scheduler]:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
