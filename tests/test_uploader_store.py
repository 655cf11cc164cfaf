"""uploader.config, uploader.store and uploader.server against a real S3 server (the embedded rclone serve s3):
configuration, client, error translation, presigned URLs, and the server's life cycle."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from recorder.dirs import uploader_dirs
from tests.helpers.harness import wait_until
from tests.helpers.s3 import (
    BUCKET,
    StoreDirs,
    aws_isolated_fixture,  # noqa: F401  (pytest fixture)
    closed_port,
    fresh_bucket,
    running_server,
    s3_server_fixture,  # noqa: F401  (pytest fixture)
)
from uploader.config import StoreConfig, load_config, parse_s3_url, save_config
from uploader.errors import (
    BucketMissing,
    ServerStartError,
    StoreAuthError,
    StoreBusy,
    StoreConfigError,
    StoreRequestError,
    StoreUnreachable,
)
from uploader.keys import KEYS_FILE
from uploader.server import EmbeddedServer, open_store
from uploader.signer import ClientSigner
from uploader.store import Credentials, check_store, make_client, translate

pytestmark = pytest.mark.usefixtures("aws_isolated")
MiB = 1 << 20


def settings() -> Path:
    """The settings file where the recorder looks for it (TRAJREC_CONFIG_DIR: the aws_isolated fixture's)."""
    return uploader_dirs().settings


def _put(url: str, body: bytes, headers: dict[str, str] | None = None) -> str:
    """PUT `body` to a presigned URL with the standard library only (as a lab's uploader might); returns the ETag."""
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers or {})
    request.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return str(response.headers["ETag"])


def _metadata(head: Mapping[str, Any]) -> dict[str, str]:
    """User metadata with lower-case keys (rclone returns `x-amz-meta-sha256` as `Sha256`)."""
    return {k.lower(): v for k, v in head.get("Metadata", {}).items()}


# --- configuration ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://my.bucket-1/labs/run 7/", ("my.bucket-1", "labs/run 7")),
    ],
)
def test_parse_s3_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize(
    "url", ["https://bucket/x", "bucket/x", "s3://", "s3:///x", "s3://b/x", "s3://b-/x", "s3://bk/a//b", "s3://bk/../x"]
)
def test_parse_s3_url_rejects(url: str) -> None:
    with pytest.raises(StoreConfigError, match=r"s3://BUCKET|letters, digits") as info:
        parse_s3_url(url)
    assert "\n" not in str(info.value)


def test_key_joins_with_single_slashes() -> None:
    assert StoreConfig(bucket="bkt", prefix="/labs//x/").key("S1", "screen/video.mp4") == "labs/x/S1/screen/video.mp4"
    assert StoreConfig(bucket="bkt").key("S1", "/manifest.json") == "S1/manifest.json"
    assert StoreConfig(bucket="bkt", prefix="p").url == "s3://bkt/p"
    for session, rel in [("a/b", "x"), ("", "x"), ("S1", ""), ("S1", "../x"), ("S1", "a/./b")]:
        with pytest.raises(ValueError):
            StoreConfig(bucket="bkt").key(session, rel)


def test_no_configuration_means_the_embedded_store(aws_isolated: Path) -> None:
    config = load_config(path=settings())
    assert config == StoreConfig(bucket="trajectories", addressing_style="path", embedded=True)
    assert settings() == aws_isolated / "store.toml"  # TRAJREC_CONFIG_DIR honoured


