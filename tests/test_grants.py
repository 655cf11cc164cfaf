"""Upload grants, end to end with real parts: `trajrec grants serve` as a subprocess on loopback holding the keys
of a real S3 store (the embedded rclone server), experts with only a URL and a token, `trajrec upload` as they run
it, and a counting TCP proxy in front of the store where parts are counted."""

from __future__ import annotations

import base64
import filecmp
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.bundles import make_bundle
from tests.helpers.grants import GrantService, lab_client, lab_env, trajrec
from tests.helpers.harness import wait_until
from tests.helpers.s3 import acknowledged_parts, fresh_bucket, s3_server_fixture, upload_cli  # noqa: F401
from tests.helpers.tcp_proxy import ChaosProxy
from uploader.grants.client import GrantService as Client
from uploader.parts import MiB
from uploader.server import EmbeddedServer

pytestmark = pytest.mark.s3


def _downloaded_equal(server: EmbeddedServer, svc: GrantService, expert: str, bundle: Path, tmp: Path) -> None:
    out = tmp / "downloaded"
    got = trajrec(
        lab_env(server, svc.base), "download", f"s3://{svc.bucket}/team/{expert}", str(out), "--progress", "never"
    )
    assert got.returncode == 0, got.stderr
    copy = out / bundle.name
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == names
    for name in names:
        assert filecmp.cmp(bundle / name, copy / name, shallow=False), name


