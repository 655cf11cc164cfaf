"""The uploader against the real local S3 server (rclone serve s3): round trips, kill -9 and resume, a
server restart, a proxy that cuts connections or corrupts bodies, changed bundles, store errors."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.bundles import make_bundle
from tests.helpers.harness import wait_until
from tests.helpers.s3 import (
    acknowledged_parts,
    aws_isolated_fixture,  # noqa: F401  (pytest fixture)
    closed_port,
    fresh_bucket,
    s3_server_fixture,  # noqa: F401  (pytest fixture)
    upload_cli,
)
from tests.helpers.tcp_proxy import ChaosProxy
from trajrec.retry import RetryPolicy
from uploader.config import StoreConfig
from uploader.download import download_bundle, list_bundles
from uploader.errors import BundleModified
from uploader.ledger import Ledger, States
from uploader.parts import MiB
from uploader.queue import UploadQueue
from uploader.server import EmbeddedServer
from uploader.store import make_client, translate

pytestmark = pytest.mark.usefixtures("aws_isolated")
FAST_RETRY = RetryPolicy(attempts=8, base_s=0.05, cap_s=0.5)


def store_digest(client: Any, bucket: str, key: str) -> str:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    h = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        h.update(chunk)
    body.close()
    return h.hexdigest()


def assert_on_store(client: Any, config: StoreConfig, bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    for f in manifest["files"]:
        assert store_digest(client, config.bucket, config.key(manifest["session_id"], f["path"])) == f["sha256"]
    mkey = config.key(manifest["session_id"], "manifest.json")
    assert (
        store_digest(client, config.bucket, mkey) == hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    )


def client_for(server: EmbeddedServer, endpoint: str | None = None, bucket: str = "", attempts: int = 3) -> Any:
    config = StoreConfig(
        bucket=bucket or "any-bucket",
        endpoint_url=endpoint or server.endpoint_url,
        region="us-east-1",
        addressing_style="path",
    )
    return make_client(config, server.credentials, max_attempts=attempts)


def cli_env(server: EmbeddedServer, data: Path, endpoint: str | None = None) -> dict[str, str]:
    """The environment of a `trajrec upload` subprocess: the standard AWS variables, our data dir."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint or server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRAJREC_DATA_DIR": str(data),
    }


def queue_for(ledger: Ledger, client: Any, bucket: str, **options: Any) -> UploadQueue:
    config = StoreConfig(bucket=bucket, prefix="lab/run1", endpoint_url="http://127.0.0.1", region="us-east-1")
    return UploadQueue(
        ledger,
        client,
        config,
        retry=options.pop("retry", FAST_RETRY),
        translate=lambda e: translate(e, config),
        **options,
    )


