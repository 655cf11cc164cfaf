"""Scanning a received bundle for secrets, without changing it: what was typed (key events rebuilt into text) and
what was shown (OCR of the video's keyframes and of the frames after each stretch of typing), through the same
detectors sealing runs (`trajrec.secrets`) plus the task's `secret_patterns` and a lab's own.

    with trajrec.open(path) as b:
        report = trajrec.scan(b, patterns=[r"MRN-\\d{6}"])
    for f in report.findings: print(f.source, f.kind, f.start_ns, f.box)

A finding says where and what kind, never the secret itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.secrets import compiled, find_typed_secrets, focus_times, stretches

SETTLE_NS = 300_000_000  # the frame read after a stretch of typing: this long after its last key


@dataclass(frozen=True)
class SecretFinding:
    source: Literal["typed", "screen"]
    kind: str  # the detector: "AWS Access Key", "Payment card number", "Lab pattern 1", ...
    start_ns: int
    end_ns: int
    box: tuple[int, int, int, int] | None = None  # screen: x, y, w, h in video pixels
    keys: int = 0  # typed: key events that typed it

    def to_json(self, session_start_ns: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "start_s": round((self.start_ns - session_start_ns) / 1e9, 3),
            "end_s": round((self.end_ns - session_start_ns) / 1e9, 3),
        }
        if self.box is not None:
            out["box"] = list(self.box)
        if self.keys:
            out["keys"] = self.keys
        return out


@dataclass
class ScanReport:
    location: str
    session_id: str | None = None
    start_ns: int = 0
    findings: list[SecretFinding] = field(default_factory=list)
    screen_scanned: bool = False
    error: str | None = None  # the bundle could not be scanned (unreadable, damaged)

    @property
    def clean(self) -> bool:
        return self.error is None and not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "session_id": self.session_id,
            "result": "unreadable" if self.error else ("clean" if not self.findings else "secrets"),
            "error": self.error,
            "screen_scanned": self.screen_scanned,
            "findings": [f.to_json(self.start_ns) for f in self.findings],
        }


def typed_secrets(reader: BundleReader, patterns: Sequence[str] = ()) -> list[SecretFinding]:
    """Secrets in what was typed (keys already redacted are not text any more)."""
    events = reader.event_records()
    focus = _focus(reader)
    return [
        SecretFinding("typed", s.kind, s.start_ns, s.end_ns, keys=len(s.events))
        for s in find_typed_secrets(events, focus, patterns)
    ]


def typing_ends(reader: BundleReader) -> list[int]:
    """When each stretch of typing ended (plus a moment for the screen to show it): frames worth reading."""
    events = reader.event_records()
    focus = _focus(reader)
    return [events[s.keys[-1]].t_ns + SETTLE_NS for s in stretches(events, focus) if s.keys]


def scan(
    reader: BundleReader,
    patterns: Sequence[str] = (),
    *,
    screen: bool = True,
    task_patterns: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Every secret typed or shown in the bundle, by the built-in detectors and `patterns`. With `task_patterns`,
    also the `secret_patterns` the bundle's task names: they come from the bundle, and a regular expression can
    be made to run for ever, so only for bundles from a trusted source. With `screen`, the video is read by OCR
    (tesseract; `trajrec.onscreen.ocr_available()` says whether it runs)."""
    own = [str(p) for p in reader.manifest["task"].get("secret_patterns", [])] if task_patterns else []
    every = [*patterns, *own]
    compiled(every)  # a pattern that does not compile: ValueError before anything is read
    report = ScanReport(location=reader.source.location, session_id=reader.session_id, start_ns=reader.start_ns)
    report.findings += typed_secrets(reader, every)
    if screen and reader.has_screen:
        from trajrec.onscreen import scan_screen

        shown = scan_screen(reader, compiled(every), extra_ns=typing_ends(reader), progress=progress)
        report.findings += [SecretFinding("screen", s.kind, s.start_ns, s.end_ns, box=s.box) for s in shown]
        report.screen_scanned = True
    report.findings.sort(key=lambda f: (f.start_ns, f.source))
    return report


def _focus(reader: BundleReader) -> list[int]:
    elements = [e.t_ns for e in reader.element_records() if e.kind == fmt.ElementKind.FOCUS]
    return focus_times(reader.window_records(), elements)


__all__ = ["ScanReport", "SecretFinding", "scan", "typed_secrets", "typing_ends"]
