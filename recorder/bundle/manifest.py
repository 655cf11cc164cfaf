"""manifest.json: (de)serialisation, the size limit, schema validation and file checksums."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import cache
from typing import IO, Any

from jsonschema import Draft202012Validator

import recorder.schemas as schemas
from recorder.bundle.format import MANIFEST_SCHEMA_FILE, MAX_MANIFEST_BYTES
from recorder.errors import ManifestError

HASH_CHUNK = 1 << 20


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


def load_manifest(data: bytes) -> dict[str, Any]:
    """Parse manifest bytes; ManifestError (one line) for anything that is not a JSON object."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest.json is {len(data)} bytes, over the {MAX_MANIFEST_BYTES} byte limit")
    try:
        obj = json.loads(data)
    except UnicodeDecodeError as e:
        raise ManifestError(f"manifest.json is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise ManifestError(f"manifest.json is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise ManifestError("manifest.json is nested too deeply to be a manifest") from e
    if not isinstance(obj, dict):
        raise ManifestError(f"manifest.json holds a JSON {type(obj).__name__}, not an object")
    return obj


@cache
def validator(schema_file: str) -> Draft202012Validator:
    return Draft202012Validator(schemas.load(schema_file))


def schema_errors(
    obj: Any, schema_file: str = MANIFEST_SCHEMA_FILE, limit: int = 20, ignore_unknown: bool = False
) -> list[str]:
    """Human-readable schema violations, each with the JSON path of the offending value.

    `ignore_unknown` tolerates properties the schema does not know (a newer minor format version)."""
    out = []
    for err in sorted(validator(schema_file).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        if ignore_unknown and err.validator == "additionalProperties":
            continue
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        msg = err.message if len(err.message) <= 200 else err.message[:197] + "..."
        out.append(f"{where}: {msg}")
        if len(out) >= limit:
            out.append("... more schema errors not shown")
            break
    return out


def iter_chunks(f: IO[bytes], chunk: int = HASH_CHUNK) -> Iterator[bytes]:
    while True:
        b = f.read(chunk)
        if not b:
            return
        yield b


def sha256_stream(f: IO[bytes]) -> tuple[str, int]:
    """Return (hex sha256, bytes read)."""
    h = hashlib.sha256()
    n = 0
    for b in iter_chunks(f):
        h.update(b)
        n += len(b)
    return h.hexdigest(), n
