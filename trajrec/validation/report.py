"""What a validation reports: the finding codes (one enum, with each code's severity), Finding and Report.

`Code` is the one home of the codes: the validator adds findings only by its members, the table in
schemas/README.md ("Finding codes") lists exactly them (a test compares the two), and being a StrEnum a
code compares equal to its string (`f.code == "file-sha256"`) and prints and serialises as it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"  # the bundle is invalid
    WARNING = "warning"  # valid, but a lab should know (recovered, capture stalls)


class Code(enum.StrEnum):
    """A finding's code, grouped as in schemas/README.md, which spells out what each one means."""

    # the bundle as a whole
    UNREADABLE = "unreadable"  # not a directory, not a readable tar
    UNSAFE_MEMBER = "unsafe-member"  # a link, device, absolute or `..` path, duplicate member: never opened
    # manifest (if one of the first five is found, nothing else is checked)
    MANIFEST_MISSING = "manifest-missing"
    MANIFEST_TOO_LARGE = "manifest-too-large"
    MANIFEST_MALFORMED = "manifest-malformed"  # not UTF-8, not JSON, nested too deeply, not an object
    FORMAT_VERSION = "format-version"  # missing, malformed or another major version
    FORMAT_NEWER = "format-newer"  # a newer minor version: checked by this version's rules (warning)
    MANIFEST_SCHEMA = "manifest-schema"  # one finding per schema violation
    STATUS_RECOVERED = "status-recovered"  # sealed after a crash (warning)
    SESSION_ID_MISMATCH = "session-id-mismatch"  # the bundle's name is not its session_id (warning)
    # files (a file with one of the last four problems is not checked further)
    FILE_DUPLICATE = "file-duplicate"
    FILE_UNEXPECTED = "file-unexpected"
    FILE_EXTRA = "file-extra"
    FILE_UNLISTED = "file-unlisted"
    FILE_MISSING = "file-missing"
    FILE_SIZE = "file-size"
    FILE_SHA256 = "file-sha256"
    CLOCK = "clock"  # span, duration and anchors of the manifest's clock disagree
    # Parquet tables
    TABLE_UNREADABLE = "table-unreadable"
    TABLE_SCHEMA = "table-schema"
    TABLE_ROWS = "table-rows"  # also markers.jsonl lines against streams.markers.count
    # screen/frames.parquet
    FRAMES_INDEX = "frames-index"
    FRAMES_PTS_ORDER = "frames-pts-order"
    FRAMES_T_ORDER = "frames-t-order"
    FRAMES_T0 = "frames-t0"
    FRAMES_SPAN = "frames-span"
    FRAMES_IN_PAUSE = "frames-in-pause"
    FRAMES_GAP = "frames-gap"  # capture stalled outside pauses (warning)
    FRAMES_DISPLAY = "frames-display"
    # screen/video.mp4
    VIDEO_UNREADABLE = "video-unreadable"
    VIDEO_DECODE = "video-decode"
    VIDEO_CODEC = "video-codec"
    VIDEO_SIZE = "video-size"
    VIDEO_TIME_BASE = "video-time-base"
    VIDEO_FRAME_COUNT = "video-frame-count"
    VIDEO_PTS = "video-pts"
    VIDEO_KEYFRAMES = "video-keyframes"
    # input/events.parquet
    EVENTS_SEQ = "events-seq"
    EVENTS_ORDER = "events-order"
    EVENTS_SPAN = "events-span"
    EVENTS_IN_PAUSE = "events-in-pause"
    EVENTS_KIND = "events-kind"
    EVENTS_FIELDS = "events-fields"
    EVENTS_UNPAIRED = "events-unpaired"
    EVENTS_COORDS = "events-coords"
    # context/windows.parquet
    WINDOWS_ORDER = "windows-order"
    WINDOWS_SPAN = "windows-span"
    # context/elements.parquet (1.1)
    ELEMENTS_ORDER = "elements-order"
    ELEMENTS_SPAN = "elements-span"
    ELEMENTS_KIND = "elements-kind"
    # privacy (1.1): something the guards should have removed is there, or the manifest's counts disagree
    PRIVACY_LEAK = "privacy-leak"
    PRIVACY_COUNTS = "privacy-counts"
    # markers.jsonl
    MARKERS_MALFORMED = "markers-malformed"
    MARKERS_ORDER = "markers-order"
    MARKERS_SPAN = "markers-span"
    # audio/voiceover.flac
    AUDIO_UNREADABLE = "audio-unreadable"
    AUDIO_DECODE = "audio-decode"
    AUDIO_FORMAT = "audio-format"
    AUDIO_SAMPLES = "audio-samples"
    AUDIO_DURATION = "audio-duration"
    # the validator itself
    INTERNAL = "internal"  # a check met something it did not foresee

    @property
    def severity(self) -> Severity:
        """Every finding of this code has this severity."""
        return Severity.WARNING if self in WARNINGS else Severity.ERROR


# The codes that leave a bundle valid (unless the caller is strict).
WARNINGS = frozenset({Code.FORMAT_NEWER, Code.STATUS_RECOVERED, Code.SESSION_ID_MISMATCH, Code.FRAMES_GAP})


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: Severity
    path: str  # file inside the bundle ("" for the bundle as a whole)
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": str(self.code), "severity": str(self.severity), "path": self.path, "message": self.message}


@dataclass
class Report:
    location: str
    findings: list[Finding] = field(default_factory=list)
    session_id: str | None = None
    status: str | None = None
    duration_ns: int | None = None
    frames: int | None = None
    bytes: int = 0
    seconds: float = 0.0

    @property
    def valid(self) -> bool:
        return not any(f.severity == Severity.ERROR for f in self.findings)

    @property
    def errors(self) -> int:
        return sum(f.severity == Severity.ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == Severity.WARNING for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.location,
            "valid": self.valid,
            "session_id": self.session_id,
            "status": self.status,
            "duration_ns": self.duration_ns,
            "frames": self.frames,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.to_json() for f in self.findings],
        }
