"""Bundle format v1: the one place that owns names, versions, record types and table schemas.

Every timestamp is an integer count of nanoseconds on the session's monotonic clock (``t_ns``); UTC
appears only as anchor pairs in the manifest. Everything that writes or reads a bundle goes through
the names and types defined here; ``schemas/`` holds the same contract as JSON Schema for other
languages, and a test keeps the two in step.
"""

from __future__ import annotations

import datetime as _dt
import enum
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import pyarrow as pa

from trajrec.errors import FormatVersionError

FORMAT_NAME = "trajrec.bundle"
FORMAT_VERSION = "1.2"  # 1.1: elements, events.redacted, privacy; 1.2: typed secrets, redactions, secret_patterns
FORMAT_MAJOR = 1

# --- sealed bundle layout (paths are POSIX, relative to the bundle root) ---------------------------
MANIFEST = "manifest.json"
VIDEO = "screen/video.mp4"
FRAMES = "screen/frames.parquet"
EVENTS = "input/events.parquet"
WINDOWS = "context/windows.parquet"
ELEMENTS = "context/elements.parquet"  # since 1.1: accessibility elements (focus changes, click targets)
AUDIO = "audio/voiceover.flac"
MARKERS = "markers.jsonl"
RAW_LOG = "raw/session.mcap"
# Every file a sealed bundle of this version may hold (a lab's grant service accepts uploads of these only).
BUNDLE_FILES = frozenset({MANIFEST, VIDEO, FRAMES, EVENTS, WINDOWS, ELEMENTS, AUDIO, MARKERS, RAW_LOG})

# --- live session directory (written while recording; sealed into a bundle at stop) ----------------
LIVE_SESSION = "session.json"  # written once at start: id, task, environment, recorder, stream setup
LIVE_LOG = "raw/session.mcap"  # append-only log of every timestamped record
LIVE_VIDEO = "screen/live.mkv"  # Matroska with 1 s clusters: a crash loses at most the open cluster
LIVE_AUDIO = "audio/live.flac"

# --- limits and tolerances ------------------------------------------------------------------------
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_PATH_LENGTH = 1024  # characters in a member path (trajrec.paths)
MAX_PATH_DEPTH = 32  # folders in a member path: bundles use 2
MAX_JSON_INT = 2**63 - 1  # every integer in a manifest or record fits in 64 bits
MAX_BUNDLE_OBJECTS = 100_000  # objects under one bundle's prefix on a store (bundles hold about 10)
MAX_LISTING_OBJECTS = 50_000_000  # objects under a prefix a lab lists for bundles
KEYFRAME_INTERVAL_NS = 2_000_000_000  # a keyframe (and so a frame) at least every 2 s
FRAME_GAP_LIMIT_NS = 2_500_000_000  # a longer gap between frames outside a pause is a capture stall
AUDIO_SPAN_TOLERANCE_NS = 500_000_000  # audio must start/end within this of the session span
COORDINATE_SPACE = "virtual-desktop-physical-px"
CLOCK_SOURCE = "monotonic"


class Status(enum.StrEnum):
    COMPLETE = "complete"  # stopped cleanly and sealed
    RECOVERED = "recovered"  # sealed from a live directory that lost something (a crash); see notes


class EventKind(enum.StrEnum):
    MOVE = "move"
    DOWN = "down"
    UP = "up"
    SCROLL = "scroll"
    KEY_DOWN = "key_down"
    KEY_UP = "key_up"


POINTER_KINDS = frozenset({EventKind.MOVE, EventKind.DOWN, EventKind.UP, EventKind.SCROLL})
KEY_KINDS = frozenset({EventKind.KEY_DOWN, EventKind.KEY_UP})


class ElementKind(enum.StrEnum):
    FOCUS = "focus"  # the keyboard focus moved to this element
    CLICK = "click"  # the element under the pointer at a button press


