"""`trajrec scan PATH...`: look for secrets typed or shown in bundles (never changing them); one line per finding,
a summary, exit codes like validate's."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from recorder.commands.batch import CountProgress, add_batch_options, bundle_problem, open_reader, per_bundle
from recorder.commands.validate import expand, progress_wanted, remote_bundles
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.terminal import console
from trajrec.scanning import ScanReport, scan
from trajrec.secrets import compiled

if TYPE_CHECKING:
    from uploader.remote import RemoteBundles


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="look for secrets typed or shown in bundles (directories, .tar, or s3:// prefixes)",
        description="Look for secrets in trajectory bundles without changing them: cloud and service keys, private "
        "keys, tokens, high-entropy strings (detect-secrets' detectors), payment card numbers (Luhn), the task's "
        "secret_patterns and any --pattern, in the text rebuilt from the key events and, by OCR (tesseract), on the "
        "screen (every keyframe and the frame after each stretch of typing). A finding names the detector and when "
        "(and where on screen), never the secret. A folder stands for the bundles in it; s3://BUCKET/PREFIX for "
        "the bundles under it, read straight from the store.",
        epilog="Exit codes: 0 no secret found in any bundle, 1 a secret found (or a bundle that could not be "
        "scanned), 2 usage error (a path that does not exist, a pattern that does not compile, no tesseract), "
        "3 the store failed, 130 interrupted. Redact what is found with the review screen or "
        "recorder.sealing.edit.redact_bundle.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="bundle directory, .tar, a folder of them, or s3://…")
    p.add_argument("--pattern", action="append", default=[], metavar="REGEX", help="also look for this (repeatable)")
    p.add_argument(
        "--task-patterns",
        action="store_true",
        help="also the secret_patterns each bundle's task names (they come from the bundle: a hostile pattern can "
        "run for ever; use for bundles from a trusted source)",
    )
    p.add_argument("--no-screen", action="store_true", help="only what was typed: no OCR of the video")
    add_batch_options(p, jobs=2, jobs_help="bundles scanned at once (default 2: OCR is heavy)", lines="finding lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    try:
        compiled(args.pattern)
    except ValueError as e:
        raise UsageError(f"--pattern: {e}") from e
    if not args.no_screen:
        from trajrec.onscreen import ocr_available

        problem = ocr_available()
        if problem is not None:
            raise UsageError(f"{problem}; or pass --no-screen to scan only what was typed")
    out, err = console(), console(stderr=True)
    cancel = threading.Event()
    reports: dict[str, ScanReport] = {}
    t0 = time.perf_counter()
    with remote_bundles(args.paths) as remote:
        bundles = expand(args.paths, remote)
        progress = CountProgress(err, "scan", len(bundles), progress_wanted(args))

        def done(bundle: str, report: ScanReport) -> None:
            reports[bundle] = report
            progress.step()
            if not args.json and not args.quiet:
                _print(out, report)

        try:
            per_bundle(bundles, lambda b: _scan_one(b, remote, args, cancel), done, jobs=args.jobs, cancel=cancel,
                       name="scan")  # fmt: skip
        finally:
            progress.stop()
    ordered = [reports[b] for b in bundles]
    elapsed = time.perf_counter() - t0
    flagged = sum(not r.clean for r in ordered)
    if args.json:
        summary = {
            "bundles": len(ordered),
            "clean": sum(r.clean for r in ordered),
            "with_secrets": sum(bool(r.findings) for r in ordered),
            "unreadable": sum(r.error is not None for r in ordered),
            "findings": sum(len(r.findings) for r in ordered),
            "seconds": round(elapsed, 3),
        }
        json.dump({"bundles": [r.to_json() for r in ordered], "summary": summary}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        found = sum(len(r.findings) for r in ordered)
        out.print(
            f"{len(ordered)} bundle{'s' if len(ordered) != 1 else ''} scanned: {len(ordered) - flagged} clean, "
            f"{sum(bool(r.findings) for r in ordered)} with secrets ({found} findings), "
            f"{sum(r.error is not None for r in ordered)} unreadable; {elapsed:.1f} s",
            markup=False,
        )
    return ExitCode.INVALID if flagged else ExitCode.OK


def _scan_one(
    bundle: str, remote: RemoteBundles | None, args: argparse.Namespace, cancel: threading.Event
) -> ScanReport:
    """One bundle's report; a bundle that cannot be read is its report's error, and the batch goes on."""
    if cancel.is_set():
        return ScanReport(location=bundle, error="cancelled")
    try:
        with open_reader(bundle, remote, cancel) as reader:
            return scan(reader, args.pattern, screen=not args.no_screen, task_patterns=args.task_patterns)
    except Exception as e:  # a task pattern that does not compile, a damaged bundle: this bundle's problem
        return ScanReport(location=bundle, error=bundle_problem(e))


def _print(out: Console, r: ScanReport) -> None:
    where = escape(r.location)
    if r.error is not None:
        out.print(f"{where}: [red]unreadable[/] {escape(r.error)}")
    for f in r.findings:
        at = f"{(f.start_ns - r.start_ns) / 1e9:.1f}-{(f.end_ns - r.start_ns) / 1e9:.1f} s"
        box = f" box {f.box[0]},{f.box[1]} {f.box[2]}x{f.box[3]}" if f.box else ""
        out.print(f"{where}: [red]{f.source}[/] {escape(f.kind)} at {at}{box}")
