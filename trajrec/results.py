"""Batch results as a Parquet table, written as they come (`trajrec validate|report|export --out results.parquet`):
one row per bundle, in row groups, so a run over 100,000 bundles holds no more than a row group in memory. Each
command's rows have their schema here: findings (validate), grades and quality (report), what was exported.

The file is written as <out>.partial and renamed into place when the run ends; an interrupted run leaves the
.partial with every row group finished so far (readable: pyarrow.parquet.ParquetFile.iter_batches).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1000
FINDING = pa.struct([("code", pa.string()), ("severity", pa.string()), ("path", pa.string()), ("message", pa.string())])
VALIDATE = pa.schema(
    [
        ("path", pa.string()),
        ("valid", pa.bool_()),
        ("session_id", pa.string()),
        ("status", pa.string()),
        ("duration_ns", pa.int64()),
        ("frames", pa.int64()),
        ("bytes", pa.int64()),
        ("seconds", pa.float64()),
        ("errors", pa.int32()),
        ("warnings", pa.int32()),
        ("findings", pa.list_(FINDING)),
    ]
)
REPORT = pa.schema(
    [
        ("location", pa.string()),
        ("grade", pa.string()),  # pass | warn | fail, null when unreadable
        ("policy", pa.string()),
        ("reasons", pa.list_(pa.string())),
        ("error", pa.string()),
        ("session_id", pa.string()),
        ("duration_s", pa.float64()),
        ("active_s", pa.float64()),
        ("narration_coverage", pa.float64()),
        ("actions_per_active_minute", pa.float64()),
        ("max_gap_s", pa.float64()),
        ("quality", pa.string()),  # the whole record as JSON (schemas/quality.schema.json)
    ]
)
EXPORT = pa.schema(
    [
        ("location", pa.string()),
        ("result", pa.string()),  # exported | resumed | invalid | unreadable
        ("session_id", pa.string()),
        ("steps", pa.int64()),
        ("frames", pa.int64()),
        ("bytes", pa.int64()),
        ("error", pa.string()),
        ("problems", pa.list_(pa.string())),
    ]
)


class ResultsWriter:
    """Rows (dicts with the schema's fields; others are ignored, missing ones null) into a Parquet file, a row group
    at a time. A context manager: on a clean exit the file is renamed into place; otherwise the .partial stays with
    what was finished."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.partial = path.with_name(path.name + ".partial")
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._writer = pq.ParquetWriter(self._file, schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append({name: row.get(name) for name in self.schema.names})
        self.count += 1
        if len(self._rows) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def close(self, complete: bool) -> None:
        self.flush()
        self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if complete:
            os.replace(self.partial, self.path)

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(complete=exc_type is None)


def open_results(out: str | Path | None, schema: pa.Schema) -> AbstractContextManager[ResultsWriter | None]:
    """A ResultsWriter for --out, or nothing without it."""
    return nullcontext() if out is None else ResultsWriter(Path(out), schema)