class PrivacyKind(enum.StrEnum):
    PASSWORD = "password-field"  # a password field had the focus: keys redacted
    KEYS_HIDDEN = "keys-hidden"  # the expert hid typed keys with the hotkey: keys redacted
    DENY_LIST = "deny-list"  # a denied window had the focus: no input, no frames
    TYPED_SECRET = "typed-secret"  # since 1.2: a secret typed (an API key, a card number): its keys redacted
    EXPERT = "expert"  # since 1.2: the expert hid this span in review: no input, no frames, silence


# keys redacted; nothing recorded (no input, no frames)
KEY_PRIVACY_KINDS = frozenset({PrivacyKind.PASSWORD, PrivacyKind.KEYS_HIDDEN, PrivacyKind.TYPED_SECRET})
GAP_PRIVACY_KINDS = frozenset({PrivacyKind.DENY_LIST, PrivacyKind.EXPERT})


class MarkerKind(enum.StrEnum):
    STEP = "step"
    NOTE = "note"
    PAUSE = "pause"
    RESUME = "resume"


class AnchorEvent(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


MODIFIERS = ("shift", "ctrl", "alt", "meta", "super", "caps_lock", "num_lock", "alt_gr")


# --- records ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Anchor:
    """A (monotonic, UTC) pair read back to back, to place the session clock in real time."""

    mono_ns: int
    utc_ns: int
    event: AnchorEvent


@dataclass(frozen=True, slots=True)
class Display:
    id: int
    origin: tuple[int, int]  # top-left in the virtual desktop, physical px
    size_px: tuple[int, int]
    scale: float = 1.0
    refresh_hz: float | None = None
    primary: bool = False
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["origin"] = list(self.origin)
        d["size_px"] = list(self.size_px)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Display:
        return cls(
            id=int(d["id"]),
            origin=(int(d["origin"][0]), int(d["origin"][1])),
            size_px=(int(d["size_px"][0]), int(d["size_px"][1])),
            scale=float(d.get("scale", 1.0)),
            refresh_hz=None if d.get("refresh_hz") is None else float(d["refresh_hz"]),
            primary=bool(d.get("primary", False)),
            name=str(d.get("name", "")),
        )


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded video frame: its index in the video, its pts there, and when it was grabbed."""

    frame_index: int
    pts: int  # in the video stream's time base (manifest streams.screen.time_base)
    t_ns: int  # capture (grab) time on the session clock
    display_id: int  # -1 when the frame spans several displays or a region across them
    keyframe: bool


@dataclass(frozen=True, slots=True)
class InputEvent:
    seq: int
    t_ns: int
    kind: EventKind
    x: int | None = None  # pointer position, virtual-desktop physical px
    y: int | None = None
    button: str | None = None  # left | right | middle | x1 | x2 ...
    dx: int | None = None  # scroll steps: + right / + down
    dy: int | None = None
    key: str | None = None  # key name ("a", "enter", "shift_l", "f5")
    char: str | None = None  # text the key produced, if any
    scancode: int | None = None  # platform key code (X11 keycode); pairs key_down with key_up
    modifiers: tuple[str, ...] = ()
    injected: bool | None = None  # synthesized by software (when the platform tells)
    redacted: bool = False  # since 1.1: a key typed where keys are private (key, char, scancode, modifiers cleared)


@dataclass(frozen=True, slots=True)
class WindowRecord:
    t_ns: int
    app: str
    title: str
    rect_x: int
    rect_y: int
    rect_w: int
    rect_h: int
    focused: bool = True
    pid: int | None = None
    window_id: int | None = None


@dataclass(frozen=True, slots=True)
class ElementRecord:
    """An accessibility element: where the focus went, or what was under the pointer at a press."""

    t_ns: int
    kind: ElementKind
    role: str  # AT-SPI role name ("push button", "password text", "text", ...)
    name: str  # accessible name ("Sign in"); empty for password fields
    states: tuple[str, ...]  # AT-SPI state names ("focused", "editable", ...)
    app: str  # the accessible application's name
    toolkit: str  # "gtk", "Qt", ...
    rect_x: int | None = None  # the element's extents, virtual-desktop physical px
    rect_y: int | None = None
    rect_w: int | None = None
    rect_h: int | None = None
    x: int | None = None  # the press position (kind click)
    y: int | None = None


@dataclass(frozen=True, slots=True)
class PrivacySpan:
    """A span of session time in which a privacy guard removed something (keys, or input and frames)."""

    start_ns: int
    end_ns: int
    kind: PrivacyKind


@dataclass(frozen=True, slots=True)
class Marker:
    t_ns: int
    kind: MarkerKind
    text: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t_ns": self.t_ns, "kind": str(self.kind), "text": self.text}


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """Where one block of captured audio sits: its first sample's index in the voiceover and its time."""

    t_ns: int  # time of the block's first sample on the session clock
    first_sample: int  # index in the (gap-filled) voiceover
    samples: int
    gap_samples: int = 0  # silence inserted before this block to cover lost audio


@dataclass(frozen=True, slots=True)
class DisplayLayout:
    """The monitors as they were from `t_ns` on (recorded when the layout changes mid-session)."""

    t_ns: int
    displays: tuple[Display, ...]

    def to_json(self) -> dict[str, Any]:
        return {"t_ns": self.t_ns, "displays": [d.to_json() for d in self.displays]}


# --- tables (Parquet) -------------------------------------------------------------------------------
FRAMES_SCHEMA = pa.schema(
    [
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("pts", pa.int64(), nullable=False),
        pa.field("t_ns", pa.int64(), nullable=False),
        pa.field("display_id", pa.int32(), nullable=False),
        pa.field("keyframe", pa.bool_(), nullable=False),
    ],
    metadata={"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "table": "frames"},
)

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("t_ns", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("x", pa.int32()),
        pa.field("y", pa.int32()),
        pa.field("button", pa.string()),
        pa.field("dx", pa.int32()),
        pa.field("dy", pa.int32()),
        pa.field("key", pa.string()),
        pa.field("char", pa.string()),
        pa.field("scancode", pa.int32()),
        pa.field("modifiers", pa.list_(pa.string()), nullable=False),
        pa.field("injected", pa.bool_()),
        pa.field("redacted", pa.bool_(), nullable=False, metadata={"since": "1.1"}),
    ],
    metadata={"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "table": "events"},
)

WINDOWS_SCHEMA = pa.schema(
    [
        pa.field("t_ns", pa.int64(), nullable=False),
        pa.field("app", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("rect_x", pa.int32(), nullable=False),
        pa.field("rect_y", pa.int32(), nullable=False),
        pa.field("rect_w", pa.int32(), nullable=False),
        pa.field("rect_h", pa.int32(), nullable=False),
        pa.field("focused", pa.bool_(), nullable=False),
        pa.field("pid", pa.int64()),
        pa.field("window_id", pa.int64()),
    ],
    metadata={"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "table": "windows"},
)

ELEMENTS_SCHEMA = pa.schema(
    [
        pa.field("t_ns", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("states", pa.list_(pa.string()), nullable=False),
        pa.field("app", pa.string(), nullable=False),
        pa.field("toolkit", pa.string(), nullable=False),
        pa.field("rect_x", pa.int32()),
        pa.field("rect_y", pa.int32()),
        pa.field("rect_w", pa.int32()),
        pa.field("rect_h", pa.int32()),
        pa.field("x", pa.int32()),
        pa.field("y", pa.int32()),
    ],
    metadata={"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "table": "elements"},
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    FRAMES: FRAMES_SCHEMA,
    EVENTS: EVENTS_SCHEMA,
    WINDOWS: WINDOWS_SCHEMA,
    ELEMENTS: ELEMENTS_SCHEMA,
}


def column_since(field: pa.Field) -> str | None:
    """The format version that added a column (None: there from 1.0); readers of older bundles fill it."""
    since = (field.metadata or {}).get(b"since")
    return since.decode() if since else None


def with_added_columns(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    """A table of an older minor version with the columns added since, filled as that version meant them
    (the only such column, events.redacted, is false)."""
    for field in schema or ():
        if column_since(field) is not None and field.name not in table.column_names:
            table = table.append_column(field, pa.array([False] * table.num_rows, field.type))
    return table


# The JSON Schema (schemas/<name>) that describes one row of each table / one line of markers.jsonl.
RECORD_SCHEMA_FILES: dict[str, str] = {
    FRAMES: "frame.schema.json",
    EVENTS: "event.schema.json",
    WINDOWS: "window.schema.json",
    ELEMENTS: "element.schema.json",
    MARKERS: "marker.schema.json",
}
MANIFEST_SCHEMA_FILE = "manifest.schema.json"
LIVE_SCHEMA_FILE = "live.schema.json"  # a live directory: session.json and each topic's log records


def _record_to_row(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    row: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        row[f.name] = value
    return row


def read_parquet(f: Any) -> pa.Table:
    """A Parquet table from an open file object, read on this thread: Arrow's thread pool reading through a Python
    file object can abort the interpreter at exit ("terminate called without an active exception", Arrow
    issues #34314, #50482); bundle tables are small, so threads buy nothing here."""
    import pyarrow.parquet as pq

    return pq.read_table(f, use_threads=False)


def records_to_table(records: Iterable[Any], schema: pa.Schema) -> pa.Table:
    rows = [_record_to_row(r) for r in records]
    if not rows:
        return schema.empty_table()
    return pa.Table.from_pylist(rows, schema=schema)


def events_from_table(table: pa.Table) -> list[InputEvent]:
    out = []
    for row in table.to_pylist():
        row["kind"] = EventKind(row["kind"])
        row["modifiers"] = tuple(row["modifiers"] or ())
        out.append(InputEvent(**row))
    return out


def elements_from_table(table: pa.Table) -> list[ElementRecord]:
    out = []
    for row in table.to_pylist():
        row["kind"] = ElementKind(row["kind"])
        row["states"] = tuple(row["states"] or ())
        out.append(ElementRecord(**row))
    return out


def windows_from_table(table: pa.Table) -> list[WindowRecord]:
    return [WindowRecord(**row) for row in table.to_pylist()]


def marker_from_json(d: Mapping[str, Any]) -> Marker:
    return Marker(t_ns=int(d["t_ns"]), kind=MarkerKind(d["kind"]), text=d.get("text"))


# --- versions and ids -------------------------------------------------------------------------------
def check_format_version(version: object) -> bool:
    """Raise FormatVersionError unless `version` is readable; return True when it is a newer minor."""
    if not isinstance(version, str) or version.count(".") != 1:
        raise FormatVersionError(repr(version), FORMAT_VERSION.split(".")[0])
    major_s, minor_s = version.split(".")
    if not (major_s.isdigit() and minor_s.isdigit()) or int(major_s) != FORMAT_MAJOR:
        raise FormatVersionError(version, str(FORMAT_MAJOR))
    return int(minor_s) > int(FORMAT_VERSION.split(".")[1])


SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


def new_session_id(now: _dt.datetime | None = None) -> str:
    """A sortable, collision-resistant id: UTC start time plus 32 random bits."""
    now = now or _dt.datetime.now(_dt.UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def utc_iso(utc_ns: int) -> str:
    return _dt.datetime.fromtimestamp(utc_ns / 1e9, _dt.UTC).isoformat(timespec="milliseconds")


def displays_from_json(items: Sequence[Mapping[str, Any]]) -> list[Display]:
    return [Display.from_json(d) for d in items]