def test_url_beats_file_and_file_endpoint_is_kept(aws_isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_isolated.mkdir()
    (aws_isolated / "store.toml").write_text(
        'bucket = "filebucket"\nprefix = "from/file"\nendpoint_url = "https://s3.lab.example:9000"\n'
        'region = "eu-west-1"\naddressing_style = "virtual"\nprofile = "lab"\nverify_tls = false\n'
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # the file's endpoint wins over the env's
    from_file = load_config(path=settings())
    assert (from_file.bucket, from_file.prefix, from_file.endpoint_url) == (
        "filebucket",
        "from/file",
        "https://s3.lab.example:9000",
    )
    assert (from_file.region, from_file.addressing_style, from_file.profile, from_file.verify_tls) == (
        "eu-west-1",
        "virtual",
        "lab",
        False,
    )
    assert not from_file.embedded
    from_url = load_config("s3://urlbucket/run", path=settings())
    assert (from_url.bucket, from_url.prefix, from_url.endpoint_url) == (
        "urlbucket",
        "run",
        "https://s3.lab.example:9000",
    )
    assert load_config("s3://urlbucket", profile="other", path=settings()).profile == "other"


def test_url_or_env_endpoint_means_a_real_store(aws_isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing configured, no AWS credentials: the embedded store's bucket
    fresh = load_config("s3://bucket/p", path=settings())
    assert fresh.embedded and (fresh.bucket, fresh.prefix) == ("bucket", "p")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    aws = load_config("s3://bucket/p", path=settings())
    assert not aws.embedded and aws.endpoint_url is None  # boto3 finds AWS (or AWS_ENDPOINT_URL) itself
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    credentials = aws_isolated.parent / "aws" / "credentials"  # the AWS_SHARED_CREDENTIALS_FILE of the fixture
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text("[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE12\n")
    assert not load_config("s3://bucket/p", path=settings()).embedded
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
    with pytest.raises(
        StoreConfigError, match=r"no bucket configured: pass --to s3://BUCKET/PREFIX or set `bucket` in "
    ):
        load_config(path=settings())
    assert load_config("s3://bucket", path=settings()).endpoint_url is None


def test_embedded_can_be_chosen_in_the_file(aws_isolated: Path) -> None:
    aws_isolated.mkdir()
    (aws_isolated / "store.toml").write_text('embedded = true\nprefix = "mine"\n')
    config = load_config(path=settings())
    assert (config.embedded, config.bucket, config.prefix) == (True, "trajectories", "mine")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('bucket = "b', "not valid TOML"),
        ('bucket = "bkt"\nbukcet = "x"\n', "`bukcet`: unknown setting"),
        ('bucket = "bkt"\nverify_tls = "no"\n', "`verify_tls`: must be a boolean"),
        ("bucket = 7\n", "`bucket`: must be a string"),
        ('bucket = "bkt"\naddressing_style = "sideways"\n', "`addressing_style`: unknown addressing style"),
        ('bucket = "bkt"\nendpoint_url = "ftp://x"\n', "`endpoint_url`: 'ftp://x' is not an http(s) URL"),
        ('bucket = "no/slash"\n', "`bucket`: 'no/slash' is not a bucket name"),
        ('embedded = true\nendpoint_url = "http://x"\n', "`embedded`"),
    ],
)
def test_bad_settings_name_the_file_and_key(aws_isolated: Path, text: str, expected: str) -> None:
    aws_isolated.mkdir()
    (aws_isolated / "store.toml").write_text(text)
    with pytest.raises(StoreConfigError) as info:
        load_config(path=settings())
    message = str(info.value)
    assert message.startswith(str(aws_isolated / "store.toml") + ": ")
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "config",
    [
        StoreConfig(
            bucket="bkt",
            prefix="labs/a",
            endpoint_url="https://s3.example:9000",
            region="eu-west-1",
            addressing_style="virtual",
            profile='odd "name" \\ é\ttab',
            verify_tls=False,
        ),
        StoreConfig(bucket="bkt"),
        StoreConfig(bucket="trajectories", prefix="p", addressing_style="path", embedded=True),
    ],
)
def test_save_load_round_trip(tmp_path: Path, config: StoreConfig) -> None:
    path = save_config(config, tmp_path / "conf" / "store.toml")
    assert load_config(path=path) == config
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.toml"]  # no temporary file left behind


def test_a_running_embedded_config_saves_without_its_endpoint(tmp_path: Path) -> None:
    live = StoreConfig(
        bucket="trajectories", endpoint_url="http://127.0.0.1:4567", addressing_style="path", embedded=True
    )
    path = save_config(live, tmp_path / "store.toml")
    assert load_config(path=path) == StoreConfig(bucket="trajectories", addressing_style="path", embedded=True)


