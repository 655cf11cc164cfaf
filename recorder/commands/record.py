"""`trajrec record`: record a session headless (screen, input, window context, voiceover) and seal it.

Control while recording: Ctrl+C or SIGTERM stops and seals; SIGUSR1 toggles pause; SIGUSR2 adds a step
marker. The bundle's path is printed on stdout when it is sealed.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import re
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from recorder.errors import UsageError
from recorder.exitcodes import ExitCode
from recorder.plan import Plan, default_out_dir, session_config
from recorder.privacy.denylist import DenyList
from trajrec.secrets import compiled

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="record a session headless and seal it into a bundle",
        description="Record the screen, every mouse and keyboard event, the focused window and the voiceover on "
        "one clock, then seal them into a bundle. Ctrl+C (or SIGTERM) stops and seals; SIGUSR1 toggles pause "
        "(nothing at all is captured while paused); SIGUSR2 adds a step marker. Capture needs the desktop "
        "install: pip install 'trajectory-recorder[desktop]'.",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl+C)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--monitor",
        type=int,
        default=1,
        metavar="N",
        help="monitor to record, 1 = first (default); 0 = all monitors together",
    )
    where.add_argument("--region", metavar="WxH+X+Y", help="record this area of the desktop instead")
    p.add_argument("--fps", type=float, default=30.0, help="screen grabs per second (default 30)")
    p.add_argument("--crf", type=int, default=23, help="H.264 quality, lower is better (default 23)")
    p.add_argument("--preset", default="veryfast", help="x264 speed preset (default veryfast)")
    p.add_argument(
        "--draw-cursor",
        action="store_true",
        help="paint the pointer into the video (its position is recorded from events either way)",
    )
    p.add_argument("--no-audio", action="store_true", help="record without a microphone")
    p.add_argument("--audio-device", metavar="NAME|INDEX", help="microphone (default: the system default)")
    p.add_argument("--out", metavar="DIR", help=f"where bundles go (default {default_out_dir()})")
    p.add_argument("--task-id", default="adhoc", help="the task's id (default adhoc)")
    p.add_argument("--title", default="", help="the task's title")
    p.add_argument("--instruction", default="", help="the task's instructions")
    p.add_argument("--expert", default="anonymous", help="the expert's pseudonym")
    p.add_argument("--no-queue", action="store_true", help="do not queue the sealed bundle for upload")
    p.add_argument("--consent", action="store_true", help="the expert consents to this recording (required)")
    p.add_argument(
        "--deny-app",
        action="append",
        default=[],
        metavar="CLASS",
        help="never record this application's windows (window class; repeatable; password managers are denied already)",
    )
    p.add_argument(
        "--deny-title",
        action="append",
        default=[],
        metavar="REGEX",
        help="never record windows whose title matches (repeatable; private browsing is denied already)",
    )
    p.add_argument(
        "--secret-pattern",
        action="append",
        default=[],
        metavar="REGEX",
        help="redact typed text matching this regular expression at seal, like a password (repeatable; cloud keys, "
        "tokens, private keys and card numbers are redacted already)",
    )
    p.set_defaults(run=run)


def parse_region(text: str) -> tuple[int, int, int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)\+(-?\d+)\+(-?\d+)", text.strip())
    if not m:
        raise UsageError(f"--region {text!r}: expected WxH+X+Y, e.g. 1280x720+0+0")
    w, h, x, y = (int(v) for v in m.groups())
    if w < 16 or h < 16:
        raise UsageError(f"--region {text!r}: at least 16x16 pixels")
    return w, h, x, y


# What capture imports (the [desktop] extra); a lab install (core) has none of them.
CAPTURE_MODULES = ("mss", "pynput", "sounddevice", "cv2", *(("Xlib",) if sys.platform.startswith("linux") else ()))


def require_capture() -> None:
    """One-line UsageError when the capture packages are not installed (a lab's core install)."""
    missing = [name for name in CAPTURE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"recording needs the desktop install ({', '.join(missing)} missing): "
            "pip install 'trajectory-recorder[desktop]'"
        )


def run(args: argparse.Namespace) -> ExitCode:
    require_capture()
    from recorder.errors import CaptureError
    from recorder.session import Session, State

    if not args.consent:
        raise UsageError("the expert's consent is required: pass --consent once they have agreed")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    patterns = list(args.secret_pattern)
    try:
        compiled(patterns)
    except ValueError as e:
        raise UsageError(f"--secret-pattern: {e}") from e
    out = Path(args.out) if args.out else default_out_dir()
    region = parse_region(args.region) if args.region else None
    plan = Plan(
        out=out,
        task={
            "id": args.task_id,
            "title": args.title,
            "instruction": args.instruction,
            "expert": args.expert,
            "consent": True,
            **({"secret_patterns": patterns} if patterns else {}),
        },
        monitor=args.monitor,
        region=region,
        fps=args.fps,
        crf=args.crf,
        preset=args.preset,
        draw_cursor=args.draw_cursor,
        audio=not args.no_audio,
        audio_device=args.audio_device,
        deny=DenyList().extended(args.deny_app, args.deny_title),
    )
    try:
        config = session_config(plan)
    except UsageError as e:
        raise UsageError(
            str(e).replace("monitor ", "--monitor ", 1) if str(e).startswith("monitor ") else str(e)
        ) from e
    session = Session(config)
    stop = threading.Event()
    handlers = {
        signal.SIGINT: lambda *_: stop.set(),
        signal.SIGTERM: lambda *_: stop.set(),
        signal.SIGUSR1: lambda *_: session.resume() if session.state == State.PAUSED else session.pause(),
        signal.SIGUSR2: lambda *_: session.marker(),
    }
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        try:
            session.start()
        except CaptureError as e:  # a source could not start: nothing was recorded
            raise UsageError(str(e)) from e
        print(
            f"recording {session.session_id} ({config.region.width}x{config.region.height} at {args.fps:g} fps"
            f"{', no audio' if args.no_audio else ''}); Ctrl+C stops",
            file=sys.stderr,
        )
        t0 = time.monotonic()
        while not stop.wait(0.1):
            if args.duration is not None and time.monotonic() - t0 >= args.duration:
                break
            if session.failed:
                print("trajrec record: a writer failed; stopping and keeping what was recorded", file=sys.stderr)
                break
        bundle = session.stop()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    print(bundle)
    if not args.no_queue:
        _enqueue(bundle)
    return ExitCode.OK


def _enqueue(bundle: Path) -> None:
    """Put the sealed bundle in the upload queue (no network: `trajrec upload` or the app sends it). A failure
    here never costs the recording: it is sealed on disk and can be queued by hand."""
    from recorder.dirs import uploader_dirs
    from uploader.config import load_config
    from uploader.errors import UploaderError
    from uploader.ledger import Ledger
    from uploader.queue import enqueue_bundle

    dirs = uploader_dirs()
    try:
        with Ledger(dirs.ledger) as ledger:
            row, _ = enqueue_bundle(ledger, bundle, load_config(path=dirs.settings))
        print(f"queued for upload to {row.dest}: `trajrec upload` sends it", file=sys.stderr)
    except (UploaderError, OSError, sqlite3.Error) as e:
        log.warning("could not queue %s for upload: %s", bundle, e)
        print(f"trajrec record: not queued for upload ({e}); later: trajrec upload {bundle}", file=sys.stderr)
