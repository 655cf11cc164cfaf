"""`trajrec`: the command line. main(argv) -> int; tracebacks only with --debug."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from recorder.commands import (
    actions,
    download,
    export,
    grants,
    gui,
    info,
    record,
    repair,
    report,
    sample,
    scan,
    store,
    upload,
    validate,
)
from recorder.errors import TrajrecError, UsageError
from recorder.exitcodes import ExitCode
from recorder.logs import make_private, setup_logging
from recorder.terminal import one_line
from trajrec import __version__
from uploader.errors import StoreConfigError

log = logging.getLogger("trajrec")
COMMANDS = (record, validate, scan, report, export, info, actions, repair, sample, upload, store, download, grants, gui)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trajrec",
        description="Record expert trajectories (screen, input, voiceover on one clock) and check them.",
        epilog="Exit codes: 0 ok, 1 invalid bundle(s), 2 usage error, 3 failure, 130 interrupted. "
        "Run `trajrec COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"trajrec {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs and full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version exit 0, errors exit 2
        return int(e.code or 0)
    make_private()
    setup_logging(args.debug)
    log.debug("trajrec %s: %s", __version__, " ".join(sys.argv if argv is None else argv))
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("trajrec: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `trajrec ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.FAILURE
    except (UsageError, StoreConfigError) as e:  # a bad URL or store setting: nothing was done
        if args.debug:
            raise
        print(f"trajrec {args.command}: {one_line(str(e))}", file=sys.stderr)
        return ExitCode.USAGE
    except TrajrecError as e:  # the uploader's errors too: its tree hangs off TrajrecError
        if args.debug:
            raise
        log.info("failed: %s", e)
        print(f"trajrec {args.command}: {one_line(str(e))}", file=sys.stderr)
        return ExitCode.FAILURE
    except Exception as e:
        log.exception("unexpected error")
        if args.debug:
            raise
        print(
            f"trajrec {args.command}: unexpected {type(e).__name__}: {one_line(str(e))} "
            "(rerun with --debug for details)",
            file=sys.stderr,
        )
        return ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())