# --- the embedded server ----------------------------------------------------------------------------------
def test_open_store_starts_the_default_store_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_isolated: Path
) -> None:
    monkeypatch.setenv("TRAJREC_LOG_DIR", str(tmp_path / "logs"))
    body = os.urandom(3 * MiB + 17)
    config = load_config(path=settings())
    with open_store(config, uploader_dirs()) as store:
        store.check()
        assert store.server is not None and store.server.running
        pid = store.server.pid
        key = config.key("S1", "screen/video.mp4")
        store.client.put_object(Bucket=config.bucket, Key=key, Body=body, Metadata={"sha256": "ab" * 32})
        head = store.client.head_object(Bucket=config.bucket, Key=key)
        assert head["ContentLength"] == len(body)
        assert head["ETag"].strip('"') == hashlib.md5(body).hexdigest()
        assert _metadata(head) == {"sha256": "ab" * 32}
        assert store.client.get_object(Bucket=config.bucket, Key=key)["Body"].read() == body
    # where the env said: objects are plain files, keys in the config dir, log in the log dir
    assert (tmp_path / "trajrec-data" / "store" / "trajectories" / "S1" / "screen" / "video.mp4").read_bytes() == body
    assert (aws_isolated / KEYS_FILE).is_file()
    assert "Starting s3 server" in (tmp_path / "logs" / "embedded-store.log").read_text()
    assert not store.server.running
    assert pid is not None and not _alive(pid)


def test_keys_are_made_once_and_reused(tmp_path: Path) -> None:
    dirs = StoreDirs.under(tmp_path)
    with dirs.server() as first:
        keys = (first.access_key, first.secret_key)
        argv = Path(f"/proc/{first.pid}/cmdline").read_bytes() if sys.platform.startswith("linux") else b""
    with dirs.server() as second:
        assert (second.access_key, second.secret_key) == keys
        with closing(second.client()) as client:
            assert client.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (len(keys[0]), len(keys[1])) == (20, 40)
    assert keys[1].encode() not in argv  # the secret reaches rclone through its environment
    if os.name == "posix":
        assert stat.S_IMODE((dirs.config / KEYS_FILE).stat().st_mode) == 0o600
    (dirs.config / KEYS_FILE).write_text("{not json")
    with pytest.raises(StoreConfigError, match="delete it: new keys are made on the next start"):
        dirs.server().start()


