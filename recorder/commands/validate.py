"""`trajrec validate PATH...`: check bundles in parallel; one line per problem, a summary, exit 0/1/2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from recorder.bundle import format as fmt
from recorder.bundle.validate import Finding, Report, Severity, bundle_bytes, validate_bundle
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.interrupt import sigint_sets

TABLE_ROWS_MAX = 50
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="check bundles (directories or .tar) against the format",
        description="Check trajectory bundles: manifest schema, exact file set with sizes and sha256, video "
        "and frame table, input events, window context, markers and audio, all on the session clock. A "
        "directory holding bundle directories or .tar files is expanded to its bundles.",
        epilog="Exit codes: 0 every bundle valid (warnings allowed unless --strict), 1 at least one invalid, "
        "2 usage error (e.g. a path that does not exist), 130 interrupted.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="bundle directory, bundle .tar, or a folder of them")
    p.add_argument("--deep", action="store_true", help="also decode every video frame and audio sample")
    p.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 1, help="bundles checked at once (default: number of CPUs)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document (reports and summary) on stdout")
    p.add_argument("--strict", action="store_true", help="treat warnings (recovered, capture stalls) as invalid")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-problem lines, only the summary")
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    p.set_defaults(run=run)


def expand(paths: list[str]) -> list[str]:
    """Bundles named on the command line; a folder that is not itself a bundle stands for its bundles."""
    out: list[str] = []
    missing = []
    for raw in paths:
        if raw.startswith("s3://"):
            raise UsageError(
                f"{raw}: validating s3:// prefixes needs the uploader, which this version lacks; "
                "download the bundles first"
            )
        p = Path(raw)
        if not p.exists():
            missing.append(raw)
            continue
        if p.is_dir() and not (p / fmt.MANIFEST).exists():
            children = sorted(
                c
                for c in p.iterdir()
                if not c.name.startswith(".")
                and ((c.is_dir() and (c / fmt.MANIFEST).exists()) or (c.is_file() and c.name.endswith(TAR_SUFFIXES)))
            )
            if children:
                out.extend(str(c) for c in children)
                continue
        out.append(raw)
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    return out


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(ns: int | None) -> str:
    if ns is None:
        return "-"
    s = ns // 1_000_000_000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _result(r: Report, strict: bool) -> str:
    if not r.valid:
        return "invalid"
    if r.warnings:
        return "invalid (strict)" if strict else "valid, warnings"
    return "valid"


def run(args: argparse.Namespace) -> ExitCode:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    bundles = expand(args.paths)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(highlight=False, soft_wrap=True)
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    cancel = threading.Event()
    reports: dict[str, Report] = {}
    t0 = _now()

    with Progress(
        TextColumn("[bold]validate"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[done]}/{task.fields[total_bundles]} bundles"),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress,
        transient=True,
    ) as progress:
        total = sum(bundle_bytes(b) for b in bundles) if show_progress else 0
        task = progress.add_task("validate", total=total or None, done=0, total_bundles=len(bundles))
        lock = threading.Lock()

        def advance(n: int) -> None:
            with lock:
                progress.advance(task, n)

        with sigint_sets(cancel), ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="validate") as pool:
            futures: dict[Future[Report], str] = {
                pool.submit(
                    validate_bundle, b, deep=args.deep, cancel=cancel, progress=advance if show_progress else None
                ): b
                for b in bundles
            }
            pending = set(futures)
            while pending and not cancel.is_set():
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    if cancel.is_set():
                        break
                    report = fut.result()
                    reports[futures[fut]] = report
                    progress.update(task, done=len(reports))
                    if not args.json and not args.quiet:
                        for f in report.findings:
                            _print_finding(progress.console if show_progress else out, report, f)
            for fut in pending:
                fut.cancel()  # running ones see `cancel` and stop within a chunk or a frame
        if cancel.is_set():
            raise KeyboardInterrupt

    ordered = [reports[b] for b in bundles]
    elapsed = _now() - t0
    n_invalid = sum(not r.valid or (args.strict and r.warnings > 0) for r in ordered)
    if args.json:
        json.dump(_json(ordered, elapsed, args), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _summary(out, ordered, elapsed, args)
    return ExitCode.INVALID if n_invalid else ExitCode.OK


def _now() -> float:
    return time.perf_counter()


def _print_finding(console: Console, report: Report, f: Finding) -> None:
    style = "red" if f.severity == Severity.ERROR else "yellow"
    where = f" {escape(f.path)}:" if f.path else ""
    console.print(f"{escape(report.location)}: [{style}]{f.severity} {f.code}[/]{where} {escape(f.message)}")


def _json(reports: list[Report], elapsed: float, args: argparse.Namespace) -> dict[str, Any]:
    total_bytes = sum(r.bytes for r in reports)
    return {
        "format_version": fmt.FORMAT_VERSION,
        "deep": bool(args.deep),
        "strict": bool(args.strict),
        "bundles": [r.to_json() for r in reports],
        "summary": {
            "bundles": len(reports),
            "valid": sum(r.valid and not (args.strict and r.warnings) for r in reports),
            "invalid": sum(not r.valid or bool(args.strict and r.warnings) for r in reports),
            "with_warnings": sum(r.warnings > 0 for r in reports),
            "bytes": total_bytes,
            "seconds": round(elapsed, 3),
        },
    }


def _summary(out: Console, reports: list[Report], elapsed: float, args: argparse.Namespace) -> None:
    shown = reports
    hidden = 0
    if len(reports) > TABLE_ROWS_MAX:
        shown = [r for r in reports if not r.valid or r.warnings]
        hidden = len(reports) - len(shown)
    if shown and not args.quiet:
        table = Table(title=None, show_edge=False, pad_edge=False)
        for col, justify in (
            ("bundle", "left"),
            ("result", "left"),
            ("errors", "right"),
            ("warnings", "right"),
            ("duration", "right"),
            ("frames", "right"),
            ("size", "right"),
        ):
            table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for r in shown:
            result = _result(r, args.strict)
            style = "red" if result.startswith("invalid") else ("yellow" if r.warnings else "green")
            table.add_row(
                r.location,
                f"[{style}]{result}[/]",
                str(r.errors),
                str(r.warnings),
                _duration(r.duration_ns),
                "-" if r.frames is None else str(r.frames),
                _human_bytes(r.bytes),
            )
        out.print(table)
        if hidden:
            out.print(f"({hidden} valid bundles without warnings not listed)")
    total_bytes = sum(r.bytes for r in reports)
    invalid = sum(not r.valid or (args.strict and r.warnings > 0) for r in reports)
    warned = sum(r.warnings > 0 for r in reports)
    rate = total_bytes / elapsed if elapsed > 0 else 0.0
    mode = "deep" if args.deep else "quick"
    out.print(
        f"{len(reports)} bundle{'s' if len(reports) != 1 else ''}: {len(reports) - invalid} valid, {invalid} invalid, "
        f"{warned} with warnings; {_human_bytes(total_bytes)} checked ({mode}) in {elapsed:.1f} s "
        f"({_human_bytes(rate)}/s)",
        markup=False,
    )
