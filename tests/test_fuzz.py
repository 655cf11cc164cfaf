"""Property-based fuzzing (Hypothesis) of what comes from outside: manifests with any value anywhere, files
swapped, truncated or replaced by links, and .tar bundles with members of any name and type. Whatever the
mutation, the validator reports (never raises), the reader and `trajrec info` raise only the documented
BundleError family, and nothing is written outside the bundle.

The suite runs a few dozen cases per property; `bash scripts/fuzz.sh` runs thousands (FUZZ_EXAMPLES)."""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trajrec
from recorder.commands import info
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
from trajrec.errors import BundleError, TrajrecError
from trajrec.topics import Topic
from trajrec.validation import validate_bundle
from uploader.server import EmbeddedServer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # decoding a bundle takes a variable while; each case is bounded by pytest-timeout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=EXAMPLES <= 100,  # the suite's cases are the same on every run; the long run explores
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["../x", "/etc/passwd", "a\x1b[2J", "", "screen/video.mp4", "a/" * 40 + "b"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def pointers(obj: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in parsed JSON, as a path of keys and indexes."""
    out = [where]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += pointers(v, (*where, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += pointers(v, (*where, i))
    return out


def mutate(manifest: dict[str, Any], where: tuple[Any, ...], value: Any, delete: bool) -> Any:
    m = copy.deepcopy(manifest)
    if not where:
        return value
    parent = m
    for k in where[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    return m


def exercise(bundle: Path) -> None:
    """What a lab does with a bundle; only documented errors may come out."""
    report = validate_bundle(str(bundle), deep=False)
    assert report.findings or report.valid
    try:
        with trajrec.open(bundle) as b:
            b.events()
            b.markers()
            b.pauses()
            b.window_at(b.start_ns)
            b.frame_at(b.start_ns + 1_000_000_000)
            if b.has_audio:
                b.audio(b.start_ns, b.start_ns + 500_000_000)
    except BundleError:
        pass
    try:  # `trajrec info`: one line from the TrajrecError family, or the summary
        with contextlib.redirect_stdout(io.StringIO()):
            info.run(argparse.Namespace(path=str(bundle), json=False))
    except TrajrecError:
        pass


def files_outside(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}


@pytest.fixture(scope="module")
def manifest_of(sample: tuple[Path, SyntheticTruth]) -> dict[str, Any]:
    return dict(json.loads((sample[0] / fmt.MANIFEST).read_text()))


@FUZZ
@given(data=st.data(), value=JSON, delete=st.booleans())
def test_any_value_anywhere_in_the_manifest(
    sample: tuple[Path, SyntheticTruth], manifest_of: dict[str, Any], data: st.DataObject, value: Any, delete: bool
) -> None:
    where = data.draw(st.sampled_from(pointers(manifest_of)))
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "b" / sample[0].name
        shutil.copytree(sample[0], bundle)
        (bundle / fmt.MANIFEST).write_text(json.dumps(mutate(manifest_of, where, value, delete)))
        before = files_outside(Path(tmp))
        exercise(bundle)
        assert files_outside(Path(tmp)) == before


@FUZZ
@given(
    member=st.sampled_from([fmt.EVENTS, fmt.FRAMES, fmt.WINDOWS, fmt.MARKERS, fmt.VIDEO, fmt.AUDIO, fmt.MANIFEST]),
    how=st.sampled_from(["truncate", "garbage", "link", "folder", "empty"]),
    cut=st.integers(min_value=0, max_value=4096),
    junk=st.binary(min_size=0, max_size=256),
)
def test_files_truncated_replaced_or_linked(
    sample: tuple[Path, SyntheticTruth], member: str, how: str, cut: int, junk: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "b" / sample[0].name
        shutil.copytree(sample[0], bundle)
        target = bundle / member
        secret = Path(tmp) / "secret"
        secret.write_bytes(b"not yours")
        data = target.read_bytes()
        target.unlink()
        if how == "truncate":
            target.write_bytes(data[: min(cut, len(data) - 1)])
        elif how == "garbage":
            target.write_bytes(junk + data[cut:])
        elif how == "link":
            target.symlink_to(secret)
        elif how == "folder":
            target.mkdir()
        else:
            target.write_bytes(b"")
        exercise(bundle)
        assert secret.read_bytes() == b"not yours"


@FUZZ
@given(
    name=st.sampled_from(["/etc/passwd", "../up", "x/../../up", "a\\b", "manifest.json", fmt.VIDEO, "screen"])
    | st.text(min_size=1, max_size=30),
    kind=st.sampled_from([tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE]),
    first=st.booleans(),
    payload=st.binary(max_size=64),
)
def test_tar_bundles_with_hostile_members(
    sample: tuple[Path, SyntheticTruth], name: str, kind: bytes, first: bool, payload: bytes
) -> None:
    """A .tar bundle with one extra member of any name and type (absolute, `..`, a link to a private file, a
    FIFO, a duplicate of a real member, before or after it): read in place, never extracted, only documented
    errors."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "b.tar"
        hostile = tarfile.TarInfo(name)
        hostile.type = kind
        if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            hostile.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else f"{sample[0].name}/{fmt.MANIFEST}"
        if kind == tarfile.REGTYPE:
            hostile.size = len(payload)
        with tarfile.open(archive, "w") as tar:
            if first:
                tar.addfile(hostile, io.BytesIO(payload) if kind == tarfile.REGTYPE else None)
            tar.add(sample[0], arcname=sample[0].name)
            if not first:
                tar.addfile(hostile, io.BytesIO(payload) if kind == tarfile.REGTYPE else None)
        before = files_outside(Path(tmp))
        exercise(archive)
        assert files_outside(Path(tmp)) == before


# --- live directories: what `trajrec repair` and the app's crash recovery seal -----------------------------------
LIVE_SPEC = SyntheticSpec(duration_s=1, width=96, height=64)


@pytest.fixture(scope="module")
def live_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    live = tmp_path_factory.mktemp("fuzz-live") / "live"
    synthesize_live(live, LIVE_SPEC, session_id="fuzzed", stop=False)
    return live


def contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def repair(live: Path, out: Path) -> None:
    """What `trajrec repair` does: seal with recovery; a SealError (one line) or a bundle that the validator can
    report on. The live directory is never changed and nothing is written outside `out`."""
    before = contents(live)
    outside = files_outside(live.parent.parent)
    try:
        bundle = seal(live, out, recover=True)
    except TrajrecError as e:
        assert "\n" not in str(e)
    else:
        assert bundle.parent == out
        report = validate_bundle(str(bundle), deep=False)
        assert report.findings or report.valid
    assert contents(live) == before
    assert files_outside(live.parent.parent) == outside
    assert not out.exists() or [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no stage left


@FUZZ
@given(data=st.data(), value=JSON, delete=st.booleans())
def test_any_value_anywhere_in_session_json(live_sample: Path, data: st.DataObject, value: Any, delete: bool) -> None:
    session = json.loads((live_sample / fmt.LIVE_SESSION).read_text())
    where = data.draw(st.sampled_from(pointers(session)))
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "in" / "live"
        shutil.copytree(live_sample, live)
        (live / fmt.LIVE_SESSION).write_text(json.dumps(mutate(session, where, value, delete)))
        repair(live, Path(tmp) / "in" / "out")


@FUZZ
@given(data=st.data(), value=JSON, delete=st.booleans())
def test_live_log_records_of_any_shape(live_sample: Path, data: st.DataObject, value: Any, delete: bool) -> None:
    """One record of the live log (any topic) with any value anywhere, written by the real log writer: it is
    left out and counted, or it fits its topic; the rest of the recording is sealed either way."""
    records = list(iter_live_log(live_sample / fmt.LIVE_LOG))
    i = data.draw(st.integers(min_value=0, max_value=len(records) - 1))
    payload = records[i][2]
    where = data.draw(st.sampled_from(pointers(payload)))
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "in" / "live"
        shutil.copytree(live_sample, live)
        (live / fmt.LIVE_LOG).unlink()
        log = LiveLog(live / fmt.LIVE_LOG)
        for j, (top, t, rec) in enumerate(records):
            log.write(Topic(top), t, mutate(rec, where, value, delete) if j == i else rec)
        log.close()
        repair(live, Path(tmp) / "in" / "out")


@FUZZ
@given(
    member=st.sampled_from([fmt.LIVE_SESSION, fmt.LIVE_LOG, fmt.LIVE_VIDEO, fmt.LIVE_AUDIO]),
    how=st.sampled_from(["truncate", "garbage", "flip", "link", "folder", "empty", "gone"]),
    cut=st.integers(min_value=0, max_value=1 << 16),
    junk=st.binary(min_size=0, max_size=256),
)
def test_live_files_truncated_replaced_or_linked(
    live_sample: Path, member: str, how: str, cut: int, junk: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "in" / "live"
        shutil.copytree(live_sample, live)
        secret = Path(tmp) / "secret"
        secret.write_bytes(b"not yours")
        target = live / member
        data = target.read_bytes()
        target.unlink()
        at = min(cut, len(data) - 1)
        if how == "truncate":
            target.write_bytes(data[:at])
        elif how == "garbage":
            target.write_bytes(data[:at] + junk + data[at + len(junk) :])
        elif how == "flip":
            target.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
        elif how == "link":
            target.symlink_to(secret)
        elif how == "folder":
            target.mkdir()
        elif how == "empty":
            target.write_bytes(b"")
        repair(live, Path(tmp) / "in" / "out")
        assert secret.read_bytes() == b"not yours"


# --- a hostile store: what `trajrec download` fetches ---------------------------------------------------------------
HOSTILE_KEYS = st.sampled_from(
    [
        None,
        "p/bad-1/../escape",
        "p/bad-1/screen/video.mp4/inner",
        "p/bad-1/extra\x1b[2J.bin",
        "p/../up/manifest.json",
        "p/.hidden/manifest.json",
        "p/bad-1/" + "d/" * 40 + "f",
    ]
)


@pytest.fixture(scope="module")
def store_with_two(s3_server: EmbeddedServer, sample: tuple[Path, SyntheticTruth]) -> str:
    """A bucket holding the sample bundle twice, as itself and as p/bad-1/ (whose manifest each case replaces)."""
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    put_bundle(client, bucket, "p", sample[0])
    for f in json.loads((sample[0] / fmt.MANIFEST).read_text())["files"]:
        client.put_object(Bucket=bucket, Key=f"p/bad-1/{f['path']}", Body=(sample[0] / f["path"]).read_bytes())
    client.close()
    return bucket


@settings(FUZZ, max_examples=max(min(EXAMPLES, 20), EXAMPLES // 4))  # each case downloads from a real store (~1 s)
@given(data=st.data(), value=JSON, delete=st.booleans(), extra=HOSTILE_KEYS)
@pytest.mark.slow  # a real store round trip per case: out of the quick subset
@pytest.mark.usefixtures("aws_isolated", "cli_env")
def test_download_from_a_store_holding_any_manifest(
    s3_server: EmbeddedServer,
    store_with_two: str,
    sample: tuple[Path, SyntheticTruth],
    manifest_of: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    data: st.DataObject,
    value: Any,
    delete: bool,
    extra: str | None,
) -> None:
    """Next to a good bundle, one whose manifest has any value anywhere (and maybe an object of a hostile name):
    the good one is downloaded whole, the hostile one is a row of its own, nothing lands outside the destination
    and the exit code says whether everything came."""
    from recorder.cli import main

    where = data.draw(st.sampled_from(pointers(manifest_of)))
    bucket = store_with_two
    client = s3_server.client()
    hostile = mutate(manifest_of, where, value, delete)
    client.put_object(Bucket=bucket, Key="p/bad-1/manifest.json", Body=json.dumps(hostile).encode())
    if extra is not None:
        with contextlib.suppress(Exception):  # a name the store itself refuses is not a case
            client.put_object(Bucket=bucket, Key=extra, Body=b"x")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "d"
            code = main(["download", "--json", "--progress", "never", f"s3://{bucket}/p", str(dest)])
            report = json.loads(capsys.readouterr().out)
            rows = {b["session_id"]: b for b in report["bundles"]}
            assert rows[sample[0].name]["status"] == "downloaded"
            assert validate_bundle(str(dest / sample[0].name), deep=False).valid
            assert code == (0 if all(b["status"] == "downloaded" for b in report["bundles"]) else 3)
            assert files_outside(Path(tmp)) == {"d"}
            for p in dest.rglob("*"):
                assert not p.is_symlink() and p.resolve().is_relative_to(dest.resolve())
    finally:
        if extra is not None:
            with contextlib.suppress(Exception):
                client.delete_object(Bucket=bucket, Key=extra)
        client.close()
