"""`trajrec scan PATH...`: look for secrets typed or shown in bundles (never changing them); one line per finding,
a summary, exit codes like validate's."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from recorder.commands.validate import S3, add_progress_option, expand, progress_wanted, remote_bundles
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.interrupt import sigint_sets
from recorder.terminal import console
from trajrec.errors import Cancelled, RetriesExceeded, TrajrecError
from trajrec.reader import BundleReader
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
    p.add_argument("-j", "--jobs", type=int, default=2, help="bundles scanned at once (default 2: OCR is heavy)")
    p.add_argument("--json", action="store_true", help="print one JSON document (reports and summary) on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-finding lines, only the summary")
    add_progress_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
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
        progress = _Progress(err, len(bundles), progress_wanted(args))
        with sigint_sets(cancel), ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="scan") as pool:
            futures: dict[Future[ScanReport], str] = {
                pool.submit(_scan_one, b, remote, args, cancel): b for b in bundles
            }
            pending = set(futures)
            try:
                while pending and not cancel.is_set():
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for fut in done:
                        report = fut.result()  # _scan_one turns a bundle's problem into its report's error
                        reports[futures[fut]] = report
                        progress.step()
                        if not args.json and not args.quiet:
                            _print(out, report)
            except BaseException:
                cancel.set()
                raise
            finally:
                for fut in pending:
                    fut.cancel()
        if cancel.is_set():
            raise KeyboardInterrupt
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
    """One bundle's report; a bundle that cannot be read is its report's error, and the batch goes on. A store
    that keeps failing ends the run (raised)."""
    if cancel.is_set():
        return ScanReport(location=bundle, error="cancelled")
    try:
        source = remote.source(bundle, cancel) if remote is not None and bundle.startswith(S3) else bundle
        with BundleReader(source) as reader:
            return scan(reader, args.pattern, screen=not args.no_screen, task_patterns=args.task_patterns)
    except (RetriesExceeded, Cancelled):
        raise  # the store, or Ctrl+C: about the run, not the bundle
    except ValueError as e:  # a task pattern that does not compile: this bundle's problem
        return ScanReport(location=bundle, error=" ".join(str(e).split())[:300])
    except TrajrecError as e:
        return ScanReport(location=bundle, error=" ".join(str(e).split())[:300])
    except Exception as e:  # a damaged member the decoders choke on: this bundle's problem, not the batch's
        return ScanReport(location=bundle, error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")


def _print(out: Console, r: ScanReport) -> None:
    where = escape(r.location)
    if r.error is not None:
        out.print(f"{where}: [red]unreadable[/] {escape(r.error)}")
    for f in r.findings:
        at = f"{(f.start_ns - r.start_ns) / 1e9:.1f}-{(f.end_ns - r.start_ns) / 1e9:.1f} s"
        box = f" box {f.box[0]},{f.box[1]} {f.box[2]}x{f.box[3]}" if f.box else ""
        out.print(f"{where}: [red]{f.source}[/] {escape(f.kind)} at {at}{box}")


class _Progress:
    """Bundles done of the total, on stderr (a plain counter: a bundle's OCR has no byte count)."""

    def __init__(self, err: Console, total: int, enabled: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("[bold]scan"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not enabled,
            transient=True,
        )
        self._task = self._p.add_task("scan", total=total)
        self._p.start()

    def step(self) -> None:
        self._p.advance(self._task)
        if self._p.finished:
            self._p.stop()
