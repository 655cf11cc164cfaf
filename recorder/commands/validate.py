"""`trajrec validate PATH...`: check bundles in parallel; one line per problem, a summary, exit 0/1/2.
PATH may be an s3:// URL: its bundles are read straight from the store (uploader.remote, through the lab
package's S3Source)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.interrupt import sigint_sets
from recorder.terminal import console
from recorder.units import human_bytes
from trajrec import format as fmt
from trajrec.errors import TrajrecError
from trajrec.validation import Code, Finding, Report, Severity, bundle_bytes, validate_bundle

if TYPE_CHECKING:
    from uploader.remote import RemoteBundles

TABLE_ROWS_MAX = 50
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")
S3 = "s3://"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="check bundles (directories, .tar, or s3:// prefixes) against the format",
        description="Check trajectory bundles: manifest schema, exact file set with sizes and sha256, video "
        "and frame table, input events, window context, markers and audio, all on the session clock. A "
        "directory holding bundle directories or .tar files is expanded to its bundles. An s3://BUCKET/PREFIX stands "
        "for the bundles under it (PREFIX/<session_id>/manifest.json, or PREFIX itself), read straight from the store "
        "(endpoint and credentials as for `trajrec download`).",
        epilog="Exit codes: 0 every bundle valid (warnings allowed unless --strict), 1 at least one invalid, "
        "2 usage error (e.g. a path that does not exist, an s3:// prefix with no bundle), 3 the store failed, "
        "130 interrupted.",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="bundle directory, bundle .tar, a folder of them, or s3://BUCKET/PREFIX",
    )
    p.add_argument("--deep", action="store_true", help="also decode every video frame and audio sample")
    p.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 1, help="bundles checked at once (default: number of CPUs)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document (reports and summary) on stdout")
    p.add_argument("--strict", action="store_true", help="treat warnings (recovered, capture stalls) as invalid")
    add_out_option(p)
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run one task per bundle on this Dask cluster (default: $DASK_SCHEDULER_ADDRESS, else this machine); "
        "workers read s3:// bundles with their own credentials, local paths must be shared with them",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-problem lines, only the summary")
    add_progress_option(p)
    p.set_defaults(run=run)


def expand(paths: list[str], remote: RemoteBundles | None = None) -> list[str]:
    """Bundles named on the command line; a folder that is not itself a bundle stands for its bundles, and so does
    an s3:// URL (found through `remote`)."""
    out: list[str] = []
    missing = []
    for raw in paths:
        if raw.startswith(S3):
            if remote is None:
                raise UsageError(f"{raw}: s3:// URLs need the uploader package")
            found = remote.expand(raw)
            if not found:
                raise UsageError(f"{raw}: no bundles there (no manifest.json at the prefix or one level below)")
            out.extend(found)
            continue
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


def remote_bundles(paths: list[str]) -> AbstractContextManager[RemoteBundles | None]:
    """The stores behind the s3:// paths (imported only when there are some: boto3 is slow to import)."""
    if not any(p.startswith(S3) for p in paths):
        return nullcontext()
    from recorder.dirs import uploader_dirs
    from uploader.remote import RemoteBundles

    return RemoteBundles(uploader_dirs())


def _checker(bundle: str, remote: RemoteBundles | None) -> Callable[..., Report]:
    return remote.validate if remote is not None and bundle.startswith(S3) else validate_bundle


def _bytes(bundle: str, remote: RemoteBundles | None) -> int:
    return remote.size(bundle) if remote is not None and bundle.startswith(S3) else bundle_bytes(bundle)


def add_progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )


def add_out_option(p: Any) -> None:
    p.add_argument(
        "--out",
        metavar="FILE.parquet",
        help="write one row per bundle to this Parquet file as results come, keeping none in memory (for very large "
        "batches; trajrec.results has the columns); only the summary is printed",
    )


def check_out(out: str | None) -> None:
    if out is not None and not Path(out).resolve().parent.is_dir():
        raise UsageError(f"--out: no such folder: {Path(out).parent}")


def progress_wanted(args: argparse.Namespace) -> bool:
    """--progress: always, never, or auto (when stderr is a terminal)."""
    return bool(args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty()))


