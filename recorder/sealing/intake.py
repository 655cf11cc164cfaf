"""What sealing reads from a live directory, which is untrusted input: session.json, the live files and the
log's records, each held to schemas/live.schema.json before anything is built from it.

A live directory comes from a crash, a copy off another machine or an attacker. session.json must fit the
schema or nothing is sealed (its id names a folder; its task and environment go into the manifest). A log
record that does not fit its topic's definition is dropped and counted, so one damaged record costs that
record, not the recording.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import trajrec.schemas as schemas

from recorder.errors import SealError
from recorder.writers.log import LiveLogContents
from trajrec import format as fmt
from trajrec.errors import UnsafePathError
from trajrec.manifest import schema_errors
from trajrec.paths import member_path, open_member, session_id_problem
from trajrec.topics import Topic

# The definition in live.schema.json that each topic's records must satisfy.
TOPIC_DEFINITIONS: dict[str, str] = {
    Topic.ANCHOR: "anchor",
    Topic.FRAME: "frame",
    Topic.DROPPED: "dropped",
    Topic.EVENT: "event",
    Topic.WINDOW: "window",
    Topic.MARKER: "marker",
    Topic.AUDIO: "audio",
    Topic.LAYOUT: "layout",
    Topic.ELEMENT: "element",
    Topic.PRIVACY: "privacy",
    Topic.GUARDS: "guards",
}


# Fields added to a topic's records after format 1.0, with the value a 1.0 recorder's records mean.
ADDED_SINCE_1_0: dict[str, dict[str, Any]] = {Topic.EVENT: {"redacted": False}}


def _schema_by_uri(uri: str) -> dict[str, Any]:
    """A schema another one refers to, from schemas/ only (never fetched)."""
    name = uri.split("#", 1)[0].rsplit("/", 1)[-1]
    if name not in schemas.names():
        raise SealError(f"schemas/{fmt.LIVE_SCHEMA_FILE} refers to {uri!r}, which is not in schemas/")
    found: dict[str, Any] = schemas.load(name)
    return found


@cache
def record_check(definition: str) -> Callable[[Any], Any]:
    """A compiled check of one `$defs` entry: fastjsonschema generates Python for it, about 30 µs a record
    (jsonschema's interpreter takes about 400 µs, about two minutes for an hour's 300,000 records)."""
    schema = schemas.load(fmt.LIVE_SCHEMA_FILE)
    return fastjsonschema.compile({"$ref": f"{schema['$id']}#/$defs/{definition}"}, handlers={"https": _schema_by_uri})


def load_session(live: Path) -> dict[str, Any]:
    """session.json, read without following links, size-bounded, and held to the schema before its session
    id names any folder."""
    path = live / fmt.LIVE_SESSION
    try:
        with open_member(live, fmt.LIVE_SESSION) as f:
            raw = f.read(fmt.MAX_MANIFEST_BYTES + 1)
        if len(raw) > fmt.MAX_MANIFEST_BYTES:
            raise ValueError(f"over {fmt.MAX_MANIFEST_BYTES} bytes")
        session = json.loads(raw)
    except FileNotFoundError as e:
        raise SealError(f"{live}: no {fmt.LIVE_SESSION}: not a live session directory") from e
    except UnsafePathError as e:
        raise SealError(f"{path}: {e.reason}; the session cannot be sealed") from e
    except (OSError, ValueError, RecursionError) as e:
        raise SealError(f"{path}: unreadable ({str(e)[:200]}); the session cannot be sealed") from e
    if not isinstance(session, dict) or "session_id" not in session:
        raise SealError(f"{path}: not a session description (no session_id)")
    problem = session_id_problem(session["session_id"])
    if problem is not None:
        raise SealError(f"{path}: session_id {str(session['session_id'])[:80]!r}: {problem}; nothing was sealed")
    fmt.check_format_version(session.get("format_version"))
    errors = schema_errors(session, fmt.LIVE_SCHEMA_FILE, limit=3, definition="session")
    if errors:
        raise SealError(f"{path}: not a session this recorder wrote ({'; '.join(errors)}); nothing was sealed")
    return session


def check_live_files(live: Path) -> None:
    """The live directory's media and log, read by decoders that follow links: each must be a regular file
    inside it (or absent), so that no file elsewhere ends up sealed into a bundle."""
    for name in (fmt.LIVE_LOG, fmt.LIVE_VIDEO, fmt.LIVE_AUDIO):
        try:
            mode = os.lstat(member_path(live, name)).st_mode
        except FileNotFoundError:
            continue
        except UnsafePathError as e:
            raise SealError(f"{live / name}: {e.reason}; the session cannot be sealed") from e
        if not stat.S_ISREG(mode):
            raise SealError(f"{live / name}: not a regular file (a link?); the session cannot be sealed")


def sound_records(log: LiveLogContents) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """The log's records that fit their topic's definition, and how many were dropped per topic (records on
    topics this recorder does not know are left out and not counted: newer recorders may add topics)."""
    kept: dict[str, list[dict[str, Any]]] = {}
    dropped: dict[str, int] = {}
    for topic, definition in TOPIC_DEFINITIONS.items():
        check = record_check(definition)
        good = kept[topic] = []
        defaults = ADDED_SINCE_1_0.get(topic, {})
        for rec in log.records.get(topic, []):
            if defaults and isinstance(rec, dict):
                rec = {**defaults, **rec}
            try:
                check(rec)
            except fastjsonschema.JsonSchemaException:
                dropped[topic] = dropped.get(topic, 0) + 1
            else:
                good.append(rec)
    return kept, dropped
