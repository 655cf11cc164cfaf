"""When keys are private: spans of session time opened and closed from the capture threads, read by the guard.

A span opens when a password field takes the focus or the expert hides keys with the hotkey, and closes when
that ends. Times are when the change was *heard* (a focus signal arrives a few ms after the focus moved), so
the guard widens each span by a margin before and after (`InputGuard`). Closed spans are handed to the log
once, for the manifest's `privacy.spans`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trajrec.format import PrivacyKind, PrivacySpan


class PrivacyState:
    """Thread-safe: `mark` from any thread; `covers`, `take_closed` from the log thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[PrivacyKind, int] = {}  # kind -> start_ns
        self._closed: list[PrivacySpan] = []  # every closed span, in order of closing
        self._handed = 0  # how many of _closed the log has taken

    def mark(self, kind: PrivacyKind, on: bool, t_ns: int) -> None:
        """`kind` is on (or off) from `t_ns`; repeating the current state changes nothing."""
        with self._lock:
            if on and kind not in self._open:
                self._open[kind] = t_ns
            elif not on and kind in self._open:
                start = self._open.pop(kind)
                self._closed.append(PrivacySpan(start, max(start, t_ns), kind))

    def is_on(self, kind: PrivacyKind) -> bool:
        with self._lock:
            return kind in self._open

    def covers(self, t_ns: int, before_ns: int, after_ns: int, kinds: Iterable[PrivacyKind] | None = None) -> bool:
        """Whether `t_ns` lies in a span (closed, or open until now) widened by `before_ns` at its start and
        `after_ns` at its end."""
        wanted = None if kinds is None else set(kinds)
        with self._lock:
            for kind, start in self._open.items():
                if (wanted is None or kind in wanted) and t_ns >= start - before_ns:
                    return True
            for span in reversed(self._closed):
                inside = span.start_ns - before_ns <= t_ns <= span.end_ns + after_ns
                if inside and (wanted is None or span.kind in wanted):
                    return True
        return False

    def take_closed(self) -> list[PrivacySpan]:
        """Spans closed since the last call (for the log)."""
        with self._lock:
            out = self._closed[self._handed :]
            self._handed = len(self._closed)
            return out

    def close_all(self, t_ns: int) -> None:
        """Close every open span at `t_ns` (the session stops)."""
        with self._lock:
            for kind, start in self._open.items():
                self._closed.append(PrivacySpan(start, max(start, t_ns), kind))
            self._open.clear()


@dataclass(frozen=True, slots=True)
class GuardsRecord:
    """Which guards run this session, logged once the sources started (the manifest's `privacy` header)."""

    t_ns: int
    accessibility: str | None  # None: available; else why not (the password-field guard runs degraded)
    deny_entries: int = 0
    deny_sha256: str = hashlib.sha256(b"[]").hexdigest()
    masked_frames: int | None = None  # logged again at stop with the frames in which denied windows were filled

    def to_json(self) -> dict[str, Any]:
        access: dict[str, Any] = {"available": self.accessibility is None}
        if self.accessibility is not None:
            access["reason"] = self.accessibility
        out: dict[str, Any] = {
            "accessibility": access,
            "deny_list": {"entries": self.deny_entries, "sha256": self.deny_sha256},
        }
        if self.masked_frames is not None:
            out["masked_frames"] = self.masked_frames
        return out