def bundle_progress(verb: str, console: Console, enabled: bool, *extra: ProgressColumn) -> Progress:
    """The bytes-and-bundles progress bar of the batch commands (fields: done, total_bundles)."""
    return Progress(
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        *extra,
        TextColumn("{task.fields[done]}/{task.fields[total_bundles]} bundles"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
    )


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
    check_out(args.out)
    err = console(stderr=True)
    out = console()
    show_progress = progress_wanted(args)
    cancel = threading.Event()
    reports: dict[str, Report] = {}
    t0 = _now()

    with remote_bundles(args.paths) as remote, bundle_progress("validate", err, show_progress) as progress:
        bundles = expand(args.paths, remote)
        total = sum(_bytes(b, remote) for b in bundles) if show_progress else 0
        task = progress.add_task("validate", total=total or None, done=0, total_bundles=len(bundles))
        lock = threading.Lock()

        def advance(n: int) -> None:
            with lock:
                progress.advance(task, n)

        tally = _Tally()

        def finished(bundle: str, report: Report) -> None:
            tally.add(report, args.strict)
            if results is not None:
                results.add(report.to_json())  # --out: rows go to the file, no report is kept here
            else:
                reports[bundle] = report
            progress.update(task, done=tally.bundles)
            if not args.json and not args.quiet:
                for f in report.findings:
                    _print_finding(progress.console if show_progress else out, report, f)

        from uploader.cluster import scheduler_address

        address = scheduler_address(args.scheduler)
        from trajrec.results import VALIDATE, open_results

        with open_results(args.out, VALIDATE) as results:
            if address is not None:  # one task per bundle on the cluster's workers
                _on_cluster(address, bundles, remote, args.deep, finished, advance, cancel)
            else:
                _here(bundles, remote, args, finished, advance if show_progress else None, cancel)

    elapsed = _now() - t0
    if args.out:
        summary = tally.summary(elapsed) | {"out": str(args.out)}
        if args.json:
            json.dump({"format_version": fmt.FORMAT_VERSION, "deep": bool(args.deep), "strict": bool(args.strict),
                       "summary": summary}, sys.stdout, indent=2)  # fmt: skip
            sys.stdout.write("\n")
        else:
            out.print(f"{summary['bundles']} bundles: {summary['valid']} valid, {summary['invalid']} invalid, "
                      f"{summary['with_warnings']} with warnings in {elapsed:.1f} s; results in {args.out}",
                      markup=False)  # fmt: skip
        return ExitCode.INVALID if summary["invalid"] else ExitCode.OK
    ordered = [reports[b] for b in bundles]
    n_invalid = sum(not r.valid or (args.strict and r.warnings > 0) for r in ordered)
    if args.json:
        json.dump(_json(ordered, elapsed, args), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _summary(out, ordered, elapsed, args)
    return ExitCode.INVALID if n_invalid else ExitCode.OK


class _Tally:
    """The run's counts, without keeping its reports (--out)."""

    def __init__(self) -> None:
        self.bundles = self.valid = self.invalid = self.with_warnings = self.bytes = 0

    def add(self, r: Report, strict: bool) -> None:
        bad = not r.valid or (strict and r.warnings > 0)
        self.bundles += 1
        self.invalid += bad
        self.valid += not bad
        self.with_warnings += r.warnings > 0
        self.bytes += r.bytes

    def summary(self, elapsed: float) -> dict[str, Any]:
        return {"bundles": self.bundles, "valid": self.valid, "invalid": self.invalid,
                "with_warnings": self.with_warnings, "bytes": self.bytes, "seconds": round(elapsed, 3)}  # fmt: skip


def _here(
    bundles: list[str],
    remote: RemoteBundles | None,
    args: argparse.Namespace,
    finished: Callable[[str, Report], None],
    advance: Callable[[int], None] | None,
    cancel: threading.Event,
) -> None:
    """Validate on this machine, --jobs at a time."""
    with sigint_sets(cancel), ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="validate") as pool:
        futures: dict[Future[Report], str] = {
            pool.submit(_checker(b, remote), b, deep=args.deep, cancel=cancel, progress=advance): b for b in bundles
        }
        pending = set(futures)
        try:
            while pending and not cancel.is_set():
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    if cancel.is_set():
                        break
                    finished(futures[fut], _report_of(fut, futures[fut]))
        except BaseException:
            cancel.set()
            raise
        finally:
            for fut in pending:
                fut.cancel()  # running ones see `cancel` and stop within a chunk or a frame
    if cancel.is_set():
        raise KeyboardInterrupt


def _on_cluster(
    address: str,
    bundles: list[str],
    remote: RemoteBundles | None,
    deep: bool,
    finished: Callable[[str, Report], None],
    advance: Callable[[int], None],
    cancel: threading.Event,
) -> None:
    """Validate on a Dask cluster: each worker reads its bundles itself (uploader.cluster)."""
    from uploader.cluster import connect, refs, run_tasks, validate_task

    sizes = {b: _bytes(b, remote) for b in bundles}

    def done(bundle: str, report: Report) -> None:
        advance(sizes[bundle])
        finished(bundle, report)

    with sigint_sets(cancel), connect(address) as client:
        run_tasks(client, validate_task, refs(bundles, remote), (deep,), done, cancel)


def _report_of(fut: Future[Report], bundle: str) -> Report:
    """The bundle's report; a store that kept failing (s3://) ends the run, anything else that escaped the checks
    (MemoryError and the like) is this bundle's internal finding, and the batch goes on."""
    try:
        return fut.result()
    except TrajrecError:  # the store's errors and Cancelled: about the run, not the bundle
        raise
    except Exception as e:
        message = f"validator error {type(e).__name__}: {str(e)[:300]} (please report)"
        return Report(location=bundle, findings=[Finding(Code.INTERNAL, Code.INTERNAL.severity, "", message)])


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
                human_bytes(r.bytes),
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
        f"{warned} with warnings; {human_bytes(total_bytes)} checked ({mode}) in {elapsed:.1f} s "
        f"({human_bytes(rate)}/s)",
        markup=False,
    )
