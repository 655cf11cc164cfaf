"""`trajrec actions BUNDLE`: the recording as actions (click, drag, scroll, type, hotkey, move, marker), one a line
or as JSON (`schemas/action.schema.json`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from recorder.exitcodes import ExitCode
from recorder.terminal import console, one_line


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "actions",
        help="the recording as actions: clicks, drags, scrolls, typed text, hotkeys, moves, markers",
        description="Reduce a bundle's raw input (every pointer sample and key press) to actions on the session "
        "clock: clicks with their count, drags, coalesced scrolls, typed text (backspaces applied; redacted keys "
        "stay redacted), hotkeys, the pointer coming to rest, and step/note markers; each with its window, "
        "accessibility element, position in pixels and normalised to its display, and its frames before and "
        "after. The rules are in schemas/README.md.",
        epilog="Exit codes: 0 done, 2 usage error, 3 the bundle could not be read.",
    )
    p.add_argument("path", metavar="BUNDLE", help="bundle directory, .tar or s3://BUCKET/PREFIX/SESSION_ID")
    p.add_argument("--json", action="store_true", help="print the actions as a JSON array")
    p.add_argument("--no-moves", action="store_true", help="leave out the pointer coming to rest")
    p.add_argument("--type-pause", type=float, default=1.5, metavar="S", help="a pause that ends typed text (1.5)")
    p.add_argument(
        "--timed-frames",
        action="store_true",
        help="choose each action's frame after by time (300 ms after it) instead of decoding the video to see "
        "where the screen settled",
    )
    p.set_defaults(run=run)


def _describe(a: Any) -> str:
    where = f" at {a.x},{a.y}" if a.x is not None else ""
    if a.kind == "click":
        return f"{a.button} click{' x' + str(a.count) if a.count > 1 else ''}{where}"
    if a.kind == "drag":
        return f"{a.button} drag{where} to {a.to_x},{a.to_y}"
    if a.kind == "scroll":
        return f"scroll dx {a.dx} dy {a.dy}{where}"
    if a.kind == "type":
        return f"type {a.text!r}"
    if a.kind == "hotkey":
        return "hotkey " + "+".join(a.keys)
    if a.kind == "marker":
        return f"marker {a.text or ''}"
    return f"move{where}"


def run(args: argparse.Namespace) -> ExitCode:
    from recorder.errors import UsageError
    from trajrec.actions import ActionRules
    from trajrec.api import open as open_bundle

    if args.type_pause <= 0:
        raise UsageError("--type-pause must be above 0")
    rules = ActionRules(type_pause_ns=int(args.type_pause * 1e9), hover_ns=None if args.no_moves else 1_000_000_000)
    with open_bundle(args.path) as b:
        actions = b.actions(rules, visual=not args.timed_frames)
        start = b.start_ns
    if args.json:
        print(json.dumps([a.to_json() for a in actions], indent=1))
        return ExitCode.OK
    out = console()
    for a in actions:
        window = f"  [{a.app}: {a.title}]" if a.app else ""
        out.print(one_line(f"{(a.start_ns - start) / 1e9:9.3f} s  {_describe(a)}{window}"), markup=False)
    out.print(f"{len(actions)} actions", markup=False)
    return ExitCode.OK
