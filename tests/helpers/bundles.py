"""Bundles for tests: break a copy on purpose (manifest edits, resealed files, rewritten tables) and read findings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trajrec import format as fmt
from trajrec.validation import validate_bundle


def manifest(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bundle / fmt.MANIFEST).read_text())
    return data


def edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    m = manifest(bundle)
    change(m)
    (bundle / fmt.MANIFEST).write_text(json.dumps(m, indent=2))


def reseal(bundle: Path, relpath: str) -> None:
    """Update the manifest's size and sha256 of `relpath` so only the content change remains."""
    data = (bundle / relpath).read_bytes()

    def change(m: dict[str, Any]) -> None:
        for entry in m["files"]:
            if entry["path"] == relpath:
                entry["bytes"] = len(data)
                entry["sha256"] = hashlib.sha256(data).hexdigest()

    edit_manifest(bundle, change)


def rewrite_table(
    bundle: Path, relpath: str, change: Callable[[list[dict[str, Any]]], Any], schema: pa.Schema | None = None
) -> None:
    """Edit a Parquet table's rows in place (change mutates the row list), then reseal it."""
    table = pq.read_table(bundle / relpath)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema or table.schema), bundle / relpath)
    reseal(bundle, relpath)


def codes(path: Path | str, deep: bool = False) -> set[str]:
    return {f.code for f in validate_bundle(str(path), deep=deep).findings}


def make_bundle(root: Path, session_id: str, sizes: dict[str, int], seed: int = 0) -> Path:
    """A sealed bundle as the uploader sees it: files, and a manifest listing their sizes and SHA-256."""
    bundle = root / session_id
    rng = np.random.default_rng(seed)
    files = []
    for rel, size in sizes.items():
        path = bundle / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        path.write_bytes(data)
        files.append({"path": rel, "bytes": size, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"schema_version": "1.0", "session_id": session_id, "status": "complete", "files": files}
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


def typed_into(session: Any, text: str, t_end: int) -> None:
    """Keys as the input source hands them over to a session, 2 ms apart, the last at `t_end`."""
    ms = 1_000_000
    t0 = t_end - 2 * ms * len(text)
    for i, ch in enumerate(text):
        code = 24 + ord(ch) % 40
        for dt, kind in ((0, fmt.EventKind.KEY_DOWN), (ms, fmt.EventKind.KEY_UP)):
            session.offer_record(fmt.InputEvent(0, t0 + i * 2 * ms + dt, kind, key=ch, char=ch, scancode=code))


def every_byte(bundle: Path) -> bytes:
    """Every byte of the bundle, with the raw log decompressed (MCAP chunks are zstd)."""
    from recorder.writers.log import iter_live_log

    blob = b"".join(p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file())
    return blob + json.dumps(list(iter_live_log(bundle / fmt.RAW_LOG))).encode()


def private_copy(src: Path, tmp_path: Path) -> Path:
    """A copy of the bundle `src`, named after its session id, alone in a directory of its own (to edit freely)."""
    import shutil

    dst = tmp_path / "bundles" / src.name
    shutil.copytree(src, dst)
    return dst
