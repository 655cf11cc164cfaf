"""manifest.json: its typed shape, the one loader (size limit, JSON, version, schema), and serialisation.

`read_manifest` is how everything that trusts a manifest gets one: after it, every field the schema
requires is there with its JSON type, so code reads `m["clock"]["start_ns"]` as an int without checks.
The validator, which must report rather than raise, uses the steps (`load_manifest`, `schema_errors`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Literal, NotRequired, TypedDict, cast

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import trajrec.schemas as schemas
from trajrec.errors import ManifestError
from trajrec.format import MANIFEST_SCHEMA_FILE, MAX_JSON_INT, MAX_MANIFEST_BYTES, check_format_version

Pair = list[int]  # [x, y] or [width, height]


class AnchorJSON(TypedDict):
    mono_ns: int
    utc_ns: int
    event: Literal["start", "pause", "resume", "stop"]


class ClockJSON(TypedDict):
    unit: str
    source: str
    start_ns: int
    end_ns: int
    anchors: list[AnchorJSON]


class RecorderJSON(TypedDict):
    name: str
    version: str


class TaskJSON(TypedDict):
    id: str
    title: str
    instruction: str
    expert: str
    consent: bool
    secret_patterns: NotRequired[list[str]]


class DisplayJSON(TypedDict):
    id: int
    origin: Pair
    size_px: Pair
    scale: float
    primary: bool
    name: NotRequired[str]
    refresh_hz: NotRequired[float | None]


class DisplayChangeJSON(TypedDict):
    t_ns: int
    displays: list[DisplayJSON]


class EnvironmentJSON(TypedDict):
    os: str
    arch: str
    locale: str
    keyboard_layout: str
    displays: list[DisplayJSON]
    coordinate_space: str
    display_changes: NotRequired[list[DisplayChangeJSON]]


class RegionJSON(TypedDict):
    origin: Pair
    size_px: Pair


class ScreenStreamJSON(TypedDict):
    present: bool
    path: NotRequired[str]
    frames_path: NotRequired[str]
    codec: NotRequired[str]
    width: NotRequired[int]
    height: NotRequired[int]
    pix_fmt: NotRequired[Literal["yuv420p", "yuv444p"]]
    time_base: NotRequired[Pair]
    t0_ns: NotRequired[int]
    frames: NotRequired[int]
    fps_target: NotRequired[float]
    cursor_drawn: NotRequired[bool]
    crf: NotRequired[int]
    preset: NotRequired[str]
    region: NotRequired[RegionJSON]
    display_ids: NotRequired[list[int]]
    reason: NotRequired[str]


class TableStreamJSON(TypedDict):
    path: str
    events: NotRequired[int]  # input
    records: NotRequired[int]  # context
    count: NotRequired[int]  # markers


class AudioStreamJSON(TypedDict):
    present: bool
    path: NotRequired[str]
    codec: NotRequired[str]
    sample_rate: NotRequired[int]
    channels: NotRequired[int]
    first_sample_t_ns: NotRequired[int]
    samples: NotRequired[int]
    device: NotRequired[str]
    reason: NotRequired[str]
    clock_rate_hz: NotRequired[float]


class ElementsStreamJSON(TypedDict):
    present: bool
    path: NotRequired[str]
    records: NotRequired[int]
    reason: NotRequired[str]


class StreamsJSON(TypedDict):
    screen: ScreenStreamJSON
    input: TableStreamJSON
    context: TableStreamJSON
    markers: TableStreamJSON
    audio: AudioStreamJSON
    elements: NotRequired[ElementsStreamJSON]  # since 1.1


class AccessibilityJSON(TypedDict):
    available: bool
    reason: NotRequired[str]


class DenyListJSON(TypedDict):
    entries: int
    sha256: str


class PrivacySpanJSON(TypedDict):
    start_ns: int
    end_ns: int
    kind: Literal["password-field", "keys-hidden", "deny-list", "typed-secret", "expert"]
    detector: NotRequired[str]  # typed-secret: which detector found it (never the secret)
    keys: NotRequired[int]  # typed-secret: key events redacted


class PrivacyJSON(TypedDict):
    accessibility: AccessibilityJSON
    deny_list: DenyListJSON
    redacted_keys: int
    masked_frames: int
    spans: list[PrivacySpanJSON]
    gaps: int
    gap_ns: int


class StatsJSON(TypedDict):
    duration_ns: int
    paused_ns: int
    frames: int
    dropped_frames: int
    max_frame_gap_ns: int
    audio_gaps_ns: int
    audio_gaps: int
    events: int


class FileJSON(TypedDict):
    path: str
    bytes: int
    sha256: str


class EditJSON(TypedDict):
    kind: Literal["trim", "marker_notes", "hide", "box", "mute"]
    at_utc: str
    start_ns: NotRequired[int]
    end_ns: NotRequired[int]
    requested_start_ns: NotRequired[int | None]
    requested_end_ns: NotRequired[int | None]
    count: NotRequired[int]
    box: NotRequired[list[int]]  # box: x, y, w, h in video pixels
    style: NotRequired[Literal["blur", "fill"]]
    reason: NotRequired[str]  # why (a detector's name, or "expert"); never the content


class Manifest(TypedDict):
    """manifest.json as the schema (schemas/manifest.schema.json) defines it."""

    format: str
    format_version: str
    session_id: str
    status: Literal["complete", "recovered"]
    created_utc: str
    clock: ClockJSON
    recorder: RecorderJSON
    task: TaskJSON
    environment: EnvironmentJSON
    streams: StreamsJSON
    stats: StatsJSON
    files: list[FileJSON]
    notes: NotRequired[list[str]]
    edits: NotRequired[list[EditJSON]]
    privacy: NotRequired[PrivacyJSON]  # since 1.1


def dump_manifest(manifest: Manifest | dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


def load_manifest(data: bytes) -> dict[str, Any]:
    """Parse manifest bytes; ManifestError (one line) for anything that is not a JSON object."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest.json is {len(data)} bytes, over the {MAX_MANIFEST_BYTES} byte limit")
    try:
        obj = json.loads(data)
    except UnicodeDecodeError as e:
        raise ManifestError(f"manifest.json is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise ManifestError(f"manifest.json is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise ManifestError("manifest.json is nested too deeply to be a manifest") from e
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise ManifestError(f"manifest.json is not a manifest: {str(e).split(';')[0][:120]}") from e
    if not isinstance(obj, dict):
        raise ManifestError(f"manifest.json holds a JSON {type(obj).__name__}, not an object")
    if (big := _first_big_int(obj)) is not None:
        raise ManifestError(f"manifest.json: {big} holds a number beyond {MAX_JSON_INT} (64 bits)")
    return obj


def _first_big_int(obj: object) -> str | None:
    """Where the first integer beyond 64 bits sits in parsed JSON (a JSON pointer), or None."""
    stack: list[tuple[str, object]] = [("", obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
            return where or "/"
        if isinstance(value, dict):
            stack.extend((f"{where}/{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}/{i}", v) for i, v in enumerate(value))
    return None


@cache
def _registry() -> Registry[Any]:
    """Every schema in schemas/ by its $id, so that one may refer to another (live.schema.json to the manifest's)."""
    loaded = [schemas.load(name) for name in schemas.names()]
    return Registry().with_resources((s["$id"], DRAFT202012.create_resource(s)) for s in loaded)


@cache
def validator(schema_file: str, definition: str | None = None) -> Draft202012Validator:
    """The validator of `schema_file`, or of one of its `$defs` (`definition`)."""
    schema = schemas.load(schema_file)
    if definition is not None:
        schema = {"$ref": f"{schema['$id']}#/$defs/{definition}"}
    return Draft202012Validator(schema, registry=_registry())


def schema_errors(
    obj: Any,
    schema_file: str = MANIFEST_SCHEMA_FILE,
    limit: int = 20,
    ignore_unknown: bool = False,
    definition: str | None = None,
) -> list[str]:
    """Human-readable schema violations, each with the JSON path of the offending value.

    `ignore_unknown` tolerates properties the schema does not know (a newer minor format version)."""
    out = []
    found = validator(schema_file, definition).iter_errors(obj)
    for err in sorted(found, key=lambda e: list(map(str, e.absolute_path))):
        if ignore_unknown and err.validator == "additionalProperties":
            continue
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        msg = err.message if len(err.message) <= 200 else err.message[:197] + "..."
        out.append(f"{where}: {msg}")
        if len(out) >= limit:
            out.append("... more schema errors not shown")
            break
    return out


def read_manifest(data: bytes) -> tuple[Manifest, bool]:
    """The one loader for a manifest to be trusted: (manifest, written by a newer minor version).

    Raises ManifestError (one line, the first schema problems) or FormatVersionError; after it returns,
    every field the schema requires is present with its JSON type."""
    obj = load_manifest(data)
    newer = check_format_version(obj.get("format_version"))
    problems = schema_errors(obj, limit=3, ignore_unknown=newer)
    if problems:
        raise ManifestError(f"manifest.json does not follow the format: {'; '.join(problems)}")
    return cast(Manifest, obj), newer
