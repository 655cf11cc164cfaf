"""`trajrec sample DEST`: write a synthetic bundle (real H.264, FLAC, events) to try the tools on."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recorder.errors import UsageError
from recorder.exitcodes import ExitCode


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sample",
        help="write a synthetic sample bundle",
        description="Synthesize a realistic session (a desktop where code is typed, mouse and "
        "keyboard events, window changes, markers, a voiceover) through the real writers and seal "
        "it into DEST/<session_id>/. Needs the desktop extra (OpenCV draws the frames).",
    )
    p.add_argument("dest", metavar="DEST", help="folder to write the bundle into (created if needed)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the screen (default 1280x720)")
    p.add_argument("--no-audio", action="store_true", help="no voiceover")
    p.add_argument("--pause", action="store_true", help="include a pause in the middle")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if args.duration <= 0 or args.duration > 24 * 3600:
        raise UsageError("--duration must be between 0 and 86400 seconds")
    try:
        from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
        from recorder.writers.video import VideoSettings

        VideoSettings(w, h)
        import cv2  # noqa: F401
    except ImportError as e:
        raise UsageError(f"{e.name} is missing: install trajectory-recorder[desktop]") from e
    bundle, _ = synthesize_bundle(
        Path(args.dest),
        SyntheticSpec(
            duration_s=args.duration, width=w, height=h, audio=not args.no_audio, pause=args.pause, seed=args.seed
        ),
    )
    print(bundle)
    return ExitCode.OK
