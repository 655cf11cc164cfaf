"""`trajrec repair LIVE_DIR`: seal what a crashed session left into a valid bundle (status recovered)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recorder.errors import UsageError
from recorder.exitcodes import ExitCode


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "repair",
        help="turn a crashed session's live directory into a bundle",
        description="Seal the live directory of a session that did not stop cleanly (crash, "
        "kill, power loss). Everything that reached the disk is kept; the bundle's status is "
        "'recovered' and its manifest notes say what was cut. The live directory is left as is.",
    )
    p.add_argument("live", metavar="LIVE_DIR", help="the session's live directory (holds session.json)")
    p.add_argument("--out", metavar="DIR", help="where to put the bundle (default: next to LIVE_DIR)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from recorder.sealing.seal import seal

    live = Path(args.live)
    if not live.is_dir():
        raise UsageError(f"{live}: no such directory")
    out = Path(args.out) if args.out else live.resolve().parent
    bundle = seal(live, out, recover=True)
    print(bundle)
    return ExitCode.OK
