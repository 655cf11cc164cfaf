"""`trajrec gui`: the desktop app."""

from __future__ import annotations

import argparse
from typing import Any

from recorder.exitcodes import ExitCode


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gui",
        help="open the desktop app (set up, record, review, submit)",
        description="Open the desktop app: set up a task, record it with narration, review and trim it, and "
        "submit it for upload. Needs a graphical session (DISPLAY) and the [desktop] install.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    import importlib.util

    from recorder.errors import UsageError
    from recorder.platform import graphical_session

    if importlib.util.find_spec("PySide6") is None:  # a lab's core install: say so before anything else
        raise UsageError("the desktop app is not installed (PySide6): pip install 'trajectory-recorder[desktop]'")
    if not graphical_session():
        raise UsageError("no graphical session: set DISPLAY (or run it from your desktop)")
    try:
        from recorder.app.main import main
    except ImportError as e:
        raise UsageError(
            f"the desktop app is not installed ({e.name}): pip install 'trajectory-recorder[desktop]'"
        ) from e
    return ExitCode(main([]))
