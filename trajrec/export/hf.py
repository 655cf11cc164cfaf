"""The `hf` export: Parquet shards that Hugging Face `datasets` loads with an Image feature for the screenshots.

    DEST/data/<session_id>.parquet   one shard per bundle: a row per step, the screenshots' bytes inside
    DEST/provenance.jsonl            per shard: the bundle's session_id, manifest SHA-256, task, steps
    DEST/README.md                   the dataset card: features table, provenance, how to load it

    datasets.load_dataset("parquet", data_files="DEST/data/*.parquet")   # or load_dataset("DEST")

The features travel in each shard's schema (the `huggingface` metadata key `datasets` reads), the bundle's meta
record in its `trajrec` key. A shard is written as a hidden temporary file and renamed into place: a shard that
exists and names the bundle's manifest is done, so an interrupted export resumes where it stopped. Rows are
written in row groups of ROW_GROUP steps, and screenshots are encoded once and kept only while a later step still
needs them: memory stays flat in the number of bundles and in a bundle's length.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from trajrec.export.steps import Exported, Gate, Rejected, _sync_dir, no_gate, writing
from trajrec.export.steps_data import BundleSteps, ExportOptions, bundle_steps, encode_image
from trajrec.paths import check_session_id

if TYPE_CHECKING:
    from trajrec.reader import BundleReader

DATA = "data"
PROVENANCE = "provenance.jsonl"
CARD = "README.md"
ROW_GROUP = 64
META_KEY = b"trajrec"


def _value(dtype: str) -> dict[str, str]:
    return {"dtype": dtype, "_type": "Value"}


def _seq(feature: dict[str, Any]) -> dict[str, Any]:
    return {"feature": feature, "_type": "Sequence"}


# name, arrow type, datasets feature, what it is (the card's table)
COLUMNS: tuple[tuple[str, pa.DataType, dict[str, Any], str], ...] = (
    ("session_id", pa.string(), _value("string"), "the source bundle"),
    ("step", pa.int32(), _value("int32"), "0, 1, 2... within the bundle"),
    ("t_ns", pa.int64(), _value("int64"), "start, session clock (monotonic ns)"),
    ("end_ns", pa.int64(), _value("int64"), "end, session clock"),
    ("t_s", pa.float64(), _value("float64"), "start, seconds from the session's start"),
    ("utc", pa.string(), _value("string"), "start, UTC (ISO 8601)"),
    ("kind", pa.string(), _value("string"), "click, drag, scroll, type, hotkey, move, marker"),
    ("action", pa.string(), _value("string"), "PyAutoGUI code, coordinates normalised to the screenshot (0..1)"),
    ("x", pa.float64(), _value("float64"), "pointer x normalised to the screenshot, or null"),
    ("y", pa.float64(), _value("float64"), "pointer y normalised to the screenshot, or null"),
    ("structured", pa.string(), _value("string"), "the action as JSON (schemas/action.schema.json)"),
    ("app", pa.string(), _value("string"), "the focused application"),
    ("title", pa.string(), _value("string"), "the focused window's title"),
    ("element", pa.string(), _value("string"), "the accessibility element as JSON (role, name, app), or null"),
    ("narration_start_s", pa.list_(pa.float64()), _seq(_value("float64")), "speech spans around the step: starts"),
    ("narration_end_s", pa.list_(pa.float64()), _seq(_value("float64")), "speech spans around the step: ends"),
    ("task_id", pa.string(), _value("string"), "the task"),
    ("instruction", pa.string(), _value("string"), "the task's instruction"),
    ("expert", pa.string(), _value("string"), "the expert's pseudonym"),
    ("image_before", pa.struct([("bytes", pa.binary()), ("path", pa.string())]), {"_type": "Image"},
     "the screen before the step: its last settled state"),
    ("image_after", pa.struct([("bytes", pa.binary()), ("path", pa.string())]), {"_type": "Image"},
     "the screen after the step, once it settled"),
)  # fmt: skip
FEATURES = {name: feature for name, _, feature, _ in COLUMNS}


def schema(meta: dict[str, Any]) -> pa.Schema:
    return pa.schema(
        [(name, t) for name, t, _, _ in COLUMNS],
        metadata={b"huggingface": json.dumps({"info": {"features": FEATURES}}).encode(),
                  META_KEY: json.dumps(meta).encode()},
    )


def shard_meta(path: Path) -> dict[str, Any] | None:
    """The bundle meta record of a finished shard (None if it is not one)."""
    try:
        md = pq.read_schema(path).metadata or {}
        meta = json.loads(md[META_KEY])
        return meta if isinstance(meta, dict) else None
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None


def _images(b: BundleReader, work: BundleSteps, options: ExportOptions) -> Iterator[dict[int, bytes]]:
    """For each step, the encoded screenshots it names; each frame decoded and encoded once, and dropped once no
    later step names it."""
    last_use: dict[int, int] = {}
    for k, s in enumerate(work.steps):
        for i in _frames(s):
            last_use[i] = k
    cache: dict[int, bytes] = {}
    for k, s in enumerate(work.steps):
        out: dict[int, bytes] = {}
        for i in _frames(s):
            if i not in cache:
                cache[i] = encode_image(b.frame(i), options)
            out[i] = cache[i]
        yield out
        for i in [i for i in cache if last_use[i] <= k]:
            del cache[i]


def _frames(step: dict[str, Any]) -> list[int]:
    """The frame indices a step's screenshots show (before, after)."""
    a = step["structured"]
    return [a[k] for k in ("frame_before", "frame_after") if a[k] is not None]


