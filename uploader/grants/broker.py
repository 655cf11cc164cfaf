"""What the grant service does for one request, with every check: the lab's store credentials stay here. An
expert's token may open one bundle at a time under `PREFIX/EXPERT/SESSION_ID/`, for the files of the bundle
layout it declares (sizes within its quota, SHA-256 each), get presigned URLs for exactly those bytes (the
Content-MD5 is signed, so the store takes nothing else), ask which parts the store holds, and have each file
completed and read back (size and SHA-256 checked here, not taken from the client) before the service writes
`manifest.json` itself, last. Everything else is a `Refusal` with its protocol code."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trajrec import format as fmt
from trajrec.paths import member_problem, session_id_problem
from trajrec.source.s3 import UNREACHABLE, client_error_fields, is_busy
from uploader.config import StoreConfig
from uploader.grants.db import Bundle, GrantDB, Token
from uploader.grants.protocol import Code
from uploader.grants.verify import manifest_problem, read_back
from uploader.multipart import META_SHA256

log = logging.getLogger(__name__)

MAX_PUT_BYTES = 5 * 1024**3  # S3's limit for one PUT (and one part)


class Refusal(Exception):
    """A request the service turns down: the protocol code, and a message that says what to do."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Broker:
    db: GrantDB
    client: Any  # boto3 S3 client with the lab's credentials
    store: StoreConfig  # bucket and prefix (PREFIX); experts write under PREFIX/EXPERT/
    url_ttl_s: int = 900
    if_none_match: bool = True

    # --- helpers ---------------------------------------------------------------------------------------
    def prefix(self, expert: str) -> str:
        return "/".join(s for s in (self.store.prefix, expert) if s)

    def key(self, expert: str, session_id: str, path: str) -> str:
        return StoreConfig(bucket=self.store.bucket, prefix=self.prefix(expert)).key(session_id, path)

    def _store(self, what: str, call: Any) -> Any:
        try:
            return call()
        except (ClientError, BotoCoreError) as e:
            raise self._refusal(e, what) from e

    @staticmethod
    def _refusal(e: ClientError | BotoCoreError, what: str) -> Refusal:
        if isinstance(e, ClientError):
            code, status, message = client_error_fields(e)
            if is_busy(code, status):
                return Refusal(Code.STORE_BUSY, f"the store is busy ({code}) while {what}; try again later")
            return Refusal(Code.STORE_ERROR, f"the store refused {what}: {code} {message}".strip())
        if isinstance(e, UNREACHABLE):
            return Refusal(Code.STORE_BUSY, f"the store is unreachable while {what}; try again later")
        return Refusal(Code.STORE_ERROR, f"store failure while {what}: {e}")

    def _own(self, token: Token, session_id: str, *, open_only: bool = True) -> Bundle:
        bundle = self.db.bundle(session_id)
        if bundle is None:
            raise Refusal(Code.NOT_FOUND, f"no upload of bundle {session_id} is open: open it first")
        if bundle.expert != token.expert:
            raise Refusal(Code.FORBIDDEN, f"bundle {session_id} is not {token.expert}'s")
        if open_only and bundle.state == "complete":
            raise Refusal(Code.ALREADY_COMPLETE, f"bundle {session_id} is complete: nothing may change it")
        return bundle

    @staticmethod
    def _declared(bundle: Bundle, path: str) -> tuple[int, str]:
        if path not in bundle.files:
            raise Refusal(Code.FORBIDDEN, f"{path!r} was not declared when bundle {bundle.session_id} was opened")
        return bundle.files[path]

    def _presigned(self, operation: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        url = self._store(
            "presigning",
            lambda: self.client.generate_presigned_url(operation, Params=params, ExpiresIn=self.url_ttl_s),
        )
        return {"url": url, "method": "PUT", "headers": headers, "expires_at": int(time.time()) + self.url_ttl_s}

    # --- requests --------------------------------------------------------------------------------------
    def whoami(self, token: Token) -> dict[str, Any]:
        return {
            "protocol": 1,
            "expert": token.expert,
            "bucket": self.store.bucket,
            "prefix": self.prefix(token.expert),
            "quota_bytes": token.quota_bytes,
            "used_bytes": self.db.used_bytes(token.id),
            "expires_at": None if token.expires_at is None else int(token.expires_at),
            "url_ttl_s": self.url_ttl_s,
        }

    def open(self, token: Token, body: dict[str, Any]) -> dict[str, Any]:
        session_id = body["session_id"]
        problem = session_id_problem(session_id)
        if problem:
            raise Refusal(Code.BAD_REQUEST, f"session id {session_id!r}: {problem}")
        files = body["files"]
        paths = [f["path"] for f in files]
        for path in paths:
            problem = member_problem(path)
            if problem or path not in fmt.BUNDLE_FILES:
                why = problem or f"not a file of the bundle layout ({', '.join(sorted(fmt.BUNDLE_FILES))})"
                raise Refusal(Code.FORBIDDEN, f"{path!r}: {why}")
        if len(set(paths)) != len(paths) or fmt.MANIFEST not in paths:
            raise Refusal(Code.BAD_REQUEST, "the file list must name each file once, manifest.json included")
        if any(f["path"] != fmt.MANIFEST and f["bytes"] > MAX_PUT_BYTES * 10_000 for f in files):
            raise Refusal(Code.BAD_REQUEST, "a file is larger than an S3 object may be")
        total = sum(f["bytes"] for f in files)
        existing = self.db.bundle(session_id)
        if existing is not None:
            if existing.expert != token.expert:
                raise Refusal(Code.SESSION_TAKEN, f"bundle {session_id} is being uploaded by another expert")
            if existing.files != {f["path"]: (f["bytes"], f["sha256"]) for f in files}:
                raise Refusal(Code.CONFLICT, f"bundle {session_id} was opened with other files: it changed")
            if existing.state == "complete":
                raise Refusal(Code.ALREADY_COMPLETE, f"bundle {session_id} is uploaded and complete already")
            bundle = existing
        else:
            if token.quota_bytes is not None:
                used = self.db.used_bytes(token.id)
                if total > token.quota_bytes - used:
                    raise Refusal(
                        Code.QUOTA,
                        f"bundle of {total} bytes is over the token's quota ({max(0, token.quota_bytes - used)} of "
                        f"{token.quota_bytes} bytes left): ask the lab for more",
                    )
            bundle = self.db.open_bundle(session_id, token, [dict(f) for f in files])
        self.db.audit("open", "granted", token=token, session_id=session_id, size=total)
        return {
            "session_id": session_id,
            "prefix": self.key(token.expert, session_id, fmt.MANIFEST).rsplit("/", 1)[0],
            "state": bundle.state,
            "files": [self._state(token, bundle, p) for p in sorted(bundle.files)],
        }

    def _state(self, token: Token, bundle: Bundle, path: str) -> dict[str, Any]:
        size, sha = bundle.files[path]
        verified = bundle.state == "complete" or self.db.file(bundle.session_id, path)[1]
        key = self.key(token.expert, bundle.session_id, path)
        return {"path": path, "key": key, "bytes": size, "sha256": sha, "verified": verified}

    def _writable(self, token: Token, session_id: str, path: str) -> tuple[Bundle, int, str]:
        bundle = self._own(token, session_id)
        size, sha = self._declared(bundle, path)
        if path == fmt.MANIFEST:
            raise Refusal(Code.FORBIDDEN, "manifest.json is written by the service when the bundle completes")
        if self.db.file(session_id, path)[1]:
            raise Refusal(Code.CONFLICT, f"{path} is on the store and verified: it is not written again")
        return bundle, size, sha

    def put_url(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = body["path"]
        _, size, sha = self._writable(token, session_id, path)
        if size > MAX_PUT_BYTES:
            raise Refusal(Code.BAD_REQUEST, f"{path} is too large for one PUT: use a multipart upload")
        key = self.key(token.expert, session_id, path)
        params = {"Bucket": self.store.bucket, "Key": key, "ContentMD5": body["md5"], "Metadata": {META_SHA256: sha}}
        self.db.audit("put-url", "granted", token=token, session_id=session_id, path=path, size=size)
        return self._presigned("put_object", params, {"Content-MD5": body["md5"], f"x-amz-meta-{META_SHA256}": sha})

    def multipart(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = body["path"]
        _, size, sha = self._writable(token, session_id, path)
        key = self.key(token.expert, session_id, path)
        old, _ = self.db.file(session_id, path)
        if old is not None:
            self._abort(key, old)
        reply = self._store(
            f"starting the upload of {path}",
            lambda: self.client.create_multipart_upload(Bucket=self.store.bucket, Key=key, Metadata={META_SHA256: sha}),
        )
        upload_id = str(reply["UploadId"])
        self.db.set_file(session_id, path, upload_id=upload_id, verified=False)
        self.db.audit("multipart", "granted", token=token, session_id=session_id, path=path, size=size)
        return {"upload_id": upload_id}

    def _upload_id(self, session_id: str, path: str, upload_id: str) -> None:
        if self.db.file(session_id, path)[0] != upload_id:
            raise Refusal(Code.NOT_FOUND, f"{path}: upload {upload_id[:40]} is not the open one: start it again")

    def part_url(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path, upload_id, part, size = body["path"], body["upload_id"], body["part"], body["bytes"]
        _, declared, _ = self._writable(token, session_id, path)
        self._upload_id(session_id, path, upload_id)
        if not self.db.sign_part(session_id, path, upload_id, part, size, declared):
            self.db.audit("part-url", "refused", token=token, session_id=session_id, path=path, size=size)
            raise Refusal(Code.QUOTA, f"{path}: the parts asked for add up to more than its {declared} bytes")
        key = self.key(token.expert, session_id, path)
        params = {
            "Bucket": self.store.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part,
            "ContentMD5": body["md5"],
        }
        self.db.audit("part-url", "granted", token=token, session_id=session_id, path=path, size=size, detail=str(part))
        return self._presigned("upload_part", params, {"Content-MD5": body["md5"]})

    def _list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            reply = self._list_page(key, upload_id, marker)
            for p in reply.get("Parts", []):
                etag = str(p.get("ETag", "")).strip('"').lower()
                parts.append({"part": int(p["PartNumber"]), "bytes": int(p.get("Size", 0)), "etag": etag})
            if not reply.get("IsTruncated") or len(parts) >= 10_000:
                return parts
            marker = int(reply.get("NextPartNumberMarker", 0))

    def _list_page(self, key: str, upload_id: str, marker: int) -> dict[str, Any]:
        try:
            return dict(
                self.client.list_parts(
                    Bucket=self.store.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000
                )
            )
        except ClientError as e:
            code, status, _ = client_error_fields(e)
            if code == "NoSuchUpload" or status == 404:
                raise Refusal(Code.NOT_FOUND, f"the store no longer has upload {upload_id[:40]}") from e
            raise self._refusal(e, "listing parts") from e

    def parts(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path, upload_id = body["path"], body["upload_id"]
        self._writable(token, session_id, path)
        self._upload_id(session_id, path, upload_id)
        return {"parts": self._list_parts(self.key(token.expert, session_id, path), upload_id)}

    def complete_file(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path, upload_id = body["path"], body.get("upload_id")
        bundle, size, sha = self._writable(token, session_id, path)
        key = self.key(token.expert, session_id, path)
        if upload_id is not None:
            self._upload_id(session_id, path, upload_id)
            self._complete_multipart(key, path, upload_id, size, body.get("parts") or [])
        if not self._verify(token, bundle, path, key, size, sha):
            raise Refusal(Code.CHECKSUM, f"{path}: the store's bytes are not the declared ones (size or SHA-256)")
        return self._state(token, bundle, path)

    def _complete_multipart(self, key: str, path: str, upload_id: str, size: int, named: list[dict[str, Any]]) -> None:
        on_store = {p["part"]: p for p in self._list_parts(key, upload_id)}
        numbers = sorted(p["part"] for p in named)
        if not numbers or numbers != list(range(1, len(numbers) + 1)):
            raise Refusal(Code.PARTS_MISSING, f"{path}: parts must be numbered 1..N without a gap")
        missing = [n for n in numbers if n not in on_store]
        wrong = [
            p["part"]
            for p in named
            if p["part"] in on_store and on_store[p["part"]]["etag"] != p["etag"].strip('"').lower()
        ]
        if missing or wrong:
            raise Refusal(Code.PARTS_MISSING, f"{path}: parts {missing or wrong} are not on the store as named")
        if sum(on_store[n]["bytes"] for n in numbers) != size:
            raise Refusal(Code.PARTS_MISSING, f"{path}: the parts do not add up to its {size} bytes")
        listing = {"Parts": [{"PartNumber": n, "ETag": f'"{on_store[n]["etag"]}"'} for n in numbers]}
        self._store(
            f"completing {path}",
            lambda: self.client.complete_multipart_upload(
                Bucket=self.store.bucket, Key=key, UploadId=upload_id, MultipartUpload=listing
            ),
        )

    def _verify(self, token: Token, bundle: Bundle, path: str, key: str, size: int, sha: str) -> bool:
        """Read the object back: verified when its size and SHA-256 are the declared ones; else it is removed."""
        try:
            reply = self.client.get_object(Bucket=self.store.bucket, Key=key)
        except ClientError as e:
            code, status, _ = client_error_fields(e)
            if status == 404 or code in ("NoSuchKey", "NotFound"):
                return False
            raise self._refusal(e, f"reading {path} back") from e
        try:
            seen, got = read_back(reply["Body"], size)
        except (BotoCoreError, *UNREACHABLE) as e:
            raise Refusal(Code.STORE_BUSY, f"reading {path} back failed ({e}); try again") from e
        ok = seen == size and got == sha
        if ok:
            self.db.set_file(bundle.session_id, path, upload_id=None, verified=True)
            self.db.audit("verify", "ok", token=token, session_id=bundle.session_id, path=path, size=size)
        else:
            self._store(f"removing {path}", lambda: self.client.delete_object(Bucket=self.store.bucket, Key=key))
            self.db.set_file(bundle.session_id, path, upload_id=None, verified=False)
            self.db.audit(
                "verify",
                "checksum-mismatch",
                token=token,
                session_id=bundle.session_id,
                path=path,
                size=seen,
                detail=f"read {seen} bytes, sha256 {got}",
            )
        return ok

    def abort_file(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path, upload_id = body["path"], body["upload_id"]
        self._writable(token, session_id, path)
        self._upload_id(session_id, path, upload_id)
        self._abort(self.key(token.expert, session_id, path), upload_id)
        self.db.set_file(session_id, path, upload_id=None, verified=False)
        return {}

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.store.bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as e:
            log.info("%s: abort of upload %s: %s", key, upload_id, e)

    def head(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = body["path"]
        bundle = self._own(token, session_id, open_only=False)
        size, sha = self._declared(bundle, path)
        state = self._state(token, bundle, path)
        if state["verified"]:
            return state
        if path == fmt.MANIFEST or not self._verify(token, bundle, path, state["key"], size, sha):
            raise Refusal(Code.NOT_FOUND, f"{path} is not on the store")
        return self._state(token, bundle, path)

    def discard(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = body["path"]
        self._writable(token, session_id, path)
        key = self.key(token.expert, session_id, path)
        self._store(f"removing {path}", lambda: self.client.delete_object(Bucket=self.store.bucket, Key=key))
        self.db.audit("discard", "ok", token=token, session_id=session_id, path=path)
        return {}

    def complete(self, token: Token, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        bundle = self._own(token, session_id)
        unverified = [p for p in sorted(bundle.files) if p != fmt.MANIFEST and not self.db.file(session_id, p)[1]]
        if unverified:
            raise Refusal(Code.PARTS_MISSING, f"not on the store and verified yet: {', '.join(unverified)}")
        try:
            data = base64.b64decode(body["manifest"], validate=True)
        except ValueError as e:
            raise Refusal(Code.BAD_REQUEST, "manifest is not base64") from e
        size, sha = bundle.files[fmt.MANIFEST]
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            self.db.audit("complete", "checksum-mismatch", token=token, session_id=session_id, size=len(data))
            raise Refusal(Code.CHECKSUM, "manifest.json is not the one declared when the bundle was opened")
        problem = manifest_problem(
            bundle.session_id, {p: v for p, v in bundle.files.items() if p != fmt.MANIFEST}, data
        )
        if problem:
            raise Refusal(Code.CONFLICT if "JSON" not in problem else Code.BAD_REQUEST, problem)
        key = self.key(token.expert, session_id, fmt.MANIFEST)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._put_manifest(key, data, md5, sha)
        self.db.set_file(session_id, fmt.MANIFEST, upload_id=None, verified=True)
        self.db.complete_bundle(session_id)
        self.db.audit("complete", "ok", token=token, session_id=session_id, size=bundle.bytes)
        return {"session_id": session_id, "state": "complete", "key": key}

    def _put_manifest(self, key: str, data: bytes, md5: str, sha: str) -> None:
        def put(conditional: bool) -> None:
            self.client.put_object(
                Bucket=self.store.bucket,
                Key=key,
                Body=data,
                ContentMD5=md5,
                Metadata={META_SHA256: sha},
                **({"IfNoneMatch": "*"} if conditional else {}),
            )

        try:
            put(self.if_none_match)
        except ClientError as e:
            code, status, _ = client_error_fields(e)
            if code in ("NotImplemented", "InvalidArgument") or status == 501:
                self.if_none_match = False
                self._store("writing manifest.json", lambda: put(False))
            elif status == 412 or code == "PreconditionFailed":
                raise Refusal(Code.ALREADY_COMPLETE, "manifest.json is on the store already: not overwritten") from e
            else:
                raise self._refusal(e, "writing manifest.json") from e
