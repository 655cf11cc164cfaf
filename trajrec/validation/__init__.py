"""The validator: every check of the bundle format, each problem reported as a Finding with a code, the
path it concerns and the numbers. `validate_bundle` never raises for a bad bundle; it reports.

Quick mode reads every byte once (checksums) plus headers, tables and the video's packet index.
Deep mode also decodes every video frame and every audio sample.

A facade over its parts: `report` (codes, findings, the report), `context` (one run's state), `files`
(manifest and file set), `streams` (tables and markers), `media` (video and audio), `bundle` (the entry
points and the order of the checks).
"""

from __future__ import annotations

from trajrec.validation.bundle import bundle_bytes, validate_bundle, validate_source
from trajrec.validation.report import Code, Finding, Report, Severity
from trajrec.validation.streams import NEEDED_FIELDS

__all__ = [
    "NEEDED_FIELDS",
    "Code",
    "Finding",
    "Report",
    "Severity",
    "bundle_bytes",
    "validate_bundle",
    "validate_source",
]
