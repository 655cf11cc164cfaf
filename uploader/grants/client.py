"""The expert's side of upload grants: `GrantService` speaks the protocol to the lab's service (bearer token, JSON,
schema-checked answers), and `GrantS3` puts it behind the few S3 calls the uploader makes (`FileUploader`, the
queue's verification), so resume, Content-MD5 per part, manifest last and verification work as with a store's
keys. Bytes go straight to the store through presigned URLs; the machine holds no storage credentials."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import urllib3
from botocore.exceptions import ClientError

from trajrec import format as fmt
from uploader.errors import GrantBusy, GrantRefused, GrantUnreachable, StoreConfigError, StoreUnreachable
from uploader.grants import protocol as proto
from uploader.grants.protocol import Code

log = logging.getLogger(__name__)

TIMEOUT = urllib3.Timeout(connect=10.0, read=300.0)  # a complete-file reads the object back before it answers
UPLOAD_OPS = frozenset({"part-url", "parts", "complete-file", "abort-file"})  # they name a multipart upload
_XML_FIELD = re.compile(rb"<(Code|Message)>([^<]{0,500})</\1>")


def _client_error(code: str, status: int, message: str, operation: str) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


def _expired(status: int, code: str, message: str) -> bool:
    """Did the store refuse a presigned URL because it expired? (S3: 403 "Request has expired"; rclone: 400
    "the difference between the request time and the server's time exceeds the maximum allowed")."""
    text = message.lower()
    return status in (400, 403) and code == "AccessDenied" and ("expired" in text or "request time" in text)


class GrantService:
    """One lab's grant service at `url`, as the expert holding `token`."""

    def __init__(self, url: str, token: str, *, verify_tls: bool = True, ca_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.pool = urllib3.PoolManager(
            maxsize=8,
            retries=False,
            timeout=TIMEOUT,
            cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE",
            ca_certs=ca_file,
        )

    def __repr__(self) -> str:  # never the token
        return f"GrantService({self.url!r})"

    def call(self, method: str, route: str, body: dict[str, Any] | None, answer: str) -> dict[str, Any]:
        """One request; the answer checked against the schema's `answer` definition. Raises GrantRefused or
        GrantUnreachable."""
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            reply = self.pool.request(method, self.url + route, body=data, headers=headers)
        except urllib3.exceptions.SSLError as e:
            raise StoreConfigError(
                f"TLS with the grant service at {self.url} failed ({e.__class__.__name__})",
                "if the lab uses its own certificate authority, set grant_ca=PATH (its PEM file)",
                key="grant_ca",
            ) from e
        except urllib3.exceptions.HTTPError as e:
            raise GrantUnreachable(self.url, type(e).__name__) from e
        try:
            if reply.status >= 400:
                err = proto.parse("error", reply.data)["error"]
                kind = GrantBusy if err["code"] in proto.RETRYABLE_CODES else GrantRefused
                raise kind(self.url, err["code"], err["message"], reply.status)
            return dict(proto.parse(answer, reply.data))
        except proto.ProtocolError as e:
            raise GrantRefused(self.url, "bad-answer", f"HTTP {reply.status}, {e}", reply.status) from e

    def whoami(self) -> dict[str, Any]:
        return self.call("GET", proto.WHOAMI, None, "whoami")

    def open(self, session_id: str, files: Sequence[tuple[str, int, str]]) -> dict[str, Any]:
        body = {"session_id": session_id, "files": [{"path": p, "bytes": n, "sha256": s} for p, n, s in files]}
        return self.call("POST", proto.BUNDLES, body, "open-response")

    def op(self, session_id: str, op: str, body: dict[str, Any], answer: str) -> dict[str, Any]:
        return self.call("POST", proto.op_path(session_id, op), body, answer)

    def close(self) -> None:
        self.pool.clear()


class GrantS3:
    """The S3 calls `FileUploader` and `UploadQueue` make, done through a grant service. Keys are
    `SESSION_ID/PATH` (a destination with no prefix): the service places them under the lab's `PREFIX/EXPERT/`.
    Refusals the uploader reacts to come back as the ClientError a store would give (a lost upload, an object
    already there); the others as GrantRefused."""

    def __init__(self, service: GrantService) -> None:
        self.service = service
        self.store = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=10.0, read=300.0))
        self._complete: set[str] = set()  # sessions the service says are complete

    # --- bundles -----------------------------------------------------------------------------------------
    def open_bundle(self, session_id: str, files: Sequence[tuple[str, int, str]]) -> None:
        """Open (or re-open, to resume) the upload of one bundle: its file list, manifest.json included."""
        try:
            self.service.open(session_id, files)
        except GrantRefused as e:
            if e.code != Code.ALREADY_COMPLETE:
                raise
            self._complete.add(session_id)  # uploaded before (a crash before our ledger knew): verify, send nothing

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        session_id, _, path = key.partition("/")
        return session_id, path

    def _op(self, key: str, op: str, body: dict[str, Any], answer: str, operation: str) -> dict[str, Any]:
        session_id, path = self._split(key)
        try:
            return self.service.op(session_id, op, {"path": path, **body}, answer)
        except GrantRefused as e:
            if e.code == Code.NOT_FOUND:
                lost = op in UPLOAD_OPS  # the multipart upload is gone: FileUploader starts the file over
                raise _client_error("NoSuchUpload" if lost else "NoSuchKey", 404, str(e), operation) from e
            if e.code == Code.ALREADY_COMPLETE or (e.code == Code.CONFLICT and "verified" in str(e)):
                raise _client_error("PreconditionFailed", 412, str(e), operation) from e
            raise

    # --- what FileUploader and UploadQueue call ---------------------------------------------------------
    def head_bucket(self, **_: Any) -> dict[str, Any]:
        return self.service.whoami()

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        try:
            state = self._op(Key, "head", {}, "file-state", "HeadObject")
        except ClientError as e:
            raise _client_error("404", 404, "Not Found", "HeadObject") from e
        return {"ContentLength": state["bytes"], "ETag": "", "Metadata": {"sha256": state["sha256"]}}

    def put_object(self, *, Bucket: str, Key: str, Body: Any, ContentMD5: str, **_: Any) -> dict[str, Any]:
        session_id, path = self._split(Key)
        if path == fmt.MANIFEST:  # the service writes it, once every file is verified
            data = Body.read()
            try:
                self.service.op(
                    session_id, "complete", {"manifest": base64.b64encode(data).decode()}, "complete-response"
                )
            except GrantRefused as e:
                if e.code == Code.ALREADY_COMPLETE:
                    raise _client_error("PreconditionFailed", 412, str(e), "PutObject") from e
                raise
            return {"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'}
        if session_id in self._complete:
            raise _client_error("PreconditionFailed", 412, "bundle complete", "PutObject")
        reply = self._send(Key, "put-url", {"md5": ContentMD5}, Body, "PutObject")
        self._op(Key, "complete-file", {"upload_id": None, "parts": None}, "file-state", "PutObject")
        return reply

    def create_multipart_upload(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        if self._split(Key)[0] in self._complete:
            raise _client_error("PreconditionFailed", 412, "bundle complete", "CreateMultipartUpload")
        return {"UploadId": self._op(Key, "multipart", {}, "multipart-response", "CreateMultipartUpload")["upload_id"]}

    def upload_part(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
        PartNumber: int,
        Body: Any,
        ContentLength: int,
        ContentMD5: str,
    ) -> dict[str, Any]:
        ask = {"upload_id": UploadId, "part": PartNumber, "bytes": ContentLength, "md5": ContentMD5}
        return self._send(Key, "part-url", ask, Body, "UploadPart")

    def list_parts(self, *, Bucket: str, Key: str, UploadId: str, **_: Any) -> dict[str, Any]:
        parts = self._op(Key, "parts", {"upload_id": UploadId}, "parts-response", "ListParts")["parts"]
        listed = [{"PartNumber": p["part"], "ETag": f'"{p["etag"]}"', "Size": p["bytes"]} for p in parts]
        return {"Parts": listed, "IsTruncated": False}

    def complete_multipart_upload(
        self, *, Bucket: str, Key: str, UploadId: str, MultipartUpload: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        parts = [{"part": p["PartNumber"], "etag": p["ETag"].strip('"')} for p in MultipartUpload["Parts"]]
        self._op(Key, "complete-file", {"upload_id": UploadId, "parts": parts}, "file-state", "CompleteMultipartUpload")
        return {}

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        return self._op(Key, "abort-file", {"upload_id": UploadId}, "empty", "AbortMultipartUpload")

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        return self._op(Key, "discard", {}, "empty", "DeleteObject")

    def close(self) -> None:
        self.service.close()
        self.store.clear()

    # --- the bytes, straight to the store ---------------------------------------------------------------
    def _send(self, key: str, op: str, ask: dict[str, Any], body: Any, operation: str) -> dict[str, Any]:
        """PUT `body` through a presigned URL from the service; one fresh URL more if the store says it expired."""
        for attempt in (1, 2):
            grant = self._op(key, op, ask, "presigned", operation)
            body.seek(0)
            headers = {**grant["headers"], "Content-Length": str(len(body))}
            try:
                reply = self.store.urlopen("PUT", grant["url"], body=body, headers=headers, preload_content=True)
            except urllib3.exceptions.HTTPError as e:
                raise StoreUnreachable(grant["url"].split("?", 1)[0].rsplit("/", 2)[0], type(e).__name__) from e
            if reply.status < 300:
                return {"ETag": reply.headers.get("ETag", "")}
            fields = dict(_XML_FIELD.findall(reply.data or b""))
            code = fields.get(b"Code", str(reply.status).encode()).decode("ascii", "replace")
            message = fields.get(b"Message", b"").decode("utf-8", "replace")
            if attempt == 1 and _expired(reply.status, code, message):
                log.info("%s: the presigned URL expired before it was used; asking for a fresh one", key)
                continue
            raise _client_error(code, reply.status, message, operation)
        raise AssertionError("unreachable")
