"""`trajrec info BUNDLE`: what a bundle holds, at a glance (or its manifest with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from recorder.exitcodes import ExitCode
from recorder.terminal import one_line


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="summarise one bundle",
        description="Show what a bundle holds: task, "
        "status, span, streams and stats. --json prints the manifest itself.",
    )
    p.add_argument("path", metavar="BUNDLE", help="bundle directory or .tar")
    p.add_argument("--json", action="store_true", help="print manifest.json")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trajrec.reader import BundleReader

    with BundleReader(args.path) as b:
        m = b.manifest
        if args.json:
            json.dump(m, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return ExitCode.OK
        st, sc, au = m["stats"], m["streams"]["screen"], m["streams"]["audio"]
        lines = [
            f"session   {m['session_id']}  ({m['status']}, format {m['format_version']})",
            f"task      {m['task']['id']}: {m['task']['title']}  (expert {m['task']['expert']})",
            f"recorded  {_utc(b.utc_ns(b.start_ns))}, {st['duration_ns'] / 1e9:.1f} s "
            f"({st['paused_ns'] / 1e9:.1f} s paused)",
            "screen    "
            + (
                f"{sc['width']}x{sc['height']} h264, {st['frames']} frames, {st['dropped_frames']} "
                f"dropped, longest gap {st['max_frame_gap_ns'] / 1e9:.2f} s"
                if sc["present"]
                else f"none ({sc['reason']})"
            ),
            f"input     {st['events']} events",
            "audio     "
            + (
                f"{au['sample_rate']} Hz x{au['channels']}, {au['samples'] / au['sample_rate']:.1f} s, "
                f"{st['audio_gaps']} gaps ({st['audio_gaps_ns'] / 1e9:.2f} s)"
                if au["present"]
                else f"none ({au['reason']})"
            ),
            f"markers   {m['streams']['markers']['count']}",
            *_privacy_lines(m),
            f"files     {len(m['files'])}, {sum(f['bytes'] for f in m['files']) / 1e6:.1f} MB",
        ]
        for note in m.get("notes", []):
            lines.append(f"note      {note}")
        print("\n".join(one_line(line) for line in lines))  # titles, notes, devices: from the bundle
    return ExitCode.OK


def _utc(ns: int) -> str:
    from trajrec.format import utc_iso

    return utc_iso(ns)


def _privacy_lines(m: Any) -> list[str]:
    """What the privacy guards did (format 1.1; nothing for a 1.0 bundle)."""
    p = m.get("privacy")
    if p is None:
        return []
    access = p["accessibility"]
    guard = "password fields recognised" if access["available"] else f"no accessibility ({access.get('reason', '')})"
    elements = m["streams"].get("elements", {})
    secrets = [s for s in p["spans"] if s["kind"] == "typed-secret"]
    redactions = [e["kind"] for e in m.get("edits", []) if e["kind"] in ("hide", "box", "mute")]
    lines = [
        f"elements  {elements['records']}" if elements.get("present") else "elements  none",
        f"privacy   {guard}; {p['redacted_keys']} keys redacted, {p['masked_frames']} frames masked, "
        f"{p['gaps']} gaps ({p['gap_ns'] / 1e9:.1f} s), deny-list of {p['deny_list']['entries']}",
    ]
    if secrets:
        kinds = sorted({str(s.get("detector", "?")) for s in secrets})
        lines.append(f"secrets   {len(secrets)} typed, redacted at seal ({', '.join(kinds)})")
    if redactions:
        counts = ", ".join(f"{redactions.count(k)} {k}" for k in ("hide", "box", "mute") if k in redactions)
        lines.append(f"redacted  after recording: {counts}")
    return lines
