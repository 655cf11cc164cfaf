"""The grant protocol, version 1: its routes, refusal codes with their HTTP statuses, and the check of every body
against `schemas/grants.schema.json` (the contract). The lab's service and the expert's client both use it."""

from __future__ import annotations

import enum
import json
from typing import Any

from trajrec.manifest import schema_errors

PROTOCOL = 1
SCHEMA_FILE = "grants.schema.json"
WHOAMI = "/v1/whoami"
BUNDLES = "/v1/bundles"
OPS = ("put-url", "multipart", "part-url", "parts", "complete-file", "abort-file", "head", "discard", "complete")
MAX_BODY_BYTES = 24 * 1024 * 1024  # a complete request carries the manifest (16 MiB at most) in base64


def op_path(session_id: str, op: str) -> str:
    return f"{BUNDLES}/{session_id}/{op}"


class Code(enum.StrEnum):
    BAD_REQUEST = "bad-request"
    TOKEN_UNKNOWN = "token-unknown"
    TOKEN_EXPIRED = "token-expired"
    TOKEN_REVOKED = "token-revoked"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    ALREADY_COMPLETE = "already-complete"
    SESSION_TAKEN = "session-taken"
    CONFLICT = "conflict"
    CHECKSUM = "checksum-mismatch"
    PARTS_MISSING = "parts-missing"
    QUOTA = "quota-exceeded"
    RATE_LIMITED = "rate-limited"
    STORE_ERROR = "store-error"
    STORE_BUSY = "store-busy"
    UNSUPPORTED = "unsupported-protocol"


STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.TOKEN_UNKNOWN: 401,
    Code.TOKEN_EXPIRED: 401,
    Code.TOKEN_REVOKED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.ALREADY_COMPLETE: 409,
    Code.SESSION_TAKEN: 409,
    Code.CONFLICT: 409,
    Code.CHECKSUM: 409,
    Code.PARTS_MISSING: 409,
    Code.QUOTA: 413,
    Code.RATE_LIMITED: 429,
    Code.STORE_ERROR: 502,
    Code.STORE_BUSY: 503,
    Code.UNSUPPORTED: 400,
}
AUTH_CODES = frozenset({Code.TOKEN_UNKNOWN, Code.TOKEN_EXPIRED, Code.TOKEN_REVOKED})
RETRYABLE_CODES = frozenset({Code.RATE_LIMITED, Code.STORE_BUSY, Code.STORE_ERROR})


class ProtocolError(ValueError):
    """A body that is not what the protocol says (one line, with the first problems)."""


def check(definition: str, body: Any) -> Any:
    """`body` if it matches the schema's `definition`; raises ProtocolError otherwise."""
    problems = schema_errors(body, SCHEMA_FILE, limit=3, definition=definition)
    if problems:
        raise ProtocolError(f"not a valid {definition}: {'; '.join(problems)}")
    return body


def parse(definition: str, raw: bytes) -> Any:
    """JSON bytes checked against `definition`; raises ProtocolError."""
    if len(raw) > MAX_BODY_BYTES:
        raise ProtocolError(f"body of {len(raw)} bytes is over the {MAX_BODY_BYTES} limit")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"not JSON ({e})") from e
    return check(definition, body)


def error_body(code: Code, message: str) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message[:2000]}}
