"""File hashing: the one SHA-256 of a file or stream (chunked, with progress and cancellation hooks).

Sealing records each file's digest in the manifest; the validator, the uploader (bundle checks before
and after upload) and the downloader (received files) compare against it with this same code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

CHUNK = 1 << 20  # 1 MiB reads: hashlib releases the GIL on buffers this size


def iter_chunks(f: IO[bytes], chunk: int = CHUNK) -> Iterator[bytes]:
    while b := f.read(chunk):
        yield b


def sha256_stream(
    f: IO[bytes],
    *,
    on_chunk: Callable[[int], None] | None = None,
    h: hashlib._Hash | None = None,
) -> tuple[str, int]:
    """(hex SHA-256, bytes read) of the rest of `f`. `on_chunk(n)` runs after each chunk (progress; it
    may raise to cancel); `h` continues a hash already fed with earlier bytes."""
    h = h or hashlib.sha256()
    n = 0
    for b in iter_chunks(f):
        h.update(b)
        n += len(b)
        if on_chunk is not None:
            on_chunk(len(b))
    return h.hexdigest(), n


def sha256_file(path: Path | str, *, on_chunk: Callable[[int], None] | None = None) -> str:
    """Hex SHA-256 of the file at `path` (unbuffered reads)."""
    with open(path, "rb", buffering=0) as f:
        return sha256_stream(f, on_chunk=on_chunk)[0]
