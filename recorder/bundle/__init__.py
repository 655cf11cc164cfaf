"""Deprecated home of the bundle modules; kept for one release. Labs import `trajrec`, the recorder
imports `trajrec.*` and `recorder.sealing.*`. Importing `recorder.bundle.X` warns and hands out the new module."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType

MOVED = {
    "format": "trajrec.format",
    "manifest": "trajrec.manifest",
    "source": "trajrec.source",
    "reader": "trajrec.reader",
    "validate": "trajrec.validation",
    "seal": "recorder.sealing.seal",
    "edit": "recorder.sealing.edit",
    "synthetic": "recorder.sealing.synthetic",
}


def moved(old: str) -> ModuleType:
    """The module that replaced `recorder.bundle.<old>`, with a DeprecationWarning at the importer."""
    new = MOVED[old]
    warnings.warn(
        f"recorder.bundle.{old} moved to {new}; the old name goes away in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    module = importlib.import_module(new)
    sys.modules[f"{__name__}.{old}"] = module
    return module


def __getattr__(name: str) -> ModuleType:
    if name in MOVED:
        return moved(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
