"""Downloading and validating bundles from the real local S3 server (rclone serve s3): listing and filters,
verified round trips, skipping what is there, resuming a .part with a ranged GET, a corrupted object, validation
straight from the store (the CLI's, and the lab package's `trajrec.open`/`trajrec.validate` on s3:// URLs), and
the CLI's exit codes and one-line errors.

Bundles are put on the store with plain put_object in the documented layout (`<prefix>/<session_id>/<relpath>`,
`sha256` metadata, manifest.json last), independently of the uploader under test elsewhere."""

from __future__ import annotations

import io
import json
import random
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from recorder.cli import main
from recorder.sealing.synthetic import SyntheticSpec, SyntheticTruth, synthesize_bundle
from tests.helpers.s3 import (
    BUCKET,
    aws_isolated_fixture,  # noqa: F401  (pytest fixture)
    cli_env_fixture,  # noqa: F401  (pytest fixture)
    closed_port,
    fresh_bucket,
    put_bundle,
    running_server,
    s3_server_fixture,  # noqa: F401  (pytest fixture)
)
from trajrec import format as fmt
from trajrec.errors import RetriesExceeded, UsageError
from trajrec.retry import RetryPolicy
from trajrec.source.s3 import S3Source
from trajrec.validation import validate_bundle
from uploader.download import PART_SUFFIX, download_bundle, download_many, list_bundles
from uploader.server import EmbeddedServer

pytestmark = [pytest.mark.usefixtures("aws_isolated"), pytest.mark.slow]  # real bundles of ~22 MB on a real store
PREFIX = "labs/run1"
FAST = RetryPolicy(attempts=3, base_s=0.01, cap_s=0.05)
OLD_MTIME = "1704067200"  # 2024-01-01T00:00:00Z; rclone serve s3 takes `mtime` metadata as the LastModified


# --- helpers ----------------------------------------------------------------------------------------------
def files_of(bundle: Path) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = json.loads((bundle / fmt.MANIFEST).read_text())["files"]
    return files


@dataclass
class Traffic:
    """What a client asked the store for (botocore event hooks on a real client: no mock)."""

    gets: list[tuple[str, str | None]]  # (url path, Range header) as sent
    asked: list[str]  # Range headers the client made, before a test's hook dropped them
    replies: list[tuple[int, int, str | None]]  # (status, Content-Length, Content-Range)

    def paths(self) -> list[str]:
        return [path for path, _ in self.gets]


@contextmanager
def traffic(client: Any, *, drop_range: bool = False) -> Iterator[Traffic]:
    seen = Traffic([], [], [])

    def before_sign(request: Any, **_: Any) -> None:
        if "Range" in request.headers:
            seen.asked.append(request.headers["Range"])
            if drop_range:  # as a store that ignores Range would: answer 200 with the whole object
                del request.headers["Range"]

    def before_send(request: Any, **_: Any) -> None:
        value = request.headers.get("Range")
        ranged = value.decode() if isinstance(value, bytes) else value
        seen.gets.append((request.url.split("?")[0].split("/", 3)[3], ranged))

    def after_call(http_response: Any, parsed: Any, **_: Any) -> None:
        seen.replies.append((http_response.status_code, parsed.get("ContentLength", -1), parsed.get("ContentRange")))

    events = client.meta.events
    handlers = [
        ("before-sign.s3.GetObject", before_sign),
        ("before-send.s3.GetObject", before_send),
        ("after-call.s3.GetObject", after_call),
    ]
    for name, handler in handlers:
        events.register(name, handler)
    try:
        yield seen
    finally:
        for name, handler in handlers:
            events.unregister(name, handler)