@pytest.mark.slow
def test_restart_keeps_port_and_objects(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        port, pid = server.port, server.pid
        with closing(server.client()) as client:
            client.put_object(Bucket=BUCKET, Key="S1/a.bin", Body=b"kept")
        server.restart()
        assert (server.port, server.running) == (port, True)
        assert server.pid != pid
        server.restart(kill=True)  # like a crash
        assert server.port == port
        with closing(server.client()) as client:
            assert client.get_object(Bucket=BUCKET, Key="S1/a.bin")["Body"].read() == b"kept"


def test_ensure_bucket_is_idempotent(s3_server: EmbeddedServer) -> None:
    name = fresh_bucket(s3_server)
    s3_server.ensure_bucket(name)
    with closing(s3_server.client()) as client:
        assert name in {b["Name"] for b in client.list_buckets()["Buckets"]}
    with pytest.raises(StoreConfigError, match="not a bucket name"):
        s3_server.ensure_bucket("x")


def test_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "rclone"
    fake.write_text("#!/bin/sh\necho 'fatal: cannot serve here' >&2\nexit 3\n")
    fake.chmod(0o755)
    server = StoreDirs.under(tmp_path).server(binary=fake)
    with pytest.raises(ServerStartError) as info:
        server.start()
    message = str(info.value)
    assert "exited with status 3" in message and "fatal: cannot serve here" in message
    assert str(server.log_path) in message and "\n" not in message
    assert not server.running


@pytest.mark.slow
def test_a_taken_port_is_reported(tmp_path: Path) -> None:
    with running_server(tmp_path / "a") as holder:
        started = time.monotonic()
        with pytest.raises(ServerStartError, match="address already in use"):
            StoreDirs.under(tmp_path / "b").server(port=holder.port).start()
        assert time.monotonic() - started < 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from tests.helpers.s3 import StoreDirs
        from pathlib import Path
        server = StoreDirs.under(Path({str(tmp_path)!r})).server().start()
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent, text=True
    )
    try:
        assert parent.stdout is not None
        rclone_pid = int(parent.stdout.readline())
        assert _alive(rclone_pid)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout:
            parent.stdout.close()
    try:
        wait_until(lambda: not _alive(rclone_pid), "rclone exiting after its parent was killed", timeout=10)
    finally:
        if _alive(rclone_pid):
            os.kill(rclone_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    if sys.platform.startswith("linux"):
        try:
            return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- errors ----------------------------------------------------------------------------------------------
def test_wrong_credentials_are_an_auth_error(s3_server: EmbeddedServer) -> None:
    bad_secret = "s" * 40
    for credentials in (
        Credentials(s3_server.access_key, bad_secret, source="the test's wrong secret"),
        Credentials("TRNOSUCHKEY000000000", bad_secret, source="the test's wrong secret"),
    ):
        with closing(make_client(s3_server.config, credentials)) as client:
            with pytest.raises(StoreAuthError) as info:
                check_store(client, s3_server.config, credentials)
            with pytest.raises(ClientError) as put:
                client.put_object(Bucket=BUCKET, Key="x", Body=b"x")
            put_error = translate(put.value, s3_server.config, credentials)
        message = str(info.value)
        assert "the test's wrong secret" in message and s3_server.endpoint_url in message
        assert bad_secret not in message and s3_server.secret_key not in message and "\n" not in message
        assert not info.value.retryable
        assert isinstance(put_error, StoreAuthError)
        assert put_error.reason in ("SignatureDoesNotMatch", "InvalidAccessKeyId")


def test_missing_bucket(s3_server: EmbeddedServer) -> None:
    config = s3_server.config_for("no-such-bucket")
    with closing(s3_server.client()) as client:
        with pytest.raises(BucketMissing, match=r"bucket 'no-such-bucket' does not exist at http://127\.0\.0\.1"):
            check_store(client, config, s3_server.credentials)
        with pytest.raises(ClientError) as info:
            client.put_object(Bucket="no-such-bucket", Key="k", Body=b"x")
    assert isinstance(translate(info.value, config), BucketMissing)


def test_unreachable_store_fails_fast(s3_server: EmbeddedServer) -> None:
    config = StoreConfig(bucket=BUCKET, endpoint_url=f"http://127.0.0.1:{closed_port()}", addressing_style="path")
    started = time.monotonic()
    with (
        closing(make_client(config, s3_server.credentials, max_attempts=1)) as client,
        pytest.raises(StoreUnreachable) as info,
    ):
        check_store(client, config)
    assert time.monotonic() - started < 10
    assert config.endpoint_url is not None and config.endpoint_url in str(info.value)
    assert info.value.retryable


def test_no_credentials_says_how_to_provide_them(s3_server: EmbeddedServer) -> None:
    config = StoreConfig(bucket=BUCKET, endpoint_url=s3_server.endpoint_url, addressing_style="path")
    with closing(make_client(config)) as client, pytest.raises(StoreAuthError) as info:
        check_store(client, config)
    assert "AWS_ACCESS_KEY_ID" in str(info.value) and "--profile" in str(info.value)


def test_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(StoreConfigError, match="AWS profile 'nosuch' not found"):
        make_client(StoreConfig(bucket=BUCKET, profile="nosuch"))


def test_aws_endpoint_env_is_honoured(s3_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = fresh_bucket(s3_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    config = load_config(f"s3://{bucket}/via-env", path=settings())
    assert config.endpoint_url is None and not config.embedded
    with open_store(config, uploader_dirs()) as store:
        store.check()
        store.client.put_object(Bucket=bucket, Key=config.key("S9", "manifest.json"), Body=b"{}")
    assert (s3_server.data_dir / bucket / "via-env" / "S9" / "manifest.json").read_bytes() == b"{}"
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "w" * 40)
    with open_store(config, uploader_dirs()) as store, pytest.raises(StoreAuthError) as info:
        store.check()
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment" in str(info.value)
    assert s3_server.endpoint_url in str(info.value)  # named from the environment


def test_translate_maps_the_error_families() -> None:
    config = StoreConfig(bucket=BUCKET, endpoint_url="https://s3.example")

    def client_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
        return ClientError(
            {
                "Error": {"Code": code, "Message": code},
                "ResponseMetadata": {
                    "HTTPStatusCode": status,
                    "HTTPHeaders": {},
                    "HostId": "",
                    "RequestId": "",
                    "RetryAttempts": 0,
                },
            },
            operation,
        )

    busy = translate(client_error("SlowDown", 503), config)
    assert isinstance(busy, StoreBusy) and busy.retryable
    assert isinstance(translate(client_error("InternalError", 500), config), StoreBusy)
    unsupported = translate(client_error("NotImplemented", 501, "UploadPart"), config)  # rclone: part replaced
    assert isinstance(unsupported, StoreRequestError) and not unsupported.retryable
    assert isinstance(translate(client_error("403", 403, "HeadBucket"), config), StoreAuthError)
    assert isinstance(translate(client_error("404", 404, "HeadBucket"), config), BucketMissing)
    gone = translate(client_error("NoSuchUpload", 404, "UploadPart"), config)
    assert isinstance(gone, StoreRequestError) and gone.code == "NoSuchUpload" and not gone.retryable
    down = translate(EndpointConnectionError(endpoint_url="https://s3.example/bkt"), config)
    assert isinstance(down, StoreUnreachable) and "https://s3.example" in str(down)


# --- presigned URLs ---------------------------------------------------------------------------------------
def test_presigned_put_round_trip(s3_server: EmbeddedServer) -> None:
    bucket = fresh_bucket(s3_server)
    body = os.urandom(MiB)
    sha = hashlib.sha256(body).hexdigest()
    with closing(s3_server.client()) as client:
        signer = ClientSigner(client, bucket)
        etag = _put(signer.presign_put("S1/plain.bin", expires_s=60), body)
        assert etag.strip('"') == hashlib.md5(body).hexdigest()
        assert client.get_object(Bucket=bucket, Key="S1/plain.bin")["Body"].read() == body
        url = signer.presign_put("S1/meta.bin", expires_s=60, metadata={"sha256": sha})
        _put(url, body, {"x-amz-meta-sha256": sha})
        assert _metadata(client.head_object(Bucket=bucket, Key="S1/meta.bin")) == {"sha256": sha}
        with pytest.raises(urllib.error.HTTPError) as info:  # the signature covers the metadata header
            _put(url, b"small: a big body may meet a closed socket", {"x-amz-meta-sha256": "0" * 64})
        assert info.value.code == 403
        info.value.close()
        with pytest.raises(ValueError):
            signer.presign_put("k", expires_s=0)


def test_presigned_upload_part_in_a_real_multipart_upload(s3_server: EmbeddedServer) -> None:
    bucket = fresh_bucket(s3_server)
    parts = [os.urandom(5 * MiB), os.urandom(123_457)]
    key = "S1/screen/video.mp4"
    with closing(s3_server.client()) as client:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        signer = ClientSigner(client, bucket)
        etags = [
            _put(signer.presign_upload_part(key, upload_id, n, expires_s=300), data)
            for n, data in enumerate(parts, start=1)
        ]
        assert [e.strip('"') for e in etags] == [hashlib.md5(p).hexdigest() for p in parts]
        listed = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]
        assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
            (n, len(data), etag) for n, (data, etag) in enumerate(zip(parts, etags, strict=True), start=1)
        ]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
        )
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(parts)


def test_store_set_works_with_only_aws_endpoint_url_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No settings file yet and AWS_ENDPOINT_URL set: `store set bucket=...` saves, it does not ask for a bucket."""
    from recorder.cli import main

    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(tmp_path / "config"))  # its own settings file, not the run's
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert main(["store", "set", "bucket=lab-bucket", "prefix=team-a"]) == 0
    assert "uploads go to s3://lab-bucket/team-a" in capsys.readouterr().out
    assert main(["store", "set", "prefix=team-b"]) == 0  # the saved bucket carries on
    assert "s3://lab-bucket/team-b" in capsys.readouterr().out
