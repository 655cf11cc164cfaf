"""The grant service's own checks of what an expert uploaded: an object read back (its size and SHA-256, never
taken from the client) and a manifest against the files declared when its bundle was opened."""

from __future__ import annotations

import hashlib
import json
from typing import Any

READ_CHUNK = 4 * 1024 * 1024


def read_back(stream: Any, size: int) -> tuple[int, str]:
    """(bytes read, hex SHA-256) of a store's body stream; stops a little past `size` (a bigger object is wrong
    whatever the rest holds). Closes the stream."""
    digest, seen = hashlib.sha256(), 0
    try:
        while seen <= size and (chunk := stream.read(READ_CHUNK)):
            digest.update(chunk)
            seen += len(chunk)
    finally:
        stream.close()
    return seen, digest.hexdigest()


def manifest_problem(session_id: str, declared: dict[str, tuple[int, str]], data: bytes) -> str | None:
    """Why `data` cannot be the manifest of bundle `session_id` whose files were declared as `declared`
    (path -> (bytes, sha256)), or None."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as e:
        return f"manifest.json is not JSON ({e})"
    if not isinstance(manifest, dict) or manifest.get("session_id") != session_id:
        return "manifest.json names another session"
    listed = manifest.get("files")
    try:
        files = {f["path"]: (int(f["bytes"]), str(f["sha256"])) for f in listed} if isinstance(listed, list) else None
    except (TypeError, KeyError, ValueError):
        files = None
    if files != declared:
        return "manifest.json lists other files than the ones uploaded"
    return None