def _row(
    s: dict[str, Any], meta: dict[str, Any], images: dict[int, bytes], spans: list[dict[str, Any]]
) -> dict[str, Any]:
    def image(which: str) -> dict[str, Any] | None:
        i, name = s["structured"][f"frame_{which}"], s[f"screenshot_{which}"]
        return None if i is None else {"bytes": images[i], "path": f"{meta['source']['session_id']}/{name}"}

    said = [spans[i] for i in s["narration"]]
    return {
        "session_id": meta["source"]["session_id"],
        **{k: s[k] for k in ("step", "t_ns", "end_ns", "t_s", "utc", "kind", "action", "x", "y", "app", "title")},
        "structured": json.dumps(s["structured"], ensure_ascii=False),
        "element": json.dumps(s["element"], ensure_ascii=False) if s["element"] is not None else None,
        "narration_start_s": [n["t_s"] for n in said],
        "narration_end_s": [n["end_s"] for n in said],
        "task_id": meta["task"]["id"],
        "instruction": meta["task"]["instruction"],
        "expert": meta["expert"],
        "image_before": image("before"),
        "image_after": image("after"),
    }


def export_hf(b: BundleReader, dest: Path, options: ExportOptions, gate: Gate = no_gate) -> Exported:
    """Export one bundle as DEST/data/<session_id>.parquet (module docstring); `gate` may hold back the commit."""
    sid = check_session_id(b.session_id, b.source.location)
    data = dest / DATA
    with writing(dest):
        data.mkdir(mode=0o700, exist_ok=True)
    shard = data / f"{sid}.parquet"
    done = shard_meta(shard) if shard.is_file() and not shard.is_symlink() else None
    if done is not None and done.get("source", {}).get("manifest_sha256") == b.manifest_sha256:
        return Exported(sid, skipped=True)
    work = bundle_steps(b, options)
    tmp = data / f".{sid}.parquet.{os.getpid()}.tmp"
    sch = schema(work.meta)
    try:
        with writing(data):  # the frames' decoding raises BundleError: an OSError here is the destination's
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f, pq.ParquetWriter(f, sch, compression="zstd") as writer:
                rows: list[dict[str, Any]] = []
                for s, images in zip(work.steps, _images(b, work, options), strict=True):
                    rows.append(_row(s, work.meta, images, work.meta["narration"]))
                    if len(rows) >= ROW_GROUP:
                        writer.write_table(pa.Table.from_pylist(rows, schema=sch))
                        rows = []
                if rows or not work.steps:
                    writer.write_table(pa.Table.from_pylist(rows, schema=sch))
                writer.close()
                f.flush()
                os.fsync(f.fileno())
            problems = gate()
            if problems:
                raise Rejected(problems)
            os.replace(tmp, shard)
            _sync_dir(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Exported(sid, len(work.steps), len(work.frames), shard.stat().st_size)


def write_card(dest: Path, title: str = "Computer-use trajectories") -> int:
    """provenance.jsonl and README.md from the shards in DEST/data (read one footer at a time); the shard count."""
    from trajrec.paths import write_private

    lines: list[str] = []
    shards = sorted(p for p in (dest / DATA).glob("*.parquet") if not p.name.startswith("."))
    steps = 0
    for p in shards:
        meta = shard_meta(p)
        if meta is None:
            continue
        n = pq.ParquetFile(p).metadata.num_rows
        steps += n
        lines.append(json.dumps({"shard": f"{DATA}/{p.name}", "session_id": meta["source"]["session_id"],
                                 "manifest_sha256": meta["source"]["manifest_sha256"], "task_id": meta["task"]["id"],
                                 "expert": meta["expert"], "steps": n, "duration_s": meta["duration_s"]}))  # fmt: skip
    write_private(dest / PROVENANCE, "".join(line + "\n" for line in lines))
    write_private(dest / CARD, _card(title, len(lines), steps))
    return len(lines)


def _card(title: str, bundles: int, steps: int) -> str:
    from trajrec import __version__

    def kind(feature: dict[str, Any]) -> str:
        return "list of float64" if feature["_type"] == "Sequence" else str(feature.get("dtype", feature["_type"]))

    table = "\n".join(f"| `{name}` | {kind(feature)} | {what} |" for name, _, feature, what in COLUMNS)  # fmt: skip
    return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: {DATA}/*.parquet
---

# {title}

{bundles} recordings, {steps} steps, exported by trajrec {__version__} (`trajrec export --format hf`).

Each row is one step of an expert's session: the action (PyAutoGUI code with coordinates normalised to the
screenshot, and the structured action), its timing on the recording's one clock, the focused window and
accessibility element, the narration spans around it, and the screen before and after it.

```python
import datasets
ds = datasets.load_dataset("parquet", data_files="{DATA}/*.parquet", split="train")
ds[0]["image_before"]   # a PIL image
```

## Features

| name | type | what |
|---|---|---|
{table}

## Provenance

`{PROVENANCE}` lists every shard with its source bundle's `session_id` and the SHA-256 of its `manifest.json`,
which names every file of the bundle by its SHA-256: each row traces back to the exact recording it came from.
"""