def assert_same_bundle(original: Path, copy: Path) -> None:
    for rel in [f["path"] for f in files_of(original)] + [fmt.MANIFEST]:
        assert (copy / rel).read_bytes() == (original / rel).read_bytes(), rel
    leftovers = [p.name for p in copy.rglob("*") if p.name.endswith((PART_SUFFIX, ".tmp"))]
    assert leftovers == []


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundles(sample: tuple[Path, SyntheticTruth], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three real bundles: the 4 s sample, a 3 s one without audio, and ~22 MB (75 s of 192 kHz voiceover)."""
    root = tmp_path_factory.mktemp("bundles")
    quiet, _ = synthesize_bundle(root, SyntheticSpec(duration_s=3.0, width=320, height=240, audio=False, seed=2))
    big, _ = synthesize_bundle(root, SyntheticSpec(duration_s=75.0, width=640, height=360, sample_rate=192_000, seed=3))
    return [sample[0], quiet, big]


@pytest.fixture(scope="module")
def good(s3_server: EmbeddedServer, bundles: list[Path]) -> str:
    """A bucket holding the three bundles under PREFIX (read-only for the tests)."""
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    for b in bundles:
        put_bundle(client, bucket, PREFIX, b)
    client.close()
    return bucket


@pytest.fixture
def client(s3_server: EmbeddedServer) -> Iterator[Any]:
    c = s3_server.client()
    yield c
    c.close()


# --- listing ----------------------------------------------------------------------------------------------
def test_list_bundles_one_level_down_with_filters(s3_server: EmbeddedServer, client: Any) -> None:
    bucket = fresh_bucket(s3_server)
    objects = {
        "p/A-1/manifest.json": b"{}",
        "p/A-1/screen/video.mp4": b"x" * 10,
        "p/B-2/manifest.json": b"{ }",
        "p/deep/C/manifest.json": b"{}",  # two levels down: not a bundle of p
        "p/D/screen/video.mp4": b"x",  # no manifest (an upload in progress): not listed
        "pother/E/manifest.json": b"{}",  # another prefix that merely starts alike
    }
    for key, body in objects.items():
        meta = {"mtime": OLD_MTIME} if key.startswith("p/A-1/") else {}
        client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta)
    found = list_bundles(client, bucket, "p")
    assert [(b.session_id, b.manifest_key, b.manifest_size, b.bytes) for b in found] == [
        ("A-1", "p/A-1/manifest.json", 2, 12),
        ("B-2", "p/B-2/manifest.json", 3, 3),
    ]
    assert found[0].key_prefix == "p/A-1/"
    assert list_bundles(client, bucket, "p/") == found
    assert [b.session_id for b in list_bundles(client, bucket, "p", match="B*")] == ["B-2"]
    from datetime import datetime

    since = datetime(2025, 1, 1)  # naive: UTC
    assert [b.session_id for b in list_bundles(client, bucket, "p", since=since)] == ["B-2"]
    assert list_bundles(client, bucket, "p", match="A*", since=since) == []
    assert list_bundles(client, bucket, "nothing") == []
    # a prefix that is itself a bundle
    assert list_bundles(client, bucket, "p/A-1") == []
    (own,) = list_bundles(client, bucket, "p/A-1", include_prefix=True)
    assert (own.session_id, own.manifest_key, own.bytes) == ("A-1", "p/A-1/manifest.json", 12)


# --- download ---------------------------------------------------------------------------------------------
def test_download_is_byte_identical_and_valid_then_a_second_run_fetches_no_file(
    s3_server: EmbeddedServer, good: str, bundles: list[Path], client: Any, tmp_path: Path
) -> None:
    remotes = list_bundles(client, good, PREFIX)
    assert [r.session_id for r in remotes] == sorted(b.name for b in bundles)
    done: list[int] = []
    results = download_many(client, good, remotes, tmp_path, jobs=3, progress=done.append, retry=FAST)
    total = sum(r.bytes for r in remotes)
    assert total > 20_000_000
    assert [r.status for r in results] == ["downloaded"] * 3
    assert sum(done) == total == sum(r.bytes for r in results) == sum(r.bytes_downloaded for r in results)
    for original in bundles:
        copy = tmp_path / original.name
        assert_same_bundle(original, copy)
        report = validate_bundle(str(copy), deep=True)
        assert report.findings == [], report.findings
    # again: only the manifests are fetched; every file is found verified on disk
    with traffic(client) as seen:
        again = download_many(client, good, remotes, tmp_path, jobs=3, retry=FAST)
    assert [r.status for r in again] == ["present"] * 3
    assert [(r.files_downloaded, r.files_skipped) for r in again] == [
        (0, len(files_of(b))) for b in sorted(bundles, key=lambda b: b.name)
    ]
    assert sorted(seen.paths()) == sorted(f"{good}/{r.manifest_key}" for r in remotes)


def test_a_partial_file_is_resumed_with_a_range_for_the_missing_bytes_only(
    good: str, bundles: list[Path], client: Any, tmp_path: Path
) -> None:
    big = bundles[2]
    (remote,) = list_bundles(client, good, PREFIX, match=big.name)
    assert download_bundle(client, good, remote, tmp_path, retry=FAST).status == "downloaded"
    copy = tmp_path / big.name
    audio = copy / fmt.AUDIO
    size = audio.stat().st_size
    half = size // 2
    with open(audio, "r+b") as f:
        f.truncate(half)
    audio.rename(audio.with_name(audio.name + PART_SUFFIX))
    (copy / fmt.MANIFEST).unlink()  # as a run cut before its end leaves it
    with traffic(client) as seen:
        result = download_bundle(client, good, remote, tmp_path, retry=FAST)
    assert result.status == "downloaded", result.error
    assert (result.files_downloaded, result.files_skipped) == (1, len(files_of(big)) - 1)
    audio_key = f"{good}/{remote.key_prefix}{fmt.AUDIO}"
    assert seen.gets == [(f"{good}/{remote.manifest_key}", None), (audio_key, f"bytes={half}-")]
    assert seen.replies[1][1:] == (size - half, f"bytes {half}-{size - 1}/{size}")
    assert result.bytes_downloaded == remote.manifest_size + size - half
    assert_same_bundle(big, copy)


def test_a_connection_lost_mid_file_resumes_from_the_part(bundles: list[Path], tmp_path: Path) -> None:
    """The server is killed and restarted while the big file streams: the transfer resumes from its .part."""
    big = bundles[2]
    size = (big / fmt.AUDIO).stat().st_size
    with running_server(tmp_path / "s3") as server:
        put = server.client()
        put_bundle(put, BUCKET, PREFIX, big)
        put.close()
        client = server.client()
        (remote,) = list_bundles(client, BUCKET, PREFIX)
        received = 0
        restarted: list[bool] = []

        def progress(n: int) -> None:  # on the transfer's thread, between two chunks of the body
            nonlocal received
            received += n
            if received > 4_000_000 and not restarted:
                restarted.append(True)
                server.restart(kill=True)  # the socket buffers hold a few MB at most: the rest is cut off

        with traffic(client) as seen:
            result = download_bundle(client, BUCKET, remote, tmp_path / "dl", progress=progress, jobs=1, retry=FAST)
        client.close()
    assert restarted and result.status == "downloaded", result.error
    audio = [r for path, r in seen.gets if path.endswith(fmt.AUDIO)]
    assert len(audio) == 2 and audio[0] is None, audio  # whole, then the rest after the cut
    offset = int(str(audio[1]).removeprefix("bytes=").removesuffix("-"))
    assert 4_000_000 < offset < size
    assert result.bytes_downloaded == result.bytes  # no byte fetched twice
    assert_same_bundle(big, tmp_path / "dl" / big.name)


def test_cancel_keeps_the_part_and_the_next_run_resumes_it(
    good: str, bundles: list[Path], client: Any, tmp_path: Path
) -> None:
    big = bundles[2]
    (remote,) = list_bundles(client, good, PREFIX, match=big.name)
    cancel = threading.Event()
    received = 0

    def progress(n: int) -> None:  # Ctrl+C (as the CLI's SIGINT handler does it) after 3 MB
        nonlocal received
        received += n
        if received > 3_000_000:
            cancel.set()

    (stopped,) = download_many(client, good, [remote], tmp_path, jobs=1, progress=progress, cancel=cancel, retry=FAST)
    assert stopped.status == "cancelled"
    copy = tmp_path / big.name
    assert not (copy / fmt.MANIFEST).exists()
    parts = list(copy.rglob("*" + PART_SUFFIX))
    assert len(parts) == 1 and parts[0].stat().st_size > 3_000_000
    held = parts[0].stat().st_size
    with traffic(client) as seen:
        result = download_bundle(client, good, remote, tmp_path, retry=FAST)
    assert result.status == "downloaded", result.error
    assert f"bytes={held}-" in seen.asked
    assert_same_bundle(big, copy)


def test_a_store_that_ignores_the_range_gets_the_part_rewritten_from_zero(
    good: str, bundles: list[Path], client: Any, tmp_path: Path
) -> None:
    small = bundles[0]
    (remote,) = list_bundles(client, good, PREFIX, match=small.name)
    copy = tmp_path / small.name
    audio = copy / fmt.AUDIO
    audio.parent.mkdir(parents=True)
    original = (small / fmt.AUDIO).read_bytes()
    (audio.with_name(audio.name + PART_SUFFIX)).write_bytes(original[:1000])
    with traffic(client, drop_range=True) as seen:
        result = download_bundle(client, good, remote, tmp_path, retry=FAST)
    assert result.status == "downloaded", result.error
    assert seen.asked == ["bytes=1000-"]  # asked for the rest ...
    assert (200, len(original), None) in seen.replies  # ... got all of it, and kept it once
    assert_same_bundle(small, copy)


def test_a_corrupted_object_fails_the_bundle_cleanly(
    s3_server: EmbeddedServer,
    bundles: list[Path],
    client: Any,
    tmp_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = fresh_bucket(s3_server)
    small = bundles[0]
    put_bundle(client, bucket, PREFIX, small)
    data = bytearray((small / fmt.EVENTS).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    key = f"{PREFIX}/{small.name}/{fmt.EVENTS}"
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    (remote,) = list_bundles(client, bucket, PREFIX)
    with traffic(client) as seen:
        result = download_bundle(client, bucket, remote, tmp_path / "api", retry=FAST)
    assert result.status == "failed"
    assert result.error is not None and fmt.EVENTS in result.error and "sha256" in result.error
    assert seen.paths().count(f"{bucket}/{key}") == 2  # fetched again from zero once, then given up
    copy = tmp_path / "api" / small.name
    assert not (copy / fmt.MANIFEST).exists() and not (copy / fmt.EVENTS).exists()
    assert [p for p in copy.rglob("*") if p.name.endswith((PART_SUFFIX, ".tmp"))] == []
    assert (copy / fmt.VIDEO).read_bytes() == (small / fmt.VIDEO).read_bytes()  # verified files stay for a rerun

    code, out, err = cli(capsys, "download", f"s3://{bucket}/{PREFIX}", str(tmp_path / "cli"), "--progress", "never")
    assert code == 3
    assert fmt.EVENTS in one_line(err) and "sha256" in err
    assert "0 downloaded, 0 already present, 1 failed" in out
    assert not (tmp_path / "cli" / small.name / fmt.MANIFEST).exists()

    code, out, err = cli(capsys, "validate", "--json", f"s3://{bucket}/{PREFIX}")
    assert code == 1, err
    (report,) = json.loads(out)["bundles"]
    assert [(f["code"], f["path"]) for f in report["findings"]] == [("file-sha256", fmt.EVENTS)]
    local = validate_bundle(str(small), deep=False)  # the same bytes on disk are reported the same way
    assert local.findings == []


def test_a_file_missing_on_the_store_fails_the_bundle(
    s3_server: EmbeddedServer, bundles: list[Path], client: Any, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    small = bundles[1]
    put_bundle(client, bucket, PREFIX, small)
    client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{small.name}/{fmt.MARKERS}")
    (remote,) = list_bundles(client, bucket, PREFIX)
    result = download_bundle(client, bucket, remote, tmp_path, retry=FAST)
    assert result.status == "failed"
    assert result.error == (
        f"{small.name}/{fmt.MARKERS}: listed in the manifest, but s3://{bucket}/{PREFIX}/{small.name}/{fmt.MARKERS} "
        "does not exist (deleted since?)"
    )
    assert not (tmp_path / small.name / fmt.MANIFEST).exists()


# --- the CLI ----------------------------------------------------------------------------------------------
def test_download_cli_filters_json_and_no_bundles(
    s3_server: EmbeddedServer,
    bundles: list[Path],
    client: Any,
    tmp_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = fresh_bucket(s3_server)
    old, new = bundles[0], bundles[1]
    put_bundle(client, bucket, PREFIX, old, mtime=OLD_MTIME)
    put_bundle(client, bucket, PREFIX, new)
    url = f"s3://{bucket}/{PREFIX}"

    code, out, _ = cli(capsys, "download", url, str(tmp_path / "a"), "--since", "2025-01-01", "--json")
    doc = json.loads(out)
    assert code == 0
    assert [b["session_id"] for b in doc["bundles"]] == [new.name]
    assert doc["since"] == "2025-01-01T00:00:00+00:00"
    assert doc["summary"]["downloaded"] == 1 and doc["summary"]["failed"] == 0
    assert doc["summary"]["bytes_downloaded"] == doc["summary"]["bytes"] > 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [new.name]

    code, out, _ = cli(capsys, "download", url, str(tmp_path / "b"), "--match", "*" + old.name[-8:], "--json")
    assert code == 0 and [b["session_id"] for b in json.loads(out)["bundles"]] == [old.name]
    assert_same_bundle(old, tmp_path / "b" / old.name)

    # the whole prefix: one new, one already there (--since with an offset, and a single bundle as the prefix)
    code, out, _ = cli(capsys, "download", url, str(tmp_path / "b"), "--since", "2023-12-31T23:00:00-01:00")
    assert code == 0 and "2 bundles: 1 downloaded, 1 already present, 0 failed" in out
    code, out, _ = cli(capsys, "download", f"{url}/{new.name}", str(tmp_path / "c"), "--json")
    assert code == 0 and json.loads(out)["summary"]["downloaded"] == 1

    for argv in (
        [url, str(tmp_path / "d"), "--since", "2999-01-01"],
        [f"s3://{bucket}/no/such/prefix", str(tmp_path / "d")],
    ):
        code, out, err = cli(capsys, "download", *argv)
        assert code == 0 and out.startswith("no bundles under s3://") and err == ""
    assert not (tmp_path / "d").exists()


def test_validate_s3_deep_json(
    good: str, bundles: list[Path], cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "validate", "--deep", "--json", "-j", "2", f"s3://{good}/{PREFIX}")
    assert code == 0, out + err
    doc = json.loads(out)
    assert [b["path"] for b in doc["bundles"]] == [
        f"s3://{good}/{PREFIX}/{name}" for name in sorted(b.name for b in bundles)
    ]
    assert all(b["valid"] and b["findings"] == [] for b in doc["bundles"])
    assert doc["summary"]["bytes"] == sum(sum(f["bytes"] for f in files_of(b)) for b in bundles)
    big = bundles[2]
    code, out, _ = cli(capsys, "validate", "--deep", f"s3://{good}/{PREFIX}/{big.name}")  # one bundle as the prefix
    assert code == 0 and "1 bundle: 1 valid, 0 invalid" in out
    code, _, err = cli(capsys, "validate", f"s3://{good}/no/such/prefix")
    assert code == 2 and "no bundles there" in one_line(err)


def test_s3source_files_seek_and_read_like_local_files(good: str, bundles: list[Path], client: Any) -> None:
    big = bundles[2]
    (remote,) = list_bundles(client, good, PREFIX, match=big.name)
    local = (big / fmt.AUDIO).read_bytes()
    rng = random.Random(5)
    with traffic(client) as seen, S3Source(client, good, remote.key_prefix, read_ahead=1 << 20) as source:
        assert source.members[fmt.AUDIO].size == len(local)
        assert source.name == big.name and source.location == f"s3://{good}/{PREFIX}/{big.name}"
        with source.open(fmt.AUDIO) as f:
            assert f.seekable() and f.read(4) == local[:4]
            for _ in range(50):
                pos, n = rng.randrange(len(local)), rng.choice([1, 100, 70_000, 3 << 20])
                f.seek(pos)
                assert f.read(n) == local[pos : pos + n]
                assert f.tell() == min(pos + n, len(local))
            assert f.seek(-10, io.SEEK_END) == len(local) - 10 and f.read() == local[-10:]
            f.seek(len(local) // 3)
            assert f.read() == local[len(local) // 3 :]
            assert f.read(5) == b""
        with source.open(fmt.MARKERS) as f:  # small members are fetched whole, once
            assert f.read() == (big / fmt.MARKERS).read_bytes()
        with source.open(fmt.MARKERS) as f:
            f.read()
    assert seen.paths().count(f"{good}/{remote.key_prefix}{fmt.MARKERS}") == 1
    assert len(seen.gets) < 120  # ranged reads of ~1 MiB, not one request per read


def test_the_lab_package_opens_and_validates_a_bundle_on_s3(
    good: str, bundles: list[Path], client: Any, cli_env: None
) -> None:
    """`trajrec.open` / `trajrec.validate` on s3:// URLs: through boto3's usual chain (AWS_ENDPOINT_URL and keys in
    the environment, as a lab sets them), or through a client handed in."""
    import trajrec

    small = bundles[0]
    url = f"s3://{good}/{PREFIX}/{small.name}"
    with trajrec.open(small) as local, trajrec.open(url) as remote:
        assert remote.session_id == small.name
        assert remote.events().num_rows > 0 and remote.events().equals(local.events())
        assert remote.pauses() and remote.pauses() == local.pauses()
        rows = local.events().num_rows
    report = trajrec.validate(url, deep=True)
    assert report.valid and report.findings == [] and report.location == url
    assert report.bytes == sum(f["bytes"] for f in files_of(small))
    with trajrec.open(url + "/", client=client) as b:
        assert b.events().num_rows == rows
    assert trajrec.validate(url, client=client).findings == []
    with pytest.raises(UsageError, match="s3://BUCKET/PREFIX/SESSION_ID"):
        trajrec.open(f"s3://{good}")
    with pytest.raises(ClientError):  # a missing bucket: not worth a retry
        trajrec.open(f"s3://no-such-bucket-{good}/{PREFIX}/{small.name}", client=client)


def test_the_lab_package_raises_the_error_of_a_store_that_keeps_failing(bundles: list[Path], tmp_path: Path) -> None:
    """A store that goes away while a bundle is read is no finding about the bundle: after the retries (logged
    "attempt i/n"), trajrec.validate raises RetriesExceeded carrying the last error."""
    import trajrec

    small = bundles[0]
    with running_server(tmp_path / "s3") as server:
        put = server.client()
        put_bundle(put, BUCKET, PREFIX, small)
        put.close()
        client = server.client(max_attempts=1)
        source = S3Source(client, BUCKET, f"{PREFIX}/{small.name}", retry=FAST)
        assert fmt.MANIFEST in source.members
        server.stop()
        with pytest.raises(RetriesExceeded) as info:
            trajrec.validate(source)
        client.close()
    assert info.value.attempts == FAST.attempts
    assert isinstance(info.value.last, EndpointConnectionError)
    assert source.error is info.value
    assert str(info.value.last) in str(info.value)


def test_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = str(tmp_path / "dest")
    for argv in (
        ["download", "https://bucket/x", dest],
        ["download", "s3://bucket/../x", dest],
        ["download", "s3://b-/x", dest],
        ["download", "s3://bucket/x", dest, "--since", "last tuesday"],
        ["download", "s3://bucket/x", dest, "--jobs", "0"],
        ["validate", "s3://bucket/a//b"],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert one_line(err).startswith(f"trajrec {argv[0]}: ")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKTESTTESTTESTTEST00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-test-secret-test-secret-0000")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for argv in (["download", "s3://bucket/x", dest], ["validate", "s3://bucket/x"]):
        code, _, err = cli(capsys, *argv)
        assert code == 3, err
        assert "cannot reach the store" in one_line(err)
    assert not Path(dest).exists()


def test_a_local_folder_holding_another_bundle_is_not_overwritten(
    good: str, bundles: list[Path], client: Any, tmp_path: Path
) -> None:
    small = bundles[0]
    (remote,) = list_bundles(client, good, PREFIX, match=small.name)
    impostor = tmp_path / small.name
    shutil.copytree(bundles[1], impostor)
    result = download_bundle(client, good, remote, tmp_path, retry=FAST)
    assert result.status == "failed" and "different bundle" in (result.error or "")
    assert (impostor / fmt.MANIFEST).read_bytes() == (bundles[1] / fmt.MANIFEST).read_bytes()
