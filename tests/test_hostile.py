"""Hostile bundles, live directories and destinations: names from outside never become paths outside the
target, and files are never read or written through links (the one rule in trajrec.paths)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recorder.errors import SealError
from recorder.sealing.seal import seal
from recorder.sealing.synthetic import SyntheticSpec, SyntheticTruth, synthesize_live
from recorder.writers.log import LiveLog, iter_live_log
from tests.helpers.s3 import (
    aws_isolated_fixture,  # noqa: F401  (pytest fixture)
    cli_env_fixture,  # noqa: F401  (pytest fixture)
    fresh_bucket,
    put_bundle,
    s3_server_fixture,  # noqa: F401  (pytest fixture)
)
from trajrec import format as fmt
from trajrec.errors import UnsafePathError
from trajrec.paths import member_path, member_problem, open_member, session_id_problem
from trajrec.topics import Topic
from trajrec.validation import validate_bundle
from uploader.config import StoreConfig
from uploader.download import download_bundle
from uploader.errors import BundleModified
from uploader.ledger import Ledger
from uploader.listing import list_bundles
from uploader.queue import SealedBundle, enqueue_bundle
from uploader.server import EmbeddedServer

BAD_IDS: list[Any] = ["../escape", "/tmp/abs", "a/b", "", ".", "..", ".hidden", "x\x1b[31m", "a" * 129, 5, None]
BAD_MEMBERS = ["/etc/passwd", "../x", "a/../../x", "a\\b", "a\x00b", "a\x1bb", "/".join(["d"] * 40) + "/f", ""]


# --- the rule -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sid", BAD_IDS)
def test_session_ids_that_cannot_name_a_folder(sid: Any) -> None:
    assert session_id_problem(sid) is not None


@pytest.mark.parametrize("sid", ["20261125T101500Z-1a2b3c4d", "B-2", "a.b_c-d", "x" * 128])
def test_session_ids_that_can(sid: str) -> None:
    assert session_id_problem(sid) is None


@pytest.mark.parametrize("name", BAD_MEMBERS)
def test_member_paths_refused(name: str) -> None:
    assert member_problem(name) is not None


def test_members_open_only_as_regular_files_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "screen").mkdir(parents=True)
    (root / "screen" / "video.mp4").write_bytes(b"ok")
    secret = tmp_path / "secret"
    secret.write_bytes(b"private key")
    (root / "link").symlink_to(secret)
    (root / "linkdir").symlink_to(tmp_path)
    os.mkfifo(root / "fifo")
    with open_member(root, "screen/video.mp4") as f:
        assert f.read() == b"ok"
    for name in ("link", "linkdir/secret", "fifo", "screen"):
        with pytest.raises(UnsafePathError):
            open_member(root, name).close()
    with pytest.raises(UnsafePathError):
        open_member(root, "link", "wb").close()
    assert secret.read_bytes() == b"private key"


def test_member_path_is_the_whole_path_and_refuses_links_and_files_on_the_way(tmp_path: Path) -> None:
    assert member_path(tmp_path, "a/b/c.bin") == tmp_path / "a" / "b" / "c.bin"  # nothing exists yet
    (tmp_path / "f").write_bytes(b"")
    (tmp_path / "l").symlink_to(tmp_path)
    for name, why in (("f/x", "is a file"), ("l/x", "symbolic link"), ("../x", "'..'")):
        with pytest.raises(UnsafePathError, match=why):
            member_path(tmp_path, name)


# --- seal / repair: the live directory's session id -----------------------------------------------------------
def live_dir(tmp_path: Path) -> Path:
    live = tmp_path / "live"
    synthesize_live(live, SyntheticSpec(duration_s=1, width=160, height=120), session_id="s1", stop=False)
    return live


def set_session(live: Path, **change: Any) -> None:
    path = live / fmt.LIVE_SESSION
    session = json.loads(path.read_text())
    session.update(change)
    path.write_text(json.dumps(session))


@pytest.mark.slow  # a subprocess per case
@pytest.mark.parametrize("sid", ["../escape", "/tmp/abs-escape", "a/b", "..", "x\x1b[2J"])
def test_repair_refuses_a_session_id_that_is_not_a_folder_name(tmp_path: Path, sid: str) -> None:
    live = live_dir(tmp_path)
    set_session(live, session_id=sid)
    out = tmp_path / "out"
    victim = tmp_path / ".escape.partial"  # what a crafted id would have removed on the way
    victim.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    r = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "repair", str(live), "--out", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert "session_id" in r.stderr and "\x1b" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before and victim.is_dir()
    assert not out.exists() or not any(out.iterdir())
    assert not Path("/tmp/abs-escape").exists()


def test_seal_does_not_read_session_json_through_a_link(tmp_path: Path) -> None:
    live = live_dir(tmp_path)
    real = tmp_path / "elsewhere.json"
    shutil.move(live / fmt.LIVE_SESSION, real)
    (live / fmt.LIVE_SESSION).symlink_to(real)
    with pytest.raises(SealError, match="symbolic link"):
        seal(live, tmp_path / "out", recover=True)


# --- upload: what the manifest names ----------------------------------------------------------------------------
def test_upload_refuses_links_absolute_paths_and_bad_ids(bundle: Path, tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----")
    manifest = json.loads((bundle / fmt.MANIFEST).read_text())
    video = next(f for f in manifest["files"] if f["path"] == fmt.VIDEO)

    def attempt(change: Any) -> str:
        m = json.loads(json.dumps(manifest))
        change(m)
        (bundle / fmt.MANIFEST).write_text(json.dumps(m))
        with pytest.raises(BundleModified) as e:
            SealedBundle.open(bundle)
        return str(e.value)

    assert "absolute" in attempt(lambda m: m["files"].append({**video, "path": str(secret)}))
    assert "'..'" in attempt(lambda m: m["files"].append({**video, "path": "../id_rsa"}))
    assert "session id" in attempt(lambda m: m.update(session_id="../other"))
    (bundle / fmt.MANIFEST).write_text(json.dumps(manifest))
    data = (bundle / fmt.VIDEO).read_bytes()
    (bundle / fmt.VIDEO).unlink()
    (tmp_path / "real.mp4").write_bytes(data)  # the same bytes: only the link is wrong
    (bundle / fmt.VIDEO).symlink_to(tmp_path / "real.mp4")
    with pytest.raises(BundleModified, match="symbolic link"), Ledger(tmp_path / "q.sqlite") as ledger:
        enqueue_bundle(ledger, bundle, StoreConfig(bucket="lab-bucket"))


# --- download: what is already in the destination ---------------------------------------------------------------
@pytest.mark.usefixtures("aws_isolated")
def test_download_never_writes_through_a_link_in_the_destination(
    s3_server: EmbeddedServer, sample: tuple[Path, SyntheticTruth], tmp_path: Path
) -> None:
    source, _ = sample
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    put_bundle(client, bucket, "p", source)
    (remote,) = list_bundles(client, bucket, "p")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "victim"
    target.write_bytes(b"keep me")

    dest = tmp_path / "dest"
    (dest / remote.session_id / "screen").mkdir(parents=True)
    (dest / remote.session_id / (fmt.VIDEO + ".part")).symlink_to(target)  # a planted partial file: replaced
    result = download_bundle(client, bucket, remote, dest)
    assert result.ok, result
    assert target.read_bytes() == b"keep me"
    got = dest / remote.session_id / fmt.VIDEO
    assert not got.is_symlink() and got.read_bytes() == (source / fmt.VIDEO).read_bytes()

    dest1 = tmp_path / "dest1"
    (dest1 / remote.session_id / "screen").mkdir(parents=True)
    (dest1 / remote.session_id / fmt.VIDEO).symlink_to(target)  # a link where a file of the bundle goes
    result = download_bundle(client, bucket, remote, dest1)
    assert not result.ok and "symbolic link" in str(result.error), result
    assert target.read_bytes() == b"keep me"

    dest2 = tmp_path / "dest2"
    dest2.mkdir()
    (dest2 / remote.session_id).symlink_to(outside)  # the bundle's folder itself is a link
    result = download_bundle(client, bucket, remote, dest2)
    assert not result.ok
    assert sorted(p.name for p in outside.iterdir()) == ["victim"] and target.read_bytes() == b"keep me"
    client.close()


# --- the terminal: text from a bundle or a store never acts on it -------------------------------------------------
def test_visible_shows_control_characters() -> None:
    from trajrec.text import visible

    assert visible("plain title, ünïcode ✓") == "plain title, ünïcode ✓"
    assert visible("a\x1b[2Jb\rc\u202ed") == "a\\x1b[2Jb\\x0dc\\u202ed"
    assert visible("two\nlines\tok", keep="\n\t") == "two\nlines\tok"


@pytest.mark.slow
def test_info_and_errors_print_bundle_text_visibly(bundle: Path) -> None:
    manifest = json.loads((bundle / fmt.MANIFEST).read_text())
    manifest["task"]["title"] = "evil\x1b]0;owned\x07\x1b[2J title"
    (bundle / fmt.MANIFEST).write_text(json.dumps(manifest))
    info = subprocess.run([sys.executable, "-m", "recorder.cli", "info", str(bundle)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "\x1b" not in info.stdout and "\x07" not in info.stdout and "evil\\x1b]0;owned" in info.stdout
    (bundle / "weird\x1b[31mname").write_bytes(b"x")  # a file the manifest does not list, named with an escape
    check = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "validate", "--progress", "always", str(bundle)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert check.returncode == 1
    assert "weird\\x1b[31mname" in check.stdout + check.stderr
    assert "\x1b[31m" not in check.stdout + check.stderr


# --- listings from a store: bounded ------------------------------------------------------------------------------
class EndlessStore:
    """A store whose listing never ends (a new page token every page) or goes round (the same token again):
    the pure pagination logic under test needs no more than this."""

    def __init__(self, repeat: bool) -> None:
        self.repeat, self.pages = repeat, 0

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.pages += 1
        token = "again" if self.repeat else f"t{self.pages}"
        contents = [{"Key": f"p/s{self.pages}-{i}/manifest.json", "Size": 1} for i in range(1000)]
        return {"Contents": contents, "IsTruncated": True, "NextContinuationToken": token}


@pytest.mark.parametrize("repeat", [True, False])
def test_a_listing_that_never_ends_or_goes_round_is_an_error_not_a_hang(repeat: bool) -> None:
    from trajrec.errors import ListingError
    from trajrec.source.s3 import listed

    store = EndlessStore(repeat)
    with pytest.raises(ListingError, match="goes round" if repeat else "more than 50000 objects"):
        for _ in listed(store, "b", "p/", 50_000):
            pass
    assert store.pages <= 51


@pytest.mark.usefixtures("aws_isolated")
def test_download_holds_sizes_to_the_manifest_and_checks_room_first(
    s3_server: EmbeddedServer, sample: tuple[Path, SyntheticTruth], tmp_path: Path
) -> None:
    from uploader.download import download_many

    source, _ = sample
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    for name, size_of_video in (("good", None), ("huge", 10**14), ("short", 1)):
        copy = tmp_path / "src" / f"{name}-1"
        shutil.copytree(source, copy)
        m = json.loads((copy / fmt.MANIFEST).read_text())
        m["session_id"] = copy.name
        if size_of_video is not None:  # the same sha256: only the size claimed is wrong
            video = next(f for f in m["files"] if f["path"] == fmt.VIDEO)
            video["bytes"] = size_of_video if size_of_video > 1 else video["bytes"] + size_of_video
        (copy / fmt.MANIFEST).write_text(json.dumps(m))
        put_bundle(client, bucket, "p", copy)
    remotes = list_bundles(client, bucket, "p")
    results = {r.session_id: r for r in download_many(client, bucket, remotes, tmp_path / "d")}
    assert results["good-1"].ok
    assert not results["huge-1"].ok and "free some space" in str(results["huge-1"].error)
    assert not (tmp_path / "d" / "huge-1" / (fmt.VIDEO + ".part")).exists()  # refused before any byte
    assert not results["short-1"].ok and "the manifest says" in str(results["short-1"].error)
    client.close()


@pytest.mark.usefixtures("aws_isolated", "cli_env")
def test_a_bundle_skipped_for_its_session_id_is_a_failed_row_and_a_non_zero_exit(
    s3_server: EmbeddedServer,
    sample: tuple[Path, SyntheticTruth],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from recorder.cli import main

    source, _ = sample
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    put_bundle(client, bucket, "p", source)
    client.put_object(Bucket=bucket, Key="p/bad id\x1b[2J/manifest.json", Body=b"{}")
    client.close()
    assert main(["download", "--json", "--progress", "never", f"s3://{bucket}/p", str(tmp_path / "d")]) == 3
    report = json.loads(capsys.readouterr().out)
    rows = {b["session_id"]: b for b in report["bundles"]}
    assert rows[source.name]["status"] == "downloaded"
    assert rows["bad id\x1b[2J"]["status"] == "failed" and "skipped" in rows["bad id\x1b[2J"]["error"]
    assert report["summary"]["failed"] == 1
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [source.name]


@pytest.mark.s3
@pytest.mark.usefixtures("aws_isolated")
def test_one_refused_bundle_does_not_stop_an_upload_batch(
    sample: tuple[Path, SyntheticTruth], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recorder.cli import main

    source, _ = sample
    folder = tmp_path / "bundles"
    good, bad = folder / "good-1", folder / "bad-1"
    for copy in (good, bad):
        shutil.copytree(source, copy)
        m = json.loads((copy / fmt.MANIFEST).read_text())
        m["session_id"] = copy.name
        (copy / fmt.MANIFEST).write_text(json.dumps(m))
    data = (bad / fmt.VIDEO).read_bytes()
    (bad / fmt.VIDEO).write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # changed after sealing
    assert main(["upload", "--json", "--progress", "never", str(folder)]) == 3  # the embedded store
    report = json.loads(capsys.readouterr().out)
    assert [(b["session_id"], b["state"]) for b in report["bundles"]] == [("good-1", "done")]
    assert [(Path(r["path"]).name, r["state"]) for r in report["refused"]] == [("bad-1", "refused")]
    assert report["ok"] is False


@pytest.mark.parametrize("name", [fmt.LIVE_LOG, fmt.LIVE_VIDEO, fmt.LIVE_AUDIO])
def test_seal_refuses_a_live_file_that_is_a_link(tmp_path: Path, name: str) -> None:
    live = live_dir(tmp_path)
    real = tmp_path / "elsewhere"
    shutil.move(live / name, real)
    (live / name).symlink_to(real)
    with pytest.raises(SealError, match="symbolic link"):
        seal(live, tmp_path / "out", recover=True)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_damaged_log_record_is_left_out_and_counted_and_the_rest_is_sealed(tmp_path: Path) -> None:
    live = live_dir(tmp_path)
    records = list(iter_live_log(live / fmt.LIVE_LOG))
    events = [i for i, (topic, _t, _r) in enumerate(records) if topic == Topic.EVENT]
    (live / fmt.LIVE_LOG).unlink()
    log = LiveLog(live / fmt.LIVE_LOG)
    for i, (topic, t, rec) in enumerate(records):
        if i == events[0]:
            rec = {**rec, "kind": "bogus", "t_ns": 2**70}
        log.write(Topic(topic), t, rec)
    log.close()
    bundle = seal(live, tmp_path / "out", recover=True)
    m = json.loads((bundle / fmt.MANIFEST).read_text())
    assert m["status"] == "recovered"
    assert any(f"1 damaged records left out of the live log ({Topic.EVENT}: 1)" in n for n in m["notes"])
    assert m["streams"]["input"]["events"] == len(events) - 1
    report = validate_bundle(str(bundle), deep=True)
    assert report.valid, report.findings


def test_session_json_that_does_not_fit_the_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    live = live_dir(tmp_path)
    set_session(live, screen={"width": "wide", "height": 64, "pix_fmt": "yuv420p"})
    with pytest.raises(SealError, match=r"not a session this recorder wrote \(screen") as e:
        seal(live, tmp_path / "out", recover=True)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


# --- isolation: whatever one bundle raises is that bundle's row ----------------------------------------------------
def _two_bundles(source: Path, root: Path) -> list[Path]:
    out = []
    for name in ("good-1", "bad-1"):
        copy = root / name
        shutil.copytree(source, copy)
        m = json.loads((copy / fmt.MANIFEST).read_text())
        m["session_id"] = name
        (copy / fmt.MANIFEST).write_text(json.dumps(m))
        out.append(copy)
    return out


def _memory_error_for_bad(real: Any) -> Any:
    """`real`, except that it runs out of memory on anything about bad-1 (a fault injected into a real run)."""

    def injected(*args: Any, **kwargs: Any) -> Any:
        if any("bad-1" in (a.decode(errors="replace") if isinstance(a, bytes) else str(a)) for a in args):
            raise MemoryError("injected")
        return real(*args, **kwargs)

    return injected


@pytest.mark.usefixtures("aws_isolated")
def test_a_memory_error_in_one_bundle_is_its_row_in_validate_and_upload(
    sample: tuple[Path, SyntheticTruth],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import trajrec.validation.bundle as validation
    import uploader.queue as queue
    from recorder.cli import main

    good, bad = _two_bundles(sample[0], tmp_path / "folder")
    monkeypatch.setattr(validation, "open_source", _memory_error_for_bad(validation.open_source))
    assert main(["validate", "--json", "--progress", "never", str(tmp_path / "folder")]) == 1
    reports = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)["bundles"]}
    assert reports["good-1"]["valid"] is True
    assert [f["code"] for f in reports["bad-1"]["findings"]] == ["internal"]
    assert "MemoryError" in reports["bad-1"]["findings"][0]["message"]

    monkeypatch.setattr(queue.SealedBundle, "open", _memory_error_for_bad(queue.SealedBundle.open))
    assert main(["upload", "--json", "--progress", "never", str(good), str(bad)]) == 3  # the embedded store
    report = json.loads(capsys.readouterr().out)
    assert [(b["session_id"], b["state"]) for b in report["bundles"]] == [("good-1", "done")]
    assert [(Path(r["path"]).name, "MemoryError" in r["reason"]) for r in report["refused"]] == [("bad-1", True)]


@pytest.mark.usefixtures("aws_isolated", "cli_env")
def test_a_memory_error_in_one_bundle_is_its_row_in_download(
    s3_server: EmbeddedServer,
    sample: tuple[Path, SyntheticTruth],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uploader.fetch as fetch
    from recorder.cli import main

    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    for bundle in _two_bundles(sample[0], tmp_path / "src"):
        put_bundle(client, bucket, "p", bundle)
    client.close()
    monkeypatch.setattr(fetch, "load_manifest", _memory_error_for_bad(fetch.load_manifest))
    assert main(["download", "--json", "--progress", "never", f"s3://{bucket}/p", str(tmp_path / "d")]) == 3
    rows = {b["session_id"]: b for b in json.loads(capsys.readouterr().out)["bundles"]}
    assert rows["good-1"]["status"] == "downloaded"
    assert rows["bad-1"]["status"] == "failed" and "MemoryError" in rows["bad-1"]["error"]
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["good-1"]


@pytest.mark.parametrize("name", [fmt.VIDEO, fmt.RAW_LOG, fmt.MARKERS])
def test_an_edit_never_reads_a_bundle_file_through_a_link(bundle: Path, tmp_path: Path, name: str) -> None:
    from recorder.errors import BundleEditError
    from recorder.sealing.edit import edit_bundle

    real = tmp_path / "elsewhere"
    shutil.move(bundle / name, real)
    (bundle / name).symlink_to(real)
    with pytest.raises(BundleEditError, match="nothing was changed"):
        edit_bundle(bundle, marker_notes={0: "new note"}, out=tmp_path / "edited")
    assert not (tmp_path / "edited").exists() and (bundle / name).is_symlink()
