"""`trajrec export --format steps|hf DEST PATH...`: bundles as training data, one bundle at a time, resumable;
bundles that do not validate are skipped (or stop the run)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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

if TYPE_CHECKING:
    from trajrec.export.steps_data import ExportOptions
    from uploader.remote import RemoteBundles


class _Stop(Exception):
    """--invalid fail: a bundle did not validate; the run stops."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="turn bundles into training data: AgentNet/OSWorld-like step folders, or Parquet for Hugging Face",
        description="Export bundles as training data, one step per action (trajrec actions): its PyAutoGUI code "
        "with coordinates normalised to the screenshot and the structured action, its timing, window, "
        "accessibility element, the narration around it, and the screenshots before and after it. "
        "--format steps: DEST/<session_id>/ with steps.jsonl, frames/ and meta.json. --format hf: Parquet shards "
        "in DEST/data/ with the screenshots as an Image feature, provenance.jsonl and a dataset card (README.md), "
        "loadable with datasets.load_dataset('parquet', data_files='DEST/data/*.parquet'). Bundles are exported one "
        "at a time; run the same command again to resume an interrupted export (finished bundles are skipped). "
        "A folder stands for the bundles in it; s3://BUCKET/PREFIX for the bundles under it.",
        epilog="Exit codes: 0 every bundle exported (or already there), 1 a bundle was left out (it did not "
        "validate, or could not be read), 2 usage error, 3 the store failed or DEST could not be written, "
        "130 interrupted. Field mapping to AgentNet and OSWorld: README.md, 'Exports'.",
    )
    p.add_argument("dest", metavar="DEST", help="the export's folder (created if needed)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="bundle directory, .tar, a folder of them, or s3://…")
    p.add_argument("--format", required=True, choices=("steps", "hf"), help="steps folders or Hugging Face Parquet")
    p.add_argument("--image", choices=("png", "webp", "jpeg"), default="png",
                   help="screenshot format (png and webp lossless; default png)")  # fmt: skip
    p.add_argument("--max-width", type=int, metavar="PX", help="downscale screenshots wider than this")
    p.add_argument("--no-moves", action="store_true", help="leave out the pointer coming to rest")
    p.add_argument("--no-markers", action="store_true", help="leave out step and note markers")
    p.add_argument(
        "--invalid",
        choices=("skip", "fail"),
        default="skip",
        help="a bundle that does not validate: skip it and go on (default), or stop the export",
    )
    p.add_argument("--no-validate", action="store_true", help="export without validating first (trusted bundles)")
    add_scheduler_option(p)
    add_out_option(p)
    add_batch_options(p, jobs=1, jobs_help="bundles exported at once (default 1)", lines="per-bundle lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trajrec.export.steps_data import ExportOptions
    from trajrec.results import EXPORT, open_results
    from uploader.cluster import scheduler_address

    if args.max_width is not None and args.max_width < 16:
        raise UsageError("--max-width must be at least 16")
    options = ExportOptions(args.image, args.max_width, moves=not args.no_moves, markers=not args.no_markers)
    check_out(args.out)
    dest = Path(args.dest)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: not a folder")
    if args.format == "hf" and args.image == "webp":
        raise UsageError("--format hf: use png or jpeg (not every datasets version decodes WebP)")
    out, err = console(), console(stderr=True)
    cancel = threading.Event()
    results: dict[str, dict[str, Any]] = {}
    counts = dict.fromkeys(("exported", "resumed", "invalid", "unreadable", "steps", "bytes"), 0)
    t0 = time.perf_counter()
    with remote_bundles(args.paths) as remote, open_results(args.out, EXPORT) as rows:
        bundles = expand(args.paths, remote)
        try:
            dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            err.print(f"error: {escape(str(dest))}: cannot create it ({escape(e.strerror or str(e))})")
            return ExitCode.FAILURE
        progress = CountProgress(err, f"export {args.format}", len(bundles), progress_wanted(args))

        def done(bundle: str, result: dict[str, Any]) -> None:
            counts[result["result"]] += 1
            counts["steps"] += result.get("steps", 0)
            counts["bytes"] += result.get("bytes", 0)
            if rows is not None:
                rows.add(result)  # --out: rows go to the file, none is kept here
            else:
                results[bundle] = result
            progress.step()
            if not args.json and not args.quiet:
                _print(out, result)
            if result["result"] == "invalid" and args.invalid == "fail":
                raise _Stop(bundle)

        try:
            job = (_Job(args.format, args.no_validate), options, dest.resolve())
            run_bundles(bundles, remote, _export_one, job, done, jobs=args.jobs, cancel=cancel, name="export",
                        scheduler=scheduler_address(args.scheduler))  # fmt: skip
        except _Stop as stop:
            err.print(f"stopped: {escape(str(stop))} did not validate (--invalid fail)")
        finally:
            progress.stop()
        if args.format == "hf":
            from trajrec.export.hf import write_card

            write_card(dest)
    ordered = [results[b] for b in bundles if b in results]
    reached = sum(counts[k] for k in ("exported", "resumed", "invalid", "unreadable"))
    summary: dict[str, Any] = {
        "bundles": len(bundles),
        **counts,
        "not_reached": len(bundles) - reached,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if args.out:
        summary["out"] = str(args.out)
    if args.json:
        doc: dict[str, Any] = {"format": args.format, "dest": str(dest), "summary": summary}
        if args.out is None:
            doc["bundles"] = ordered
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        out.print(
            f"{summary['exported']} exported, {summary['resumed']} already there, {summary['invalid']} invalid, "
            f"{summary['unreadable']} unreadable; {summary['steps']} steps, {summary['bytes'] / 1e6:.1f} MB in "
            f"{escape(str(dest))}; {summary['seconds']:.1f} s"
        )
    left_out = summary["invalid"] + summary["unreadable"] + summary["not_reached"]
    return ExitCode.INVALID if left_out else ExitCode.OK


@dataclass(frozen=True)
class _Job:
    """What each bundle's export needs besides its options (it travels to a cluster's workers with the task)."""

    format: str
    no_validate: bool


def _export_one(
    bundle: str,
    remote: RemoteBundles | None,
    args: _Job,
    options: ExportOptions,
    dest: Path,
    cancel: threading.Event,
) -> dict[str, Any]:
    from trajrec.errors import ExportWriteError
    from trajrec.export.hf import export_hf
    from trajrec.export.steps import Rejected, export_steps

    result: dict[str, Any] = {"location": bundle}
    if cancel.is_set():
        return result | {"result": "unreadable", "error": "cancelled"}
    stop = threading.Event()  # ends this bundle's validation early (already exported, or the run cancelled)
    with ThreadPoolExecutor(1, thread_name_prefix="validate") as side:
        checked = None if args.no_validate else side.submit(_problems, bundle, remote, _either(cancel, stop))

        def gate() -> list[str]:  # the export's last step waits for the validation: an invalid bundle is not kept
            return checked.result() if checked is not None else []

        try:
            with open_reader(bundle, remote, cancel) as reader:
                exporter = export_hf if args.format == "hf" else export_steps
                done = exporter(reader, dest, options, gate)
        except Rejected as e:
            return result | {"result": "invalid", "problems": e.problems}
        except ExportWriteError:
            stop.set()
            raise  # DEST cannot be written: about the run, not the bundle
        except Exception as e:
            problems = gate() if checked is not None else []  # a bundle that breaks the export: invalid, if it is
            if problems:
                return result | {"result": "invalid", "problems": problems}
            return result | {"result": "unreadable", "error": bundle_problem(e)}
        finally:
            stop.set()  # no-op once the validation has finished
    return result | {"result": "resumed" if done.skipped else "exported", **done.to_json()}


def _problems(bundle: str, remote: RemoteBundles | None, cancel: threading.Event) -> list[str]:
    """The validation's errors (at most three), or none."""
    from trajrec.validation import validate_bundle

    report = remote.validate(bundle, cancel=cancel) if remote is not None and bundle.startswith(S3) else (
        validate_bundle(bundle, cancel=cancel)
    )
    return [f"{f.code}: {f.message}" for f in report.findings if f.severity == "error"][:3]


class _either(threading.Event):
    """Set when either event is (polled by the validation's `is_set` checks)."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        super().__init__()
        self._a, self._b = a, b

    def is_set(self) -> bool:
        return self._a.is_set() or self._b.is_set()


def _print(out: Console, r: dict[str, Any]) -> None:
    where = escape(r["location"])
    if r["result"] == "invalid":
        out.print(f"[red]invalid[/] {where}: {escape('; '.join(r['problems']))}")
    elif r["result"] == "unreadable":
        out.print(f"[red]unreadable[/] {where}: {escape(r['error'])}")
    elif r["result"] == "resumed":
        out.print(f"already there {where}")
    else:
        out.print(f"[green]exported[/] {where}: {r['steps']} steps, {r['frames']} screenshots")
