"""Validate one bundle: the entry points and the order of the checks. `validate_bundle` never raises for
a bad bundle; it reports. A check that crashes becomes an `internal` finding, so one odd bundle cannot
stop a batch; only cancellation (`trajrec.errors.Cancelled`) escapes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from trajrec import format as fmt
from trajrec.errors import BundleError, Cancelled
from trajrec.source import BundleSource, open_source
from trajrec.validation.context import Context
from trajrec.validation.files import check_clock, check_files, check_manifest
from trajrec.validation.media import check_audio, check_video
from trajrec.validation.privacy import check_elements, check_privacy
from trajrec.validation.report import Code, Finding, Report
from trajrec.validation.streams import check_events, check_frames, check_markers, check_windows


def run_checks(ctx: Context) -> None:
    """Every check in order; the first group decides whether the rest can run at all."""
    m = check_manifest(ctx)
    if m is None:
        return
    check_files(ctx, m)
    span = check_clock(ctx, m)
    frames = check_frames(ctx, m, span)
    if frames is not None and ctx.usable(fmt.VIDEO):
        check_video(ctx, m["streams"]["screen"], frames)
    events = check_events(ctx, m, span)
    check_windows(ctx, m, span)
    check_elements(ctx, m, span)
    check_privacy(ctx, m, events, frames)
    check_markers(ctx, m, span)
    check_audio(ctx, m["streams"]["audio"], span)


def validate_source(
    source: BundleSource,
    *,
    deep: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Validate the bundle behind an open source. `progress(n)` hears of every n bytes hashed; setting
    `cancel` raises Cancelled at the next chunk or decoded packet."""
    t0 = time.perf_counter()
    ctx = Context(source, deep, cancel, progress)
    report = Report(location=source.location)
    try:
        run_checks(ctx)
    except Cancelled:
        raise
    except Exception as e:  # a check that met something it did not foresee: report, never crash the batch
        ctx.add(Code.INTERNAL, "", f"validator error {type(e).__name__}: {str(e)[:300]} (please report)")
    report.findings = ctx.findings
    report.bytes = ctx.bytes
    # The manifest may be schema-invalid here (an internal error): read it defensively.
    if ctx.raw and not any(f.code in (Code.MANIFEST_SCHEMA, Code.FORMAT_VERSION) for f in ctx.findings):
        report.session_id = ctx.raw.get("session_id")
        report.status = ctx.raw.get("status")
        report.duration_ns = ctx.raw.get("stats", {}).get("duration_ns")
        report.frames = ctx.raw.get("stats", {}).get("frames")
    report.seconds = time.perf_counter() - t0
    return report


def validate_bundle(
    path: str,
    *,
    deep: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Validate the bundle at `path` (directory or tar). Problems become findings, never exceptions."""
    try:
        source = open_source(path)
    except BundleError as e:
        return Report(location=path, findings=[Finding(Code.UNREADABLE, Code.UNREADABLE.severity, "", str(e))])
    except Exception as e:  # an archive that breaks the reader in a way nobody foresaw: this bundle's finding
        message = f"cannot be opened: {type(e).__name__}: {str(e)[:300]} (please report)"
        return Report(location=path, findings=[Finding(Code.INTERNAL, Code.INTERNAL.severity, "", message)])
    with source:
        return validate_source(source, deep=deep, cancel=cancel, progress=progress)


def bundle_bytes(path: str) -> int:
    """Bytes a validation of `path` will hash (for progress totals); 0 when unreadable."""
    try:
        with open_source(path) as s:
            return sum(m.size for m in s.members.values())
    except BundleError:
        return 0
