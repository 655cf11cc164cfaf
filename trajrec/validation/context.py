"""The state of one validation run that every check shares: the source, the findings so far, the files
whose content is not to be trusted, the bytes hashed, and the cancel and progress hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import IO, Any, NamedTuple

import numpy as np

from trajrec.errors import Cancelled
from trajrec.source import BundleSource
from trajrec.timeline import Span
from trajrec.validation.report import Code, Finding


class SessionSpan(NamedTuple):
    """The session as the manifest's clock gives it: [start_ns, end_ns] and the pauses inside it."""

    start: int
    end: int
    pauses: list[Span]


def secs(ns: int) -> str:
    """Seconds into the session, for messages."""
    return f"{ns / 1e9:.3f} s"


class Context:
    def __init__(
        self, source: BundleSource, deep: bool, cancel: threading.Event | None, progress: Callable[[int], None] | None
    ) -> None:
        self.src = source
        self.deep = deep
        self.cancel = cancel
        self.progress = progress
        self.findings: list[Finding] = []
        self.bad_files: set[str] = set()  # missing/size/checksum problems: their content is not checked
        # The manifest as loaded, before (or without) the schema check: read it defensively. The checks
        # after the schema check get it as a typed `Manifest` instead.
        self.raw: dict[str, Any] = {}
        self.bytes = 0
        self.newer = False  # written by a newer minor format version: unknown fields and columns allowed

    def add(self, code: Code, path: str, message: str) -> None:
        self.findings.append(Finding(code, code.severity, path, message))

    def usable(self, path: str) -> bool:
        """The file is in the bundle and passed the file checks, so its content is worth checking."""
        return path in self.src.members and path not in self.bad_files

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")

    def on_chunk(self, n: int) -> None:
        """Hashing hook, after each chunk read: stop if cancelled, else count the bytes and report them."""
        self.check_cancel()
        self.bytes += n
        if self.progress:
            self.progress(n)

    def open_member(self, path: str, buffering: int = -1) -> IO[bytes]:
        """A file of the bundle; the local file itself when the source has one (no tar or S3 layer)."""
        local = self.src.local_path(path)
        return open(local, "rb", buffering=buffering) if local else self.src.open(path)

    def outside_span(self, code: Code, path: str, what: str, t: np.ndarray, span: SessionSpan) -> None:
        start, end = span.start, span.end
        bad = np.flatnonzero((t < start) | (t > end))
        if len(bad):
            i = int(bad[0])
            self.add(
                code,
                path,
                f"{len(bad)} {what} outside the session span [{start}, {end}]; first at row "
                f"{i}: t_ns {int(t[i])} ({secs(int(t[i]) - start)} from start)",
            )
