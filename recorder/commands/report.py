"""`trajrec report PATH...`: measure each bundle's quality, grade it under a policy, write sidecars, an HTML page
and --json; exit codes like validate's."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from recorder.commands.batch import (
    CountProgress,
    add_batch_options,
    add_scheduler_option,
    bundle_problem,
    open_reader,
    run_bundles,
)
from recorder.commands.validate import S3, add_out_option, check_out, expand, progress_wanted, remote_bundles
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.terminal import console
from trajrec.quality.policy import Policy

if TYPE_CHECKING:
    from trajrec.quality.report import Entry
    from uploader.remote import RemoteBundles

COLOUR = {"pass": "green", "warn": "yellow", "fail": "red", "unreadable": "red"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="measure and grade the quality of bundles: narration, activity, frames, audio; HTML, JSON, sidecars",
        description="Measure each bundle: active and idle time, actions per minute, narration coverage (the share "
        "of active time with speech, by WebRTC's voice-activity detector), the voiceover's level, silence and "
        "clipping, frame intervals, dropped frames, stalls, audio gaps, pauses, trims, redactions, black or frozen "
        "screen spans, task length against the instruction, markers. Grade each pass, warn or fail under a policy "
        "(--policy; else the built-in one) with the reasons. The measurements go into a sidecar beside each local "
        "bundle (<bundle>.quality.json; the bundle itself never changes) and are reused from it next time. A "
        "folder stands for the bundles in it; s3://BUCKET/PREFIX for the bundles under it.",
        epilog="Exit codes: 0 every bundle passed (warnings allowed unless --strict), 1 a bundle failed or could "
        "not be read, 2 usage error (a path that does not exist, a policy that does not parse), 3 the store "
        "failed, 130 interrupted. Policy rules: schemas/README.md, 'Quality report'.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="bundle directory, .tar, a folder of them, or s3://…")
    p.add_argument("--policy", metavar="FILE", help="the lab's rules (TOML or YAML; schemas/policy.schema.json)")
    p.add_argument("--html", metavar="OUT", help="write one self-contained HTML page (plots, screenshots, table)")
    p.add_argument("--strict", action="store_true", help="treat a warn grade as a failure (exit 1)")
    p.add_argument(
        "--sidecars",
        metavar="DIR",
        help="write the sidecars into DIR as <session_id>.quality.json (default: beside each local bundle; "
        "s3:// bundles get none without this)",
    )
    p.add_argument("--no-sidecars", action="store_true", help="write no sidecar and reuse none")
    p.add_argument("--fresh", action="store_true", help="measure again even where a sidecar has the measurements")
    add_scheduler_option(p)
    add_out_option(p)
    add_batch_options(p, jobs=2, jobs_help="bundles measured at once (default 2: video decoding)", lines="bundle lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trajrec.quality.policy import DEFAULT, PolicyError, load_policy
    from trajrec.results import REPORT, open_results
    from uploader.cluster import scheduler_address

    try:
        policy = load_policy(args.policy) if args.policy else DEFAULT
    except PolicyError as e:
        raise UsageError(str(e)) from e
    html_out = Path(args.html) if args.html else None
    if html_out is not None and not html_out.parent.is_dir():
        raise UsageError(f"--html: no such folder: {html_out.parent}")
    check_out(args.out)
    sidecar_dir = Path(args.sidecars) if args.sidecars else None
    if sidecar_dir is not None and not sidecar_dir.is_dir():
        raise UsageError(f"--sidecars: no such folder: {sidecar_dir}")
    out, err = console(), console(stderr=True)
    cancel = threading.Event()
    entries: dict[str, Entry] = {}
    grades = {"pass": 0, "warn": 0, "fail": 0, "unreadable": 0}
    warnings: list[str] = []
    keep = args.out is None or html_out is not None  # --out alone: rows go to the file, no entry is kept here
    t0 = time.perf_counter()
    with remote_bundles(args.paths) as remote, open_results(args.out, REPORT) as results:
        bundles = expand(args.paths, remote)
        progress = CountProgress(err, "report", len(bundles), progress_wanted(args))

        def done(bundle: str, entry: Entry) -> None:
            grades[entry.grade.grade if entry.grade is not None else "unreadable"] += 1
            warnings.extend(entry.warnings)
            if results is not None:
                results.add(entry.to_row())
            if keep:
                entries[bundle] = entry
            progress.step()
            if not args.json and not args.quiet:
                _print(out, entry)

        job = ReportJob(policy, sidecar_dir.resolve() if sidecar_dir else None, html_out is not None,
                        args.no_sidecars, args.fresh)  # fmt: skip
        try:
            run_bundles(bundles, remote, _report_one, (job,), done, jobs=args.jobs, cancel=cancel, name="report",
                        scheduler=scheduler_address(args.scheduler))  # fmt: skip
        finally:
            progress.stop()
    ordered = [entries[b] for b in bundles if b in entries]
    for w in dict.fromkeys(warnings):
        err.print(f"warning: {escape(w)}")
    if html_out is not None:
        from trajrec.paths import write_private
        from trajrec.quality.html import render

        write_private(html_out, render(ordered, title=f"Quality report: {len(ordered)} bundles"))
    summary: dict[str, Any] = {"bundles": len(bundles), **grades, "seconds": round(time.perf_counter() - t0, 3)}
    if args.out:
        summary["out"] = str(args.out)
    if args.json:
        doc: dict[str, Any] = {"policy": policy.name, "summary": summary}
        if args.out is None:
            doc["bundles"] = [e.to_json() for e in ordered]
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        out.print(
            f"{summary['bundles']} bundle{'s' if summary['bundles'] != 1 else ''} ({escape(policy.name)}): "
            f"{summary['pass']} pass, {summary['warn']} warn, {summary['fail']} fail, "
            f"{summary['unreadable']} unreadable; {summary['seconds']:.1f} s"
            + (f"; HTML: {escape(str(html_out))}" if html_out else "")
            + (f"; results in {escape(str(args.out))}" if args.out else "")
        )
    bad = summary["fail"] + summary["unreadable"] + (summary["warn"] if args.strict else 0)
    return ExitCode.INVALID if bad else ExitCode.OK


@dataclass(frozen=True)
class ReportJob:
    """What each bundle's report needs (it travels to a cluster's workers with the task)."""

    policy: Policy
    sidecar_dir: Path | None
    figures: bool
    no_sidecars: bool
    fresh: bool


def _report_one(bundle: str, remote: RemoteBundles | None, job: ReportJob, cancel: threading.Event) -> Entry:
    from trajrec.paths import check_session_id
    from trajrec.quality.report import Entry, read_sidecar, report, sidecar_path, write_sidecar

    if cancel.is_set():
        return Entry(bundle, error="cancelled")
    try:
        with open_reader(bundle, remote, cancel) as reader:
            side = None
            if not job.no_sidecars:
                if job.sidecar_dir is not None:
                    side = job.sidecar_dir / f"{check_session_id(reader.session_id, bundle)}.quality.json"
                elif not bundle.startswith(S3):
                    side = sidecar_path(bundle)
            if side is not None and not job.figures and not job.fresh:
                quality = read_sidecar(side, reader.manifest_sha256)
                if quality is not None:
                    return Entry(bundle, quality, job.policy.grade(quality))
            entry = report(reader, job.policy, figures=job.figures, location=bundle)
        if side is not None:
            try:
                write_sidecar(entry, side)
            except OSError as e:
                entry.warnings.append(f"no sidecar written for {bundle}: {e.strerror or e}")
        return entry
    except Exception as e:
        return Entry(bundle, error=bundle_problem(e))


def _print(out: Console, e: Entry) -> None:
    where = escape(e.location)
    if e.error is not None or e.grade is None or e.quality is None:
        out.print(f"[red]UNREADABLE[/] {where}: {escape(e.error or '')}")
        return
    q, g = e.quality, e.grade
    narration = f"narration {q['narration']['coverage']:.0%}" if q["narration"]["present"] else "no voiceover"
    out.print(
        f"[{COLOUR[g.grade]}]{g.grade.upper():4}[/] {where}: active {_clock(q['active_s'])} of "
        f"{_clock(q['duration_s'])}, {narration}, {q['actions']['per_active_minute']:.0f} actions/min"
    )
    for reason in g.reasons:
        out.print(f"      {escape(reason)}")


def _clock(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
