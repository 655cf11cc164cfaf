"""trajrec: the lab package. Read, validate and load trajectory bundles; no GUI or capture stack.

    import trajrec
    with trajrec.open("bundles/20261125T101500Z-1a2b3c4d") as b:   # a directory, a .tar or s3://
        events = b.events()                  # pyarrow.Table, one row per input event
        image = b.frame_at(int(events["t_ns"][10]))
    report = trajrec.validate("bundles/20261125T101500Z-1a2b3c4d", deep=True)

Names are loaded on first use, so `import trajrec` stays cheap (the CLI imports it for the version).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute); modules load lazily (PEP 562)
_API: dict[str, tuple[str, str]] = {
    "open": ("trajrec.api", "open"),
    "validate": ("trajrec.api", "validate"),
    "scan": ("trajrec.scanning", "scan"),
    "ScanReport": ("trajrec.scanning", "ScanReport"),
    "SecretFinding": ("trajrec.scanning", "SecretFinding"),
    "BundleReader": ("trajrec.reader", "BundleReader"),
    "Action": ("trajrec.actions", "Action"),
    "ActionRules": ("trajrec.actions", "ActionRules"),
    "Report": ("trajrec.validation", "Report"),
    "Code": ("trajrec.validation", "Code"),
    "Finding": ("trajrec.validation", "Finding"),
    "Severity": ("trajrec.validation", "Severity"),
    "Status": ("trajrec.format", "Status"),
    "EventKind": ("trajrec.format", "EventKind"),
    "MarkerKind": ("trajrec.format", "MarkerKind"),
    "InputEvent": ("trajrec.format", "InputEvent"),
    "WindowRecord": ("trajrec.format", "WindowRecord"),
    "Marker": ("trajrec.format", "Marker"),
    "Display": ("trajrec.format", "Display"),
    "FORMAT_VERSION": ("trajrec.format", "FORMAT_VERSION"),
    "TrajrecError": ("trajrec.errors", "TrajrecError"),
    "BundleError": ("trajrec.errors", "BundleError"),
    "ManifestError": ("trajrec.errors", "ManifestError"),
    "FormatVersionError": ("trajrec.errors", "FormatVersionError"),
}

__all__ = [
    "FORMAT_VERSION",
    "Action",
    "ActionRules",
    "BundleError",
    "BundleReader",
    "Code",
    "Display",
    "EventKind",
    "Finding",
    "FormatVersionError",
    "InputEvent",
    "ManifestError",
    "Marker",
    "MarkerKind",
    "Report",
    "ScanReport",
    "SecretFinding",
    "Severity",
    "Status",
    "TrajrecError",
    "WindowRecord",
    "__version__",
    "open",
    "scan",
    "validate",
]

if TYPE_CHECKING:
    from trajrec.actions import Action, ActionRules
    from trajrec.api import open, validate
    from trajrec.errors import BundleError, FormatVersionError, ManifestError, TrajrecError
    from trajrec.format import (
        FORMAT_VERSION,
        Display,
        EventKind,
        InputEvent,
        Marker,
        MarkerKind,
        Status,
        WindowRecord,
    )
    from trajrec.reader import BundleReader
    from trajrec.scanning import ScanReport, SecretFinding, scan
    from trajrec.validation import Code, Finding, Report, Severity


def __getattr__(name: str) -> Any:
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'trajrec' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
