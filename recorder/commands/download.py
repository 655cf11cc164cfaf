"""`trajrec download s3://BUCKET/PREFIX DEST`: fetch the bundles under a prefix, verified against their manifests."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import TransferSpeedColumn

from recorder.commands.validate import add_progress_option, bundle_progress, progress_wanted
from recorder.dirs import uploader_dirs
from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.interrupt import sigint_sets
from recorder.terminal import console
from recorder.units import human_bytes

if TYPE_CHECKING:
    from uploader.download import DownloadResult


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "download",
        help="download bundles from the store, verified against their manifests",
        description="Download the bundles under s3://BUCKET/PREFIX (each PREFIX/<session_id>/manifest.json, or "
        "PREFIX itself when it is one bundle) into DEST/<session_id>/. Every file is checked against the sha256 in "
        "its manifest; manifest.json is written last, so a folder with a manifest is a complete bundle. Files "
        "already there are not fetched again, and an interrupted run resumes its partial files (.part).",
        epilog="The store: the endpoint and credentials of the settings file (store.toml in the config dir), else "
        "AWS_ENDPOINT_URL and the usual AWS credentials. Exit codes: 0 every bundle complete and verified (also when "
        "no bundle matched: it says so), 2 usage error (a bad URL, date or option), 3 a bundle failed or the store "
        "could not be used, 130 interrupted (run again to resume).",
    )
    p.add_argument("source", metavar="s3://BUCKET/PREFIX", help="where the bundles are")
    p.add_argument("dest", metavar="DEST", help="folder to download into (created if needed)")
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="only bundles whose upload completed at or after WHEN: YYYY-MM-DD (midnight UTC) or ISO 8601 "
        "(UTC unless it has an offset); compared with the time the store got the bundle's manifest.json",
    )
    p.add_argument("--match", metavar="GLOB", help="only session ids matching this glob, e.g. '2026*'")
    p.add_argument("-j", "--jobs", type=int, default=4, help="files fetched at once (default 4)")
    p.add_argument("--profile", help="AWS profile for credentials (default: the standard chain)")
    p.add_argument("--json", action="store_true", help="print one JSON document (bundles and summary) on stdout")
    add_progress_option(p)
    p.set_defaults(run=run)


def parse_since(text: str | None) -> datetime | None:
    """YYYY-MM-DD or an ISO 8601 time; UTC unless an offset is given."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected a date YYYY-MM-DD or an ISO 8601 time such as 2026-05-01T12:00:00Z"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> ExitCode:
    from uploader.download import DownloadResult, download_many, list_bundles
    from uploader.remote import load_source
    from uploader.server import open_store

    since = parse_since(args.since)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    dirs = uploader_dirs()
    config = load_source(args.source, profile=args.profile, settings=dirs.settings)
    dest = Path(args.dest)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: exists and is not a folder")
    err = console(stderr=True)
    out = console()
    show_progress = progress_wanted(args)
    cancel = threading.Event()
    results: list[DownloadResult] = []
    t0 = time.perf_counter()

    skipped: list[tuple[str, str]] = []
    with open_store(config, dirs) as handle:
        remotes = list_bundles(
            handle.client,
            config.bucket,
            config.prefix,
            since=since,
            match=args.match,
            include_prefix=True,
            call=handle.call,
            skipped=skipped,
        )
        if remotes:
            try:
                dest.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UsageError(f"{dest}: cannot create the folder ({e.strerror or e})") from e
            with bundle_progress("download", err, show_progress, TransferSpeedColumn()) as progress:
                task = progress.add_task(
                    "download", total=sum(r.bytes for r in remotes) or None, done=0, total_bundles=len(remotes)
                )

                finished = 0

                def on_result(result: DownloadResult) -> None:
                    nonlocal finished
                    finished += 1
                    progress.update(task, done=finished)
                    if not result.ok and not args.json:
                        (progress.console if show_progress else err).print(
                            f"[red]failed[/] {escape(result.error or result.session_id)}"
                        )

                with sigint_sets(cancel):
                    results = download_many(
                        handle.client,
                        config.bucket,
                        remotes,
                        dest,
                        jobs=args.jobs,
                        progress=lambda n: progress.advance(task, n),
                        cancel=cancel,
                        on_result=on_result,
                        call=handle.call,
                    )
    if cancel.is_set():
        raise KeyboardInterrupt
    for sid, reason in skipped:  # a failed row each: in the output, the summary, --json and the exit code
        results.append(DownloadResult(sid, dest, status="failed", error=f"{sid!r}: skipped: {reason}"))
        if not args.json:
            err.print(f"[red]failed[/] {escape(results[-1].error or '')}")
    elapsed = time.perf_counter() - t0
    if args.json:
        json.dump(_json(results, elapsed, config.url, dest, since, args.match), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        out.print(_summary(results, elapsed, config.url, dest, since, args.match), markup=False)
    return ExitCode.FAILURE if any(not r.ok for r in results) else ExitCode.OK


def _counts(results: list[DownloadResult], elapsed: float) -> dict[str, Any]:
    fetched = sum(r.bytes_downloaded for r in results)
    return {
        "bundles": len(results),
        "downloaded": sum(r.status == "downloaded" for r in results),
        "present": sum(r.status == "present" for r in results),
        "failed": sum(not r.ok for r in results),
        "bytes": sum(r.bytes for r in results),
        "bytes_downloaded": fetched,
        "seconds": round(elapsed, 3),
        "mb_per_s": round(fetched / elapsed / 1e6, 2) if elapsed > 0 else 0.0,
    }


def _json(
    results: list[DownloadResult], elapsed: float, url: str, dest: Path, since: datetime | None, match: str | None
) -> dict[str, Any]:
    return {
        "source": url,
        "dest": str(dest),
        "since": since.isoformat() if since else None,
        "match": match,
        "bundles": [r.to_json() for r in results],
        "summary": _counts(results, elapsed),
    }


def _summary(
    results: list[DownloadResult], elapsed: float, url: str, dest: Path, since: datetime | None, match: str | None
) -> str:
    if not results:
        filters = "".join(
            [f" matching {match!r}" if match else "", f" uploaded since {since.isoformat()}" if since else ""]
        )
        return f"no bundles under {url}{filters}: nothing to download"
    c = _counts(results, elapsed)
    n = c["bundles"]
    rate = c["bytes_downloaded"] / elapsed if elapsed > 0 else 0.0
    return (
        f"{n} bundle{'s' if n != 1 else ''}: {c['downloaded']} downloaded, {c['present']} already present, "
        f"{c['failed']} failed; {human_bytes(c['bytes_downloaded'])} fetched in {elapsed:.1f} s "
        f"({human_bytes(rate)}/s) into {dest}"
    )
