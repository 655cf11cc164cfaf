"""`trajrec upload [BUNDLE...]`: queue sealed bundles and upload them, resumably and verified.
`trajrec queue [list|retry|pause|resume|remove]`: see and steer the upload queue."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from recorder.dirs import uploader_dirs
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.interrupt import sigint_sets
from recorder.terminal import console

MANIFEST = "manifest.json"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "upload",
        help="upload sealed bundles to the store (resumable, verified, never twice)",
        description="Queue sealed bundles and upload them to S3-compatible storage. Big files go up in parts "
        "that are recorded as the store acknowledges them, so an upload cut by a crash, a kill or a lost "
        "connection resumes where it stopped, even in a new process. manifest.json goes last; every object is "
        "then checked (size and SHA-256) before the bundle counts as done. A bundle changed after sealing is "
        "refused. With no BUNDLE, uploads what is already queued. One process sends the queue at a time: while "
        "another does, this one waits until it has sent these bundles too (exit 0 still means stored and "
        "verified); --no-wait only queues them and exits 0 at once.",
        epilog="The store: --to s3://BUCKET/PREFIX, else the settings file (store.toml in the config dir), else "
        "AWS_ENDPOINT_URL and the usual AWS credentials, else the embedded local store. Exit codes: 0 every "
        "bundle uploaded and verified, 2 usage error (nothing queued), 3 a bundle failed or the store could not "
        "be used (the queue keeps it: `trajrec queue`), 130 interrupted (resumes next time).",
    )
    p.add_argument("bundles", nargs="*", metavar="BUNDLE", help="a sealed bundle directory, or a folder of them")
    _store_args(p)
    p.add_argument("--limit-rate", metavar="RATE", help="bandwidth limit, e.g. 500K, 20M (bytes per second)")
    p.add_argument("--parallel", type=int, default=4, metavar="N", help="parts sent at once (default 4)")
    p.add_argument("--part-size", type=int, default=16, metavar="MiB", help="multipart part size (default 16)")
    p.add_argument("--retries", type=int, default=6, metavar="N", help="attempts per bundle for network errors")
    p.add_argument("--delete-after", action="store_true", help="delete the local bundle once its upload is verified")
    p.add_argument("--no-wait", action="store_true", help="only queue the bundles; upload later")
    p.add_argument("--json", action="store_true", help="print the bundles' final states as JSON on stdout")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto", help="progress bars on stderr")
    p.set_defaults(run=run_upload)

    q = sub.add_parser(
        "queue",
        help="list the upload queue; retry, pause, resume or remove entries",
        description="The upload queue lives in a database in the data directory and survives restarts. "
        "`pause` takes effect in a running `trajrec upload` too (the part in flight finishes first).",
    )
    q.add_argument("action", nargs="?", default="list", choices=("list", "retry", "pause", "resume", "remove"))
    q.add_argument("ids", nargs="*", type=int, metavar="ID", help="entries for retry/remove (retry: all failed)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(run=run_queue)


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", metavar="s3://BUCKET/PREFIX", help="destination (default: the configured store)")
    p.add_argument("--profile", help="AWS profile for credentials (default: the standard chain)")


def parse_rate(text: str | None) -> float | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"--limit-rate {text!r}: expected a positive rate such as 500K or 20M (bytes/s)")
    return float(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def expand_bundles(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / MANIFEST).is_file():
            found.append(path)
        elif path.is_dir():
            inner = sorted(d for d in path.iterdir() if (d / MANIFEST).is_file())
            if not inner:
                raise UsageError(f"{raw}: not a sealed bundle (no {MANIFEST}) and holds none")
            found.extend(inner)
        else:
            raise UsageError(f"{raw}: no such bundle directory")
    return found


def _ledger() -> Any:
    from uploader.ledger import Ledger

    return Ledger(uploader_dirs().ledger)


def run_upload(args: argparse.Namespace) -> ExitCode:
    from trajrec.retry import RetryPolicy
    from uploader.config import load_config
    from uploader.errors import BundleModified, QueueBusy, StoreConfigError
    from uploader.parts import MiB
    from uploader.queue import UploadQueue
    from uploader.server import open_store

    rate = parse_rate(args.limit_rate)
    if args.parallel < 1 or args.part_size < 5 or args.retries < 1:
        raise UsageError("--parallel and --retries must be at least 1, --part-size at least 5 (MiB)")
    bundles = expand_bundles(args.bundles)
    dirs = uploader_dirs()
    try:
        config = load_config(args.to, profile=args.profile, path=dirs.settings)
    except StoreConfigError as e:
        raise UsageError(str(e)) from e
    err = console(stderr=True)
    with ExitStack() as stack:
        ledger = stack.enter_context(_ledger())
        handle = stack.enter_context(open_store(config, dirs))
        uq = UploadQueue(
            ledger,
            handle.client,
            handle.config,
            workers=args.parallel,
            part_size=args.part_size * MiB,
            bandwidth_bps=rate,
            delete_after=args.delete_after,
            retry=RetryPolicy(attempts=args.retries, base_s=1.0, cap_s=60.0),
            translate=handle.translate,
        )
        ids: list[int] = []
        refused: list[dict[str, str]] = []  # one bad bundle does not stop the others; each is reported
        for path in bundles:
            try:
                row, added = uq.enqueue(path)
            except BundleModified as e:
                err.print(f"trajrec upload: refused: {escape(str(e))}")
                refused.append({"path": str(path), "state": "refused", "reason": str(e)})
                continue
            except Exception as e:  # anything else about this bundle (MemoryError, a damaged file): refused alone
                reason = f"{path}: cannot be queued: {type(e).__name__}: {str(e)[:300]}"
                err.print(f"trajrec upload: refused: {escape(reason)}")
                refused.append({"path": str(path), "state": "refused", "reason": reason})
                continue
            ids.append(row.id)
            if not added and row.state == "done":
                err.print(f"{row.session_id}: already uploaded to {row.dest}")
            elif not added and row.state == "failed":
                uq.retry_failed([row.id])
        if args.no_wait:
            err.print(f"queued {len(ids)} bundle(s) for {config.url}; `trajrec upload` uploads them")
            return ExitCode.FAILURE if refused else ExitCode.OK
        if uq.paused:
            err.print("the upload queue is paused: `trajrec queue resume` to carry on")
            return ExitCode.FAILURE
        try:
            handle.check()  # reachable, credentials accepted, bucket there: one line if not, the queue keeps all
        except Exception as e:
            err.print(f"trajrec upload: {escape(str(handle.translate(e)))}")
            return ExitCode.FAILURE
        dest = handle.config.url
        if not bundles:  # no BUNDLE named: what is queued for this store
            ids = [b.id for b in ledger.bundles() if b.dest == dest and b.state != "done"]
        show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
        while ids or not bundles:  # every named bundle refused: nothing to send
            try:
                _run_with_progress(uq, err, show)
                break
            except QueueBusy as e:  # exit 0 means stored and verified: wait for the other process to send ours
                err.print(f"another uploader (pid {e.pid}) is sending the queue: waiting for it to send these bundles")
                if _wait_for_other(ledger, ids, e.pid, err, show):
                    break
                # it stopped first (killed, paused, done before ours were queued): send them ourselves
        rows = [ledger.bundle(i) for i in ids]
    failed = [r for r in rows if r.state != "done"]
    if args.json:
        from uploader.queue import describe

        print(json.dumps({"bundles": describe(rows), "refused": refused, "ok": not failed and not refused}, indent=2))
    for r in failed:
        err.print(f"{r.session_id}: {r.state}{': ' + escape(r.reason) if r.reason else ''}")
    if not rows and not refused:
        err.print("nothing to upload")
    elif rows and not failed:
        err.print(f"{len(rows)} bundle(s) uploaded and verified at {dest}")
    if refused:
        err.print(f"{len(refused)} bundle(s) refused (changed after sealing, or not a bundle): none of it was sent")
    return ExitCode.FAILURE if failed or refused else ExitCode.OK


def _wait_for_other(ledger: Any, ids: list[int], pid: int, err: Console, show: bool) -> bool:
    """Wait while process `pid` holds the queue, until each of `ids` is done or failed (True) or the holder
    is gone (False: the caller sends them). Ctrl+C stops waiting; the bundles stay queued."""
    from uploader.ledger import States
    from uploader.platform import process_alive

    stop = threading.Event()
    with ExitStack() as stack:
        stack.enter_context(sigint_sets(stop))
        bar = None
        if show:
            bars = stack.enter_context(
                Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err)
            )
            bar = bars.add_task(f"sent by pid {pid}", total=None)
        while not stop.wait(0.5):
            rows = [ledger.bundle(i) for i in ids]
            if bar is not None:
                bars.update(bar, total=sum(r.bytes_total for r in rows), completed=sum(r.bytes_done for r in rows))
            if all(r.state in (States.DONE, States.FAILED) for r in rows):
                return True
            holder = ledger.get_setting("runner").partition("@")[0]
            if holder != str(pid) or not process_alive(pid):
                return False
    raise KeyboardInterrupt


def _run_with_progress(uq: Any, err: Console, show: bool) -> None:
    from uploader.queue import ProgressEvent

    stop = threading.Event()
    with ExitStack() as stack:
        stack.enter_context(sigint_sets(stop))
        if show:
            bars = stack.enter_context(
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=err,
                    transient=False,
                )
            )
            tasks: dict[int, Any] = {}

            def on_event(e: ProgressEvent) -> None:
                if e.bundle_id not in tasks:
                    tasks[e.bundle_id] = bars.add_task(e.session_id[:24], total=e.bytes_total)
                label = e.session_id[:24] if e.state == "uploading" else f"{e.session_id[:24]} {e.state}"
                bars.update(tasks[e.bundle_id], completed=e.bytes_done, description=label)

            uq.subscribers.append(on_event)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                uq.run(until_idle=True, stop=stop)
            except BaseException as e:  # re-raised on this thread below
                failure.append(e)

        worker = threading.Thread(target=work, name="uploads")
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            if stop.is_set():  # Ctrl+C: stop after the parts in flight; everything resumes next time
                uq.cancel.set()
        if failure:
            raise failure[0]
        if stop.is_set():
            raise KeyboardInterrupt


def run_queue(args: argparse.Namespace) -> ExitCode:
    from uploader.ledger import States
    from uploader.queue import describe

    with _ledger() as ledger:
        if args.action == "pause":
            ledger.set_setting("paused", "1")
            print("uploads paused (a running upload stops after its parts in flight)")
            return ExitCode.OK
        if args.action == "resume":
            ledger.set_setting("paused", "0")
            print("uploads resumed: run `trajrec upload` (or the app) to carry on")
            return ExitCode.OK
        if args.action == "retry":
            failed = [b.id for b in ledger.bundles((States.FAILED,)) if not args.ids or b.id in args.ids]
            for i in failed:
                ledger.set_state(i, States.QUEUED, attempts=0)
            print(f"{len(failed)} bundle(s) queued again")
            return ExitCode.OK
        if args.action == "remove":
            if not args.ids:
                raise UsageError("queue remove: give the ID(s) to remove (see `trajrec queue`)")
            for i in args.ids:
                ledger.remove(i)
            print(f"removed {len(args.ids)} entr{'y' if len(args.ids) == 1 else 'ies'} (local files untouched)")
            return ExitCode.OK
        rows = ledger.bundles()
        paused = ledger.get_setting("paused", "0") == "1"
    if args.json:
        print(json.dumps({"paused": paused, "bundles": describe(rows)}, indent=2))
        return ExitCode.OK
    out = console(soft_wrap=False)
    if not rows:
        out.print("the upload queue is empty")
        return ExitCode.OK
    table = Table(box=None)
    table.add_column("id", justify="right")
    table.add_column("session", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("tries", justify="right")
    table.add_column("updated", no_wrap=True)
    table.add_column("destination / reason", overflow="fold")
    for r in rows:
        pct = f"{100 * r.bytes_done / r.bytes_total:.0f}%" if r.bytes_total else "-"
        when = time.strftime("%m-%d %H:%M", time.localtime(r.updated_at))
        table.add_row(str(r.id), r.session_id, r.state, pct, str(r.attempts), when, escape(r.reason or r.dest))
    out.print(table)
    if paused:
        out.print("uploads are paused: `trajrec queue resume`")
    return ExitCode.OK
