"""The live session log: every timestamped record appended to an MCAP file while recording.

Messages are JSON on named topics, stamped with their session-clock time as MCAP log_time. The log is
flushed (a chunk closed and written) at least every FLUSH_INTERVAL_NS, so a crash loses at most about
a second of records; `read_live_log` reads whatever survived, up to a torn tail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcap.records import Channel, Message
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from trajrec import __version__
from trajrec.topics import Topic

FLUSH_INTERVAL_NS = 1_000_000_000

TOPICS = tuple(Topic)


class LiveLog:
    """Append-only MCAP writer; safe to call from the session's writer threads (one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file, chunk_size=256 * 1024, compression=CompressionType.ZSTD)
        self._writer.start(profile="trajrec", library=f"trajectory-recorder {__version__}")
        schema_id = self._writer.register_schema(name="json", encoding="jsonschema", data=b"{}")
        self._channels = {
            topic: self._writer.register_channel(topic=topic, message_encoding="json", schema_id=schema_id)
            for topic in TOPICS
        }
        self._seq = 0
        self._last_flush = time.monotonic_ns()
        self._closed = False
        self._lock = threading.Lock()

    def write(self, topic: Topic, t_ns: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        with self._lock:
            self._seq += 1
            self._writer.add_message(
                channel_id=self._channels[topic], log_time=t_ns, publish_time=t_ns, data=data, sequence=self._seq
            )
            if time.monotonic_ns() - self._last_flush >= FLUSH_INTERVAL_NS:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        self._writer.flush()  # type: ignore[no-untyped-call]
        self._last_flush = time.monotonic_ns()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._writer.finish()  # type: ignore[no-untyped-call]
            finally:
                self._file.close()


@dataclass
class LiveLogContents:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in TOPICS})
    truncated: bool = False  # the file ends in a torn record (the writer died)
    error: str | None = None


def iter_live_log(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (topic, log_time, payload) in file order; raises at a torn tail."""
    channels: dict[int, str] = {}
    with open(path, "rb") as f:
        for record in StreamReader(f, skip_magic=False).records:
            if isinstance(record, Channel):
                channels[record.id] = record.topic
            elif isinstance(record, Message):
                yield channels[record.channel_id], record.log_time, json.loads(record.data)


def read_live_log(path: Path) -> LiveLogContents:
    """Read every record that survived; a torn tail (crash) sets `truncated` instead of raising."""
    out = LiveLogContents()
    try:
        for topic, _t, payload in iter_live_log(path):
            out.records.setdefault(topic, []).append(payload)
    except Exception as e:  # whatever a torn tail raises (McapError, struct.error, zstd, EOF...)
        out.truncated = True
        out.error = f"{type(e).__name__}: {e}"
    return out
