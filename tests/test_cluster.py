"""`trajrec validate --scheduler`: one task per bundle on a real Dask cluster (a `dask scheduler` and two `dask
worker` processes on loopback), the workers reading a few dozen bundles (some broken in known ways) straight from
the embedded S3 store with their own credentials. The cluster reports exactly what the local run reports, also
when a worker is killed mid-run, and no secret of the store is in the task graph."""

from __future__ import annotations

import json
import pickle
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from recorder.cli import main
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from tests.helpers.bundles import edit_manifest
from tests.helpers.dask_cluster import Cluster, dask_cluster
from tests.helpers.s3 import aws_isolated_fixture, cli_env_fixture, fresh_bucket, s3_server_fixture  # noqa: F401
from trajrec import format as fmt

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]

N_SOUND = 21


@pytest.fixture(scope="module")
def store_bundles(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> tuple[str, dict[str, str]]:
    """A bucket holding N_SOUND sound bundles and three broken ones under lab/: a video changed after sealing, a
    file missing, a manifest that is not the format's. Returns the bucket and the broken ones' names."""
    root = tmp_path_factory.mktemp("cluster-bundles")
    spec = SyntheticSpec(duration_s=2.0, width=160, height=120, audio=True, seed=0)
    first, _ = synthesize_bundle(root, spec)
    names = {"sound": first.name}
    for i in range(N_SOUND + 3 - 1):  # copies under their own session ids: fast, and each a bundle of its own
        sid = f"20261203T1000{i // 60:02d}Z-{i:08x}"
        shutil.copytree(first, root / sid)
        edit_manifest(root / sid, lambda m, sid=sid: m.update(session_id=sid))
    broken = sorted(p for p in root.iterdir() if p.name != first.name)[-3:]
    video = broken[0] / fmt.VIDEO
    video.write_bytes(video.read_bytes()[:-100])
    (broken[1] / fmt.MARKERS).unlink()
    edit_manifest(broken[2], lambda m: m.update(status="done-ish"))
    names.update(changed=broken[0].name, missing=broken[1].name, schema=broken[2].name)
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    for b in root.iterdir():
        put_bundle_existing(client, bucket, b)
    return bucket, names


def put_bundle_existing(client: Any, bucket: str, bundle: Path) -> None:
    """put_bundle for a bundle that may lack a file its manifest lists."""
    import hashlib

    for p in sorted(q for q in bundle.rglob("*") if q.is_file() and q.name != "manifest.json"):
        data = p.read_bytes()
        client.put_object(Bucket=bucket, Key=f"lab/{bundle.name}/{p.relative_to(bundle)}", Body=data,
                          Metadata={"sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
    data = (bundle / "manifest.json").read_bytes()
    client.put_object(Bucket=bucket, Key=f"lab/{bundle.name}/manifest.json", Body=data,
                      Metadata={"sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Any:
    creds = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
             "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    with dask_cluster(tmp_path_factory.mktemp("dask"), {"w1": creds, "w2": creds}) as c:
        yield c


def _validate(capsys: Any, *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["validate", "--json", *argv])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


def _by_bundle(doc: dict[str, Any]) -> dict[str, Any]:
    return {b["path"]: {k: v for k, v in b.items() if k != "seconds"} for b in doc["bundles"]}  # all but timing


def test_the_cluster_reports_what_the_local_run_reports(
    store_bundles: tuple[str, dict[str, str]], cluster: Cluster, cli_env: None, capsys: Any, tmp_path: Path
) -> None:
    bucket, names = store_bundles
    url = f"s3://{bucket}/lab"
    code, here, _ = _validate(capsys, url)
    code_c, there, err = _validate(capsys, "--scheduler", cluster.address, url)
    assert code == code_c == 1, err
    assert _by_bundle(there) == _by_bundle(here)
    assert [b["path"] for b in there["bundles"]] == [b["path"] for b in here["bundles"]]  # the same order
    bad = {b["path"].rsplit("/", 1)[-1]: {f["code"] for f in b["findings"]} for b in there["bundles"]
           if not b["valid"]}  # fmt: skip
    assert set(bad) == {names["changed"], names["missing"], names["schema"]}
    assert there["summary"]["bundles"] == N_SOUND + 3 and there["summary"]["valid"] == N_SOUND
    out = tmp_path / "results.parquet"  # --out: rows as they come, the same reports
    code_o, doc, err = _validate(capsys, "--scheduler", cluster.address, "--out", str(out), url)
    assert code_o == 1 and doc["summary"]["bundles"] == N_SOUND + 3 and "bundles" not in doc, err
    rows = pq.read_table(out).to_pylist()
    assert {r["path"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows} == _by_bundle(here)
    assert not out.with_name(out.name + ".partial").exists()
    with pytest.MonkeyPatch.context() as mp:  # DASK_SCHEDULER_ADDRESS does what --scheduler does
        mp.setenv("DASK_SCHEDULER_ADDRESS", cluster.address)
        assert _by_bundle(_validate(capsys, url)[1]) == _by_bundle(here)


def test_a_worker_killed_mid_run_changes_nothing(
    store_bundles: tuple[str, dict[str, str]], cluster: Cluster, cli_env: None, capsys: Any, tmp_path: Path
) -> None:
    from distributed import Client

    bucket, _ = store_bundles
    url = f"s3://{bucket}/lab"
    _, here, _ = _validate(capsys, "--deep", url)
    killed: list[str] = []

    def kill_when_busy() -> None:
        with Client(cluster.address, timeout=20) as c:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = {w: tasks for w, tasks in c.processing().items() if tasks}
                names = {w: info["name"] for w, info in c.scheduler_info()["workers"].items()}
                victim = next((names[w] for w in busy if names.get(w) == "w1"), None)
                if victim is not None:
                    cluster.kill(victim)
                    killed.append(victim)
                    return
                time.sleep(0.01)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    code, there, err = _validate(capsys, "--deep", "--scheduler", cluster.address, url)
    killer.join()
    assert killed == ["w1"], "the worker was never seen busy"
    assert cluster.workers["w1"].poll() is not None  # it is gone; w2 did its work
    assert code == 1, err
    assert _by_bundle(there) == _by_bundle(here)  # nothing lost, nothing reported twice
    assert len(there["bundles"]) == N_SOUND + 3


def test_no_secret_travels_with_the_tasks(
    store_bundles: tuple[str, dict[str, str]], s3_server: Any, cli_env: None, capsys: Any, tmp_path: Path
) -> None:
    from recorder.dirs import uploader_dirs
    from uploader.cluster import refs
    from uploader.remote import RemoteBundles

    bucket, _ = store_bundles
    url = f"s3://{bucket}/lab"
    with RemoteBundles(uploader_dirs()) as remote:
        found = refs(remote.expand(url), remote)
    graph = pickle.dumps(found)
    assert s3_server.secret_key.encode() not in graph and s3_server.access_key.encode() not in graph
    assert all(r.store is not None and r.store.endpoint_url == s3_server.endpoint_url for r in found)
    # a worker without credentials of its own cannot read a thing, although the lab machine could
    with dask_cluster(tmp_path / "dask", {"bare": {}}) as bare:
        code, _, err = _validate(capsys, "--scheduler", bare.address, url)
    assert code == 3 and "Traceback" not in err, err
    assert "credentials" in err.lower() or "access" in err.lower(), err


def test_report_and_export_run_on_the_cluster_as_they_do_here(
    store_bundles: tuple[str, dict[str, str]], cluster: Cluster, cli_env: None, capsys: Any, tmp_path: Path
) -> None:
    import hashlib

    bucket, names = store_bundles
    url = f"s3://{bucket}/lab"
    results = {}
    for where, extra in (("here", []), ("cluster", ["--scheduler", cluster.address])):
        sides = tmp_path / f"sides-{where}"
        sides.mkdir()
        code = main(["report", "--json", "--sidecars", str(sides), *extra, url])
        doc = json.loads(capsys.readouterr().out)
        grades = {e["location"]: (e.get("grade"), e.get("quality"), e.get("error")) for e in doc["bundles"]}
        dest = tmp_path / f"export-{where}"
        code_e = main(["export", "--format", "steps", "--json", *extra, str(dest), url])
        exported = json.loads(capsys.readouterr().out)
        tree = {str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(dest.rglob("*")) if p.is_file()}  # fmt: skip
        results[where] = (code, grades, sorted(p.name for p in sides.iterdir()), code_e,
                          [(r["location"], r["result"]) for r in exported["bundles"]], tree)  # fmt: skip
    assert results["cluster"] == results["here"]
    code, grades, sides_written, code_e, exported, tree = results["cluster"]
    assert code == code_e == 1  # the broken bundles
    assert len(sides_written) == N_SOUND and len([r for r in exported if r[1] == "exported"]) == N_SOUND
    left_out = {r[0].rsplit("/", 1)[-1] for r in exported if r[1] != "exported"}
    assert left_out == {names[k] for k in ("changed", "missing", "schema")}
    assert any(name.endswith("steps.jsonl") for name in tree)


def test_ctrl_c_cancels_the_tasks_on_the_cluster(
    store_bundles: tuple[str, dict[str, str]], cluster: Cluster, s3_server: Any, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from distributed import Client

    bucket, _ = store_bundles
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    cmd = [sys.executable, "-m", "recorder.cli", "validate", "--deep", "--scheduler", cluster.address, f"s3://{bucket}/lab"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with Client(cluster.address, timeout=20) as c:

        def queued() -> int:
            return int(c.run_on_scheduler(lambda dask_scheduler: sum(  # type: ignore[misc]
                ts.key.startswith("trajrec-") for ts in dask_scheduler.tasks.values())))  # fmt: skip

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(c.processing().values()):
            time.sleep(0.01)
        assert queued() > 2  # the run is under way, most of it still to do
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and queued():
            time.sleep(0.05)
        assert queued() == 0  # nothing of the run is left on the cluster
    assert b"Traceback" not in err