@pytest.mark.slow
def test_a_300_mib_bundle_through_grants_survives_kill_9_and_downloads_identical(
    s3_server: EmbeddedServer, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(
        tmp_path, "s300", {"screen/video.mp4": 300 * MiB + 11, "audio/voiceover.flac": 3 * MiB, "markers.jsonl": 900}
    )
    with ChaosProxy(s3_server.port) as proxy, GrantService(s3_server, tmp_path, bucket, proxy.url) as svc:
        env = svc.expert("alice", svc.token("alice"))
        first = upload_cli(bundle, env, "--limit-rate", "60M")
        ledger = Path(env["TRAJREC_DATA_DIR"]) / "uploads.sqlite"
        wait_until(lambda: len(acknowledged_parts(ledger)) >= 10 or first.poll() is not None, "half the parts", 60)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        acked = acknowledged_parts(ledger)
        assert 10 <= len(acked) < 19, acked  # 300 MiB in 16 MiB parts: 19
        before = len(proxy.part_uploads())
        second = upload_cli(bundle, env, "--json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert json.loads(out)["bundles"][0]["state"] == "done"
        after = proxy.part_uploads()[before:]
        resent = [r.part_number for r in after if r.part_number in acked]
        assert resent == [], f"parts acknowledged before the kill were sent again: {resent}"
        whole_before = {r.part_number for r in proxy.part_uploads()[:before]}  # a part sent whole, not yet in the
        assert {r.part_number for r in after} | acked | whole_before == set(range(1, 20))  # ledger, is adopted
        unsigned = [r.path for r in proxy.requests if r.method == "PUT" and not r.query.get("X-Amz-Signature")]
        assert [p.rsplit("/", 2)[-2:] for p in unsigned] == [["s300", "manifest.json"]]  # the service's, last
    _downloaded_equal(s3_server, svc, "alice", bundle, tmp_path)


def test_no_storage_key_on_the_experts_side(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "clean", {"screen/video.mp4": 6 * MiB + 5, "markers.jsonl": 300})
    with GrantService(s3_server, tmp_path, bucket) as svc:
        token = svc.token("bob")
        env = svc.expert("bob", token)
        proc = upload_cli(bundle, env, "--part-size", "5")
        seen_args = Path(f"/proc/{proc.pid}/cmdline").read_bytes() + Path(f"/proc/{proc.pid}/environ").read_bytes()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        check = trajrec(env, "store", "check", "--json")
        assert check.returncode == 0 and json.loads(check.stdout)["expert"] == "bob"
        shown = trajrec(env, "store", "show")
        again = Client(svc.url, token)
        _refused(lambda: again.open("clean", _declared(bundle)), "already-complete")  # never twice
    logs = b"".join(p.read_bytes() for p in Path(env["TRAJREC_LOG_DIR"]).rglob("*") if p.is_file())
    assert svc.url.encode() in logs and token.encode() not in logs  # the upload was logged, the token never
    secrets = (s3_server.access_key.encode(), s3_server.secret_key.encode())
    written = b"".join(
        p.read_bytes()
        for key in ("TRAJREC_CONFIG_DIR", "TRAJREC_DATA_DIR", "TRAJREC_LOG_DIR")
        for p in Path(env[key]).rglob("*")
        if p.is_file()
    )
    for secret in secrets:
        for where, blob in (
            ("files", written),
            ("process", seen_args),
            ("output", (out + err + shown.stdout).encode()),
        ):
            assert secret not in blob, f"a storage key is in the expert's {where}"
    assert not any(k.startswith("AWS_ACCESS") or k.startswith("AWS_SECRET") for k in env)
    token_file = Path(env["TRAJREC_CONFIG_DIR"]) / "grant-token.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(token_file.read_text()) and "trg_" not in shown.stdout  # kept, never shown


def test_tokens_are_shown_once_kept_as_hashes_and_revocable(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    env = lab_env(s3_server, tmp_path)
    db = str(tmp_path / "g.sqlite")
    added = trajrec(env, "grants", "--db", db, "token", "add", "carol", "--expires", "30d", "--max-gib", "50", "--json")
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    assert token.startswith("trg_") and len(token) > 40
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("g.sqlite*"))
    assert stored and token.encode() not in stored
    assert Path(db).stat().st_mode & 0o777 == 0o600
    listed = json.loads(trajrec(env, "grants", "--db", db, "token", "list", "--json").stdout)
    assert [(t["expert"], t["state"], t["quota_bytes"]) for t in listed] == [("carol", "active", 50 * 2**30)]
    assert token not in json.dumps(listed)
    assert trajrec(env, "grants", "--db", db, "token", "revoke", "carol").returncode == 0
    assert json.loads(trajrec(env, "grants", "--db", db, "token", "list", "--json").stdout)[0]["state"] == "revoked"
    assert trajrec(env, "grants", "--db", db, "token", "revoke", "carol").returncode == 3  # nothing left to revoke
    bad = trajrec(env, "grants", "--db", db, "token", "add", "../evil")
    assert bad.returncode == 2 and "not an expert name" in bad.stderr and "Traceback" not in bad.stderr


def test_plain_http_is_refused_off_loopback(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    env = lab_env(s3_server, tmp_path)
    got = trajrec(
        env,
        "grants",
        "--db",
        str(tmp_path / "g.sqlite"),
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--store",
        "s3://lab-bucket/p",
        timeout=30,
    )
    assert got.returncode == 2 and "in clear" in got.stderr and "Traceback" not in got.stderr


# --- what a token may not do ---------------------------------------------------------------------------------
def _declared(bundle: Path) -> list[tuple[str, int, str]]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = [(f["path"], f["bytes"], f["sha256"]) for f in manifest["files"]]
    data = (bundle / "manifest.json").read_bytes()
    return [*files, ("manifest.json", len(data), hashlib.sha256(data).hexdigest())]


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _refused(call: object, code: str) -> str:
    from uploader.errors import GrantRefused

    try:
        call()  # type: ignore[operator]
    except GrantRefused as e:
        assert e.code == code, e
        return str(e)
    raise AssertionError(f"not refused ({code} expected)")


def test_one_expert_cannot_touch_anothers_bundle_nor_read(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    import urllib3

    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "theirs", {"screen/video.mp4": 1000, "markers.jsonl": 10})
    with GrantService(s3_server, tmp_path, bucket) as svc:
        a, b = Client(svc.url, svc.token("anna")), Client(svc.url, svc.token("ben"))
        files = _declared(bundle)
        b.open("theirs", files)
        _refused(lambda: a.open("theirs", files), "session-taken")
        data = (bundle / "markers.jsonl").read_bytes()
        for op, body, answer in (
            ("put-url", {"path": "markers.jsonl", "md5": _md5(data)}, "presigned"),
            ("multipart", {"path": "screen/video.mp4"}, "multipart-response"),
            ("head", {"path": "markers.jsonl"}, "file-state"),
            ("complete", {"manifest": base64.b64encode(b"{}").decode()}, "complete-response"),
        ):
            _refused(lambda op=op, body=body, answer=answer: a.op("theirs", op, body, answer), "forbidden")
        # A's own grant, pointed at B's key, or used to read: the store refuses (the key and method are signed)
        a.open("mine", [(p, n, s) for p, n, s in files])
        grant = a.op("mine", "put-url", {"path": "markers.jsonl", "md5": _md5(data)}, "presigned")
        http = urllib3.PoolManager()
        other = grant["url"].replace("/anna/mine/", "/ben/theirs/")
        assert other != grant["url"]
        assert http.request("PUT", other, body=data, headers=grant["headers"]).status == 403
        assert http.request("GET", grant["url"], headers=grant["headers"]).status in (400, 403)
        assert http.request("PUT", grant["url"], body=data + b"!", headers=grant["headers"]).status == 400  # BadDigest
        assert http.request("PUT", grant["url"], body=data, headers=grant["headers"]).status == 200
        # a path outside the bundle layout, or climbing out of it
        for path in ("../ben/theirs/markers.jsonl", "notes/secret.txt", "/etc/passwd"):
            _refused(lambda path=path: a.open("odd", [(path, 1, "0" * 64), files[-1]]), "forbidden")
    lab = lab_client(s3_server)
    keys = [o["Key"] for o in lab.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["team/anna/mine/markers.jsonl"]  # the one legitimate PUT, and nothing under ben


def test_a_client_that_lies_about_a_sha256_cannot_complete(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    import urllib3

    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "liar", {"markers.jsonl": 5000})
    with GrantService(s3_server, tmp_path, bucket) as svc:
        c = Client(svc.url, svc.token("lou"))
        files = _declared(bundle)
        other = b"not what was declared".ljust(5000, b".")
        c.open("liar", files)  # declares the real file's size and SHA-256...
        grant = c.op("liar", "put-url", {"path": "markers.jsonl", "md5": _md5(other)}, "presigned")
        put = urllib3.PoolManager().request("PUT", grant["url"], body=other, headers=grant["headers"])
        assert put.status == 200  # ...the store takes bytes matching the MD5 it was given
        body = {"path": "markers.jsonl", "upload_id": None, "parts": None}
        _refused(lambda: c.op("liar", "complete-file", body, "file-state"), "checksum-mismatch")
        manifest = base64.b64encode((bundle / "manifest.json").read_bytes()).decode()
        _refused(lambda: c.op("liar", "complete", {"manifest": manifest}, "complete-response"), "parts-missing")
        audit = json.loads(trajrec(svc.env, "grants", "--db", str(svc.db_path), "audit", "--json").stdout)
    assert ("verify", "checksum-mismatch") in [(r["action"], r["outcome"]) for r in audit]
    lab = lab_client(s3_server)
    assert lab.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # removed, and no manifest


def test_quota_expiry_url_expiry_rate_limit_and_complete_bundles(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    import urllib3

    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "q", {"screen/video.mp4": 6 * MiB, "markers.jsonl": 10})
    with GrantService(s3_server, tmp_path, bucket, extra=("--url-ttl", "1s", "--rate", "2")) as svc:
        files = _declared(bundle)
        small = Client(svc.url, svc.token("sam", quota_bytes=MiB))
        message = _refused(lambda: small.open("q", files), "quota-exceeded")
        assert "quota" in message
        soon = Client(svc.url, svc.token("tim", expires_in_s=1.5))
        assert soon.whoami()["expert"] == "tim"
        time.sleep(2)
        _refused(soon.whoami, "token-expired")
        ok = Client(svc.url, svc.token("uma"))
        ok.open("q", files)
        upload_id = ok.op("q", "multipart", {"path": "screen/video.mp4"}, "multipart-response")["upload_id"]
        part = (bundle / "screen/video.mp4").read_bytes()[: 5 * MiB]
        ask = {"path": "screen/video.mp4", "upload_id": upload_id, "part": 1, "bytes": len(part), "md5": _md5(part)}
        grant = ok.op("q", "part-url", ask, "presigned")
        time.sleep(2.5)
        late = urllib3.PoolManager().request("PUT", grant["url"], body=part, headers=grant["headers"])
        assert late.status in (400, 403) and b"AccessDenied" in late.data  # the store refuses an expired URL
        too_big = {**ask, "part": 2, "bytes": 2 * MiB}  # parts 1 and 2 would be more than the file's 6 MiB
        _refused(lambda: ok.op("q", "part-url", too_big, "presigned"), "quota-exceeded")
        _refused(Client(svc.url, "trg_" + "x" * 43).whoami, "token-unknown")
        guesses = set()
        for _ in range(40):
            try:
                Client(svc.url, "trg_guess").whoami()
            except Exception as e:  # the code is what is checked
                guesses.add(getattr(e, "code", type(e).__name__))
        assert guesses == {"token-unknown", "rate-limited"}  # guessing is slowed down too
        time.sleep(1)
        codes = set()
        for _ in range(40):
            try:
                ok.whoami()
            except Exception as e:  # the code is what is checked
                codes.add(getattr(e, "code", type(e).__name__))
        assert codes == {"rate-limited"}


def test_revoking_a_token_mid_upload_fails_the_bundle_with_the_reason(
    s3_server: EmbeddedServer, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "rev", {"screen/video.mp4": 40 * MiB, "markers.jsonl": 10})
    with GrantService(s3_server, tmp_path, bucket) as svc:
        env = svc.expert("vic", svc.token("vic"))
        proc = upload_cli(bundle, env, "--part-size", "5", "--parallel", "1", "--limit-rate", "10M")
        ledger = Path(env["TRAJREC_DATA_DIR"]) / "uploads.sqlite"
        wait_until(lambda: len(acknowledged_parts(ledger)) >= 2 or proc.poll() is not None, "two parts sent", 30)
        assert trajrec(svc.env, "grants", "--db", str(svc.db_path), "token", "revoke", "vic").returncode == 0
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3
        assert "revoked" in err and "Traceback" not in err
        rows = json.loads(trajrec(env, "queue", "--json").stdout)["bundles"]
        assert [(r["session_id"], r["state"]) for r in rows] == [("rev", "failed")]
        assert "revoked" in rows[0]["reason"]


@pytest.mark.slow
def test_a_grant_service_restart_mid_upload_resumes(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "restart", {"screen/video.mp4": 60 * MiB + 3, "markers.jsonl": 10})
    with GrantService(s3_server, tmp_path, bucket) as svc:
        env = svc.expert("wes", svc.token("wes"))
        proc = upload_cli(bundle, env, "--part-size", "5", "--parallel", "2", "--limit-rate", "20M")
        ledger = Path(env["TRAJREC_DATA_DIR"]) / "uploads.sqlite"
        wait_until(lambda: len(acknowledged_parts(ledger)) >= 4 or proc.poll() is not None, "four parts sent", 30)
        svc.stop(signal.SIGKILL)
        time.sleep(1.5)
        svc.start()  # same port, same database
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    _downloaded_equal(s3_server, svc, "wes", bundle, tmp_path)


def test_tls_with_the_labs_own_certificate(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    bucket = fresh_bucket(s3_server)
    bundle = make_bundle(tmp_path, "tls", {"screen/video.mp4": 100_000, "markers.jsonl": 10})
    with GrantService(s3_server, tmp_path, bucket, extra=("--cert", str(cert), "--key", str(key))) as svc:
        assert svc.url.startswith("https://127.0.0.1:")
        env = svc.expert("xia", svc.token("xia"))
        untrusted = trajrec(env, "store", "check")
        assert untrusted.returncode == 2 and "grant_ca" in untrusted.stderr and "Traceback" not in untrusted.stderr
        assert trajrec(env, "store", "set", f"grant_ca={cert}").returncode == 0
        assert trajrec(env, "store", "check").returncode == 0
        done = trajrec(env, "upload", str(bundle), "--progress", "never")
        assert done.returncode == 0, done.stderr
    half = trajrec(lab_env(s3_server, tmp_path), "grants", "serve", "--cert", str(cert), "--store", "s3://lab-bucket/p")
    assert half.returncode == 2 and "both --cert and --key" in half.stderr


def test_the_token_goes_to_a_real_keyring_when_there_is_one(s3_server: EmbeddedServer, tmp_path: Path) -> None:
    """A Secret Service (gnome-keyring on a private D-Bus session bus) holds the token: no token file, nothing in
    clear on disk, and uploads still find it."""
    bucket = fresh_bucket(s3_server)
    with GrantService(s3_server, tmp_path, bucket) as svc:
        token = svc.token("yan")
        env = {k: v for k, v in svc.expert("setup", svc.token("setup")).items() if k != "TRAJREC_KEYRING"}
        env |= {
            "TRAJREC_CONFIG_DIR": str(tmp_path / "yan-config"),
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(tmp_path / "home" / "data"),
            "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        }
        (tmp_path / "run").mkdir(mode=0o700)
        cli = f"{sys.executable} -m recorder.cli"
        script = (
            "eval $(printf 'pw' | gnome-keyring-daemon --unlock --components=secrets) && "
            f"{cli} store set grant_url={svc.url} token={token} && {cli} store show && {cli} store check"
        )
        done = subprocess.run(
            ["dbus-run-session", "--", "bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert "token kept in the keyring" in done.stdout and "token: kept in the keyring" in done.stdout
    assert "token accepted for yan" in done.stdout and token not in done.stdout + done.stderr
    assert not (tmp_path / "yan-config" / "grant-token.json").exists()
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file())
    assert on_disk and token.encode() not in on_disk  # the keyring file holds it encrypted


def test_a_lost_multipart_upload_reads_as_the_store_would_say_it() -> None:
    """The grant service's not-found for an upload id becomes NoSuchUpload (FileUploader then starts the file
    over), for a key NoSuchKey; an already complete bundle reads as a refused overwrite (412)."""
    from botocore.exceptions import ClientError

    from uploader.errors import GrantRefused
    from uploader.grants.client import GrantS3

    class Refusing:  # a pure-logic stand-in for the HTTP side
        def __init__(self, code: str) -> None:
            self.code = code

        def op(self, *_: object) -> dict[str, object]:
            raise GrantRefused("http://127.0.0.1:1", self.code, "no", 404)

    def code_of(client: GrantS3, call: str, **kw: object) -> tuple[str, int]:
        try:
            getattr(client, call)(Bucket="b", Key="sid/screen/video.mp4", **kw)
        except ClientError as e:
            return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
        raise AssertionError("no error")

    lost = GrantS3(Refusing("not-found"))  # type: ignore[arg-type]
    assert code_of(lost, "list_parts", UploadId="u") == ("NoSuchUpload", 404)
    assert code_of(lost, "complete_multipart_upload", UploadId="u", MultipartUpload={"Parts": []}) == (
        "NoSuchUpload",
        404,
    )
    assert code_of(lost, "head_object") == ("404", 404)
    done = GrantS3(Refusing("already-complete"))  # type: ignore[arg-type]
    assert code_of(done, "create_multipart_upload") == ("PreconditionFailed", 412)