@pytest.mark.slow
def test_round_trip_of_a_bundle_of_several_hundred_mb(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(
        tmp_path,
        "big-session",
        {"screen/video.mp4": 300 * MiB + 12345, "input/events.parquet": 70_000, "audio/voiceover.flac": 6 * MiB},
    )
    client = client_for(s3_server)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        uq = queue_for(ledger, client, bucket, part_size=16 * MiB)
        events: list[Any] = []
        uq.subscribers.append(events.append)
        row, added = uq.enqueue(bundle)
        assert added and row.state == States.QUEUED
        assert uq.enqueue(bundle) == (ledger.bundle(row.id), False)  # never queued twice
        uq.run()
        done = ledger.bundle(row.id)
        assert done.state == States.DONE, done.reason
        assert done.bytes_done == done.bytes_total == sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert_on_store(client, uq.dest, bundle)
    # and back: the lab's download is byte-identical
    (remote,) = list_bundles(client, bucket, uq.dest.prefix)
    result = download_bundle(client, bucket, remote, tmp_path / "downloaded")
    assert result.status == "downloaded", result
    for p in bundle.rglob("*"):
        if p.is_file():
            got = tmp_path / "downloaded" / "big-session" / p.relative_to(bundle)
            assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(p.read_bytes()).digest(), p
    states = [e.state for e in events]
    assert states.index("uploading") < states.index("verifying") < states.index("done")
    rates = [e.rate_bps for e in events if e.state == "uploading" and e.rate_bps > 0]
    assert rates, "subscribers were told the rate"
    # the manifest went last: a listed manifest means a complete bundle
    keys = {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert max(keys, key=lambda k: (keys[k], k.endswith("manifest.json"))).endswith("manifest.json")
    client.close()


def test_a_bundle_changed_after_sealing_is_refused(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "edited", {"screen/video.mp4": 200_000, "input/events.parquet": 1000})
    client = client_for(s3_server)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        uq = queue_for(ledger, client, bucket)
        video = bundle / "screen/video.mp4"
        data = bytearray(video.read_bytes())
        data[100] ^= 1
        video.write_bytes(bytes(data))
        with pytest.raises(BundleModified, match=r"screen/video.mp4 does not match its SHA-256"):
            uq.enqueue(bundle)
        data[100] ^= 1
        video.write_bytes(bytes(data))
        row, _ = uq.enqueue(bundle)  # sealed state again: queued; then edited while it waits
        (bundle / "input/events.parquet").write_bytes(b"x" * 1000)
        uq.run()
        failed = ledger.bundle(row.id)
        assert failed.state == States.FAILED
        assert failed.reason is not None and "events.parquet does not match its SHA-256" in failed.reason
    assert "Contents" not in client.list_objects_v2(Bucket=bucket), "nothing of a changed bundle is uploaded"
    client.close()


@pytest.mark.slow
def test_server_restart_mid_upload_completes(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    """rclone forgets unfinished multipart uploads (and user metadata) when it restarts: the file starts over
    cleanly and verification falls back to the ETag."""
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "restart", {"screen/video.mp4": 60 * MiB, "small.bin": 3000}, seed=2)
    client = client_for(s3_server, attempts=2)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        uq = queue_for(ledger, client, bucket, part_size=5 * MiB, workers=2, bandwidth_bps=40 * MiB)
        row, _ = uq.enqueue(bundle)
        worker = threading.Thread(target=uq.run)
        worker.start()
        wait_until(lambda: ledger.bundle(row.id).bytes_done > 20 * MiB or not worker.is_alive(), "a third sent", 20)
        s3_server.restart()
        worker.join(60)
        assert not worker.is_alive()
        done = ledger.bundle(row.id)
        assert done.state == States.DONE, done.reason
    assert_on_store(client, uq.dest, bundle)
    client.close()


@pytest.mark.slow
def test_a_proxy_cutting_connections_at_random_cannot_corrupt_an_upload(
    s3_server: EmbeddedServer, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "flaky", {"screen/video.mp4": 48 * MiB, "a.bin": 2 * MiB}, seed=3)
    with ChaosProxy(s3_server.port, cut_probability=0.01, seed=7) as proxy:
        client = client_for(s3_server, proxy.url, attempts=2)
        with Ledger(tmp_path / "ledger.sqlite") as ledger:
            uq = queue_for(
                ledger,
                client,
                bucket,
                part_size=5 * MiB,
                workers=2,
                retry=RetryPolicy(attempts=30, base_s=0.02, cap_s=0.2),
            )
            row, _ = uq.enqueue(bundle)
            uq.run()
            done = ledger.bundle(row.id)
            assert done.state == States.DONE, done.reason
        cuts = sum(r.cut for r in proxy.requests)
        client.close()
    assert cuts >= 3, f"the proxy cut only {cuts} requests: the test did not test"
    direct = client_for(s3_server)
    assert_on_store(direct, uq.dest, bundle)
    direct.close()


@pytest.mark.slow
def test_a_corrupted_part_is_detected_and_sent_again(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "corrupt", {"screen/video.mp4": 20 * MiB, "small.bin": 200 * 1024}, seed=4)
    with ChaosProxy(s3_server.port, corrupt_next=2, seed=1) as proxy:
        client = client_for(s3_server, proxy.url)
        with Ledger(tmp_path / "ledger.sqlite") as ledger:
            uq = queue_for(ledger, client, bucket, part_size=5 * MiB, workers=1)
            row, _ = uq.enqueue(bundle)
            uq.run()
            done = ledger.bundle(row.id)
            assert done.state == States.DONE, done.reason
            assert done.attempts >= 2, "the corrupted part was not noticed"
        corrupted = [r for r in proxy.requests if r.corrupted]
        client.close()
    assert len(corrupted) == 2
    direct = client_for(s3_server)
    assert_on_store(direct, uq.dest, bundle)  # what is on the store is what we have, bit for bit
    direct.close()


# --- kill -9 of the uploader -------------------------------------------------------------------------
def _runner(db: Path) -> int | None:
    """The pid of the process that holds the queue, from the ledger."""
    if not db.exists():
        return None
    with Ledger(db) as ledger:
        holder = ledger.get_setting("runner").partition("@")[0]
    return int(holder) if holder else None


@pytest.mark.slow
def test_kill_9_mid_upload_resumes_without_resending_acknowledged_parts(
    s3_server: EmbeddedServer, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "killed", {"screen/video.mp4": 80 * MiB + 7, "audio/voiceover.flac": 40_000}, seed=5)
    data = tmp_path / "trajrec-data"
    with ChaosProxy(s3_server.port) as proxy:
        env = cli_env(s3_server, data, proxy.url)
        args = ("--to", f"s3://{bucket}/lab", "--part-size", "5", "--parallel", "2")
        first = upload_cli(bundle, env, *args, "--limit-rate", "25M")
        db = data / "uploads.sqlite"
        wait_until(lambda: len(acknowledged_parts(db)) >= 8 or first.poll() is not None, "half the parts sent", 30)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        acked = acknowledged_parts(db)
        assert 8 <= len(acked) < 17, acked
        before = len(proxy.part_uploads())
        second = upload_cli(bundle, env, *args, "--json")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert json.loads(out)["bundles"][0]["state"] == "done"
        resent = [r.part_number for r in proxy.part_uploads()[before:] if r.part_number in acked]
        assert resent == [], f"parts acknowledged before the kill were sent again: {resent}"
        sent_after = {r.part_number for r in proxy.part_uploads()[before:]}
        assert sent_after | acked == set(range(1, 18))  # 80 MiB + 7 B in 5 MiB parts: 17
        wasted = sum(r.sent_bytes for r in proxy.part_uploads(whole=False) if r.cut or r.sent_bytes < r.body_bytes)
    assert wasted <= 2 * 5 * MiB  # at most the parts in flight at the kill
    direct = client_for(s3_server)
    assert_on_store(direct, StoreConfig(bucket=bucket, prefix="lab"), bundle)
    direct.close()


# --- store errors: one line each, and the queue keeps the bundle --------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("problem", ["wrong credentials", "missing bucket", "unreachable"])
def test_store_errors_are_one_line_and_the_queue_keeps_the_bundle(
    s3_server: EmbeddedServer, tmp_path: Path, problem: str
) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "kept", {"screen/video.mp4": 100_000})
    env = cli_env(s3_server, tmp_path / "data")
    to = f"s3://{bucket}/p"
    if problem == "wrong credentials":
        env["AWS_SECRET_ACCESS_KEY"] = "x" * 40
    elif problem == "missing bucket":
        to = "s3://no-such-bucket-here/p"
    else:
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "upload", str(bundle), "--to", to, "--progress", "never"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    expected = {
        "wrong credentials": "refused the credentials",
        "missing bucket": "does not exist",
        "unreachable": "cannot reach the store",
    }[problem]
    assert expected in lines[0]
    assert "x" * 40 not in proc.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "queue", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    rows = json.loads(listed.stdout)["bundles"]
    assert [(r["session_id"], r["state"]) for r in rows] == [("kept", "queued")]


@pytest.mark.slow
def test_pause_from_another_process_then_resume_sends_each_part_once(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "paused", {"screen/video.mp4": 40 * MiB}, seed=6)
    client = client_for(s3_server)
    db = tmp_path / "ledger.sqlite"
    with Ledger(db) as ledger, Ledger(db) as other:  # `other`: what `trajrec queue pause` in another shell opens
        uq = queue_for(ledger, client, bucket, part_size=5 * MiB, workers=1, bandwidth_bps=20 * MiB)
        row, _ = uq.enqueue(bundle)
        worker = threading.Thread(target=uq.run)
        worker.start()
        wait_until(lambda: ledger.bundle(row.id).bytes_done >= 10 * MiB, "two parts sent", 20)
        UploadQueue(other, client, uq.dest).pause()
        worker.join(20)
        assert not worker.is_alive(), "pause did not stop the upload"
        halfway = ledger.bundle(row.id)
        assert halfway.state == States.QUEUED and 0 < halfway.bytes_done < halfway.bytes_total
        uq.run()  # still paused: returns at once, nothing sent
        assert ledger.bundle(row.id).bytes_done == halfway.bytes_done
        UploadQueue(other, client, uq.dest).resume()
        uq.run()
        assert ledger.bundle(row.id).state == States.DONE
    assert uq.uploader.parts_sent == 8 + 1  # 40 MiB in 5 MiB parts, each once, and the manifest
    assert_on_store(client, uq.dest, bundle)
    client.close()


@pytest.mark.slow
def test_bandwidth_limit_and_delete_after_verified_upload(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "limited", {"screen/video.mp4": 12 * MiB, "b.bin": 1000}, seed=8)
    client = client_for(s3_server)
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in bundle.rglob("*"):
        if p.is_file():
            (copy / p.relative_to(bundle)).parent.mkdir(parents=True, exist_ok=True)
            (copy / p.relative_to(bundle)).write_bytes(p.read_bytes())
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        uq = queue_for(ledger, client, bucket, part_size=5 * MiB, bandwidth_bps=4 * MiB, delete_after=True)
        uq.enqueue(bundle)
        started = time.monotonic()
        uq.run()
        elapsed = time.monotonic() - started
        assert [b.state for b in ledger.bundles()] == [States.DONE]
    assert elapsed >= 0.8 * (12 * MiB) / (4 * MiB), f"12 MiB at 4 MiB/s took {elapsed:.1f} s"
    assert not bundle.exists(), "the local copy stays after a verified upload with delete_after"
    assert_on_store(client, uq.dest, copy)
    client.close()


@pytest.mark.slow
def test_upload_with_no_configuration_uses_the_embedded_store(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundles", "embedded", {"screen/video.mp4": 30 * MiB, "input/events.parquet": 999})
    env = {**os.environ, "TRAJREC_DATA_DIR": str(tmp_path / "data"), "TRAJREC_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "upload", str(tmp_path / "bundles"), "--progress", "never"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "uploaded and verified at s3://trajectories" in proc.stderr
    stored = tmp_path / "data" / "store" / "trajectories" / "embedded"  # rclone serves a plain directory
    for p in bundle.rglob("*"):
        if p.is_file():
            assert (stored / p.relative_to(bundle)).read_bytes() == p.read_bytes()
    again = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "upload", str(bundle), "--json", "--progress", "never"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "already uploaded" in again.stderr, again.stderr
    assert json.loads(again.stdout)["bundles"][0]["state"] == "done"


@pytest.mark.slow
def test_one_uploader_at_a_time_and_it_takes_bundles_queued_meanwhile(
    s3_server: EmbeddedServer, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    first_bundle = make_bundle(tmp_path, "first", {"screen/video.mp4": 12 * MiB}, seed=9)
    second_bundle = make_bundle(tmp_path, "second", {"screen/video.mp4": 3 * MiB}, seed=10)
    env = cli_env(s3_server, tmp_path / "data")
    to = ("--to", f"s3://{bucket}/lab")
    # the second (a fresh Python process) asks as soon as the first holds the queue, which then has 4 s of
    # sending left at 3 MB/s: room for a slow start on a busy 2-core machine
    first = upload_cli(first_bundle, env, *to, "--limit-rate", "3M", "--part-size", "5", "--json")
    try:
        db = tmp_path / "data" / "uploads.sqlite"
        wait_until(lambda: _runner(db) == first.pid, "the first uploader holding the queue", 20)
        second = subprocess.run(
            [sys.executable, "-m", "recorder.cli", "upload", str(second_bundle), *to, "--progress", "never"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr
        assert f"another uploader (pid {first.pid})" in second.stderr
        with Ledger(db) as ledger:  # exit 0 means stored and verified, even when another process sent it
            assert {b.session_id: b.state for b in ledger.bundles()}["second"] == "done"
        assert first.poll() is None or first.returncode == 0, "the second waited for the first to send its bundle"
    except BaseException:
        first.kill()
        first.communicate()
        raise
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    with Ledger(db) as ledger:
        assert sorted((b.session_id, b.state) for b in ledger.bundles()) == [("first", "done"), ("second", "done")]
    direct = client_for(s3_server)
    for b in (first_bundle, second_bundle):
        assert_on_store(direct, StoreConfig(bucket=bucket, prefix="lab"), b)
    direct.close()


def test_store_command_points_uploads_elsewhere_and_back(
    s3_server: EmbeddedServer, aws_isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recorder.cli import main

    bucket = fresh_bucket(s3_server)
    assert main(["store", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embedded"] is True  # no settings: the embedded store
    assert main(["store", "set", f"bucket={bucket}", f"endpoint_url={s3_server.endpoint_url}", "prefix=team-a"]) == 0
    capsys.readouterr()
    assert main(["store", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["url"], shown["endpoint_url"], shown["embedded"]) == (
        f"s3://{bucket}/team-a",
        s3_server.endpoint_url,
        False,
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["store", "check"]) == 0
    assert "reachable, credentials accepted, bucket present" in capsys.readouterr().out
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y" * 40)
    assert main(["store", "check"]) == 3
    err = capsys.readouterr().err
    assert "refused the credentials" in err and "y" * 40 not in err and len(err.strip().splitlines()) == 1
    assert main(["store", "set", "colour=blue"]) == 2
    assert main(["store", "set", "verify_tls=maybe"]) == 2
    assert main(["store", "reset"]) == 0
    capsys.readouterr()
    assert main(["store", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embedded"] is True
