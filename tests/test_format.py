"""The format module and the JSON Schemas in schemas/ describe the same contract."""

from __future__ import annotations

import json
from pathlib import Path

import fastjsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from recorder.errors import FormatVersionError
from recorder.sealing.synthetic import SyntheticTruth
from trajrec import format as fmt
from trajrec import schemas
from trajrec.manifest import schema_errors
from trajrec.topics import Topic

ARROW_TO_JSON = {pa.int64(): "integer", pa.int32(): "integer", pa.string(): "string", pa.bool_(): "boolean"}


def test_every_schema_is_valid_2020_12() -> None:
    assert set(schemas.names()) == {
        fmt.MANIFEST_SCHEMA_FILE,
        fmt.LIVE_SCHEMA_FILE,
        "task.schema.json",
        "grants.schema.json",
        "action.schema.json",
        "quality.schema.json",
        "policy.schema.json",
        *fmt.RECORD_SCHEMA_FILES.values(),
    }
    for name in schemas.names():
        s = schemas.load(name)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(s)


@pytest.mark.parametrize("table_path", sorted(fmt.TABLE_SCHEMAS))
def test_table_schemas_match_json_schemas(table_path: str) -> None:
    arrow = fmt.TABLE_SCHEMAS[table_path]
    js = schemas.load(fmt.RECORD_SCHEMA_FILES[table_path])
    assert list(js["properties"]) == arrow.names
    assert set(js["required"]) == set(arrow.names)
    for field in arrow:
        spec = js["properties"][field.name]
        types = spec.get("type")
        allowed = {types} if isinstance(types, str) else set(types or [])
        if pa.types.is_list(field.type):
            assert "array" in allowed or spec.get("type") == "array"
            continue
        if "enum" in spec:  # an enumerated string column
            assert field.type == pa.string()
            continue
        assert ARROW_TO_JSON[field.type] in allowed, field.name
        assert ("null" in allowed) == field.nullable, field.name


def test_sealed_rows_satisfy_the_record_schemas(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, _ = sample
    for path, schema_file in fmt.RECORD_SCHEMA_FILES.items():
        if path == fmt.MARKERS:
            rows = [json.loads(line) for line in (bundle / path).read_text().splitlines()]
        else:
            rows = pq.read_table(bundle / path).to_pylist()
        assert rows, path
        for row in rows:
            assert schema_errors(row, schema_file) == [], (path, row)


def test_record_schemas_reject_bad_rows() -> None:
    move = {
        "seq": 0,
        "t_ns": 1,
        "kind": "move",
        "x": None,
        "y": 3,
        "button": None,
        "dx": None,
        "dy": None,
        "key": None,
        "char": None,
        "scancode": None,
        "modifiers": [],
        "injected": None,
        "redacted": False,
    }
    assert schema_errors(move, "event.schema.json")  # a move needs x
    assert schema_errors({**move, "x": 1, "modifiers": ["hyper"]}, "event.schema.json")
    assert schema_errors({**move, "x": 1}, "event.schema.json") == []
    hidden = {**move, "kind": "key_down", "y": None, "redacted": True}
    assert schema_errors(hidden, "event.schema.json") == []  # a redacted key: kind and time only
    assert schema_errors({**hidden, "key": "a"}, "event.schema.json")  # a redacted key keeps no name
    assert schema_errors({**hidden, "modifiers": ["shift"]}, "event.schema.json")
    assert schema_errors({**hidden, "kind": "move", "x": 1, "y": 1}, "event.schema.json")  # only keys are redacted
    assert schema_errors({**hidden, "redacted": False}, "event.schema.json")  # an unredacted key needs its name
    assert schema_errors({"t_ns": -1, "kind": "step", "text": None}, "marker.schema.json")


def test_sealed_manifest_satisfies_schema(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, _ = sample
    m = json.loads((bundle / fmt.MANIFEST).read_text())
    assert schema_errors(m) == []
    assert m["format_version"] == fmt.FORMAT_VERSION
    listed = {f["path"] for f in m["files"]}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {fmt.MANIFEST}
    assert listed == on_disk


def test_manifest_schema_rejects_float_timestamps(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, _ = sample
    m = json.loads((bundle / fmt.MANIFEST).read_text())
    m["clock"]["start_ns"] = 1.5
    assert any(e.startswith("clock/start_ns") for e in schema_errors(m))


@pytest.mark.parametrize(("version", "newer"), [("1.0", False), ("1.3", True)])
def test_readable_versions(version: str, newer: bool) -> None:
    assert fmt.check_format_version(version) is newer


@pytest.mark.parametrize("version", ["2.0", "0.9", "1", "one.zero", 1.0, None])
def test_unreadable_versions(version: object) -> None:
    with pytest.raises(FormatVersionError):
        fmt.check_format_version(version)


def test_session_ids_sort_by_time_and_match_the_schema() -> None:
    import datetime as dt
    import re

    a = fmt.new_session_id(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    b = fmt.new_session_id(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert a < b and a != fmt.new_session_id(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert re.match(fmt.SESSION_ID_PATTERN, a)
    assert schemas.load("manifest.schema.json")["properties"]["session_id"]["pattern"] == fmt.SESSION_ID_PATTERN


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject lists packages explicitly (schemas/ is mapped to trajrec.schemas): none may be missing."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(root).parts)
        for pkg in ("trajrec", "recorder", "uploader")
        for p in root.glob(f"{pkg}/**/__init__.py")
    }
    found |= {"trajrec.schemas"}
    assert found == listed


def test_readme_lists_every_live_log_topic() -> None:
    """schemas/README.md section 5.5 documents exactly the topics the recorder writes (trajrec.topics.Topic)."""
    import re

    from trajrec.topics import Topic

    text = (Path(__file__).resolve().parents[1] / "schemas" / "README.md").read_text()
    section = text[text.index("### 5.5 `raw/session.mcap`") :]
    section = section[: section.index("\n### ", 1) if "\n### " in section[1:] else len(section)]
    documented = set(re.findall(r"^\| `(/[a-z/]+)` \|", section, re.M))
    assert documented == {str(t) for t in Topic}


def test_the_live_schema_holds_what_the_writer_writes_and_refuses_damage(tmp_path: Path) -> None:
    """schemas/live.schema.json is the contract of a live directory: every record a real live log holds fits its
    topic's definition (checked by the compiled check sealing uses and by jsonschema alike); damaged ones do not."""
    from recorder.sealing.intake import TOPIC_DEFINITIONS, load_session, record_check
    from recorder.sealing.synthetic import SyntheticSpec, synthesize_live
    from recorder.writers.log import iter_live_log

    live = tmp_path / "live"
    synthesize_live(live, SyntheticSpec(duration_s=2, width=160, height=120), session_id="s1")
    assert load_session(live)["session_id"] == "s1"
    seen: dict[str, dict[str, object]] = {}
    for topic, _t, rec in iter_live_log(live / fmt.LIVE_LOG):
        record_check(TOPIC_DEFINITIONS[topic])(rec)
        assert schema_errors(rec, fmt.LIVE_SCHEMA_FILE, definition=TOPIC_DEFINITIONS[topic]) == []
        seen.setdefault(topic, rec)
    assert {Topic.ANCHOR, Topic.FRAME, Topic.EVENT, Topic.WINDOW, Topic.MARKER, Topic.AUDIO} <= set(seen)
    for topic, rec in seen.items():
        for key in rec:
            for bad in ("x", -1, 2**70, None, [1]):
                damaged = {**rec, key: bad}
                refused_by_jsonschema = bool(
                    schema_errors(damaged, fmt.LIVE_SCHEMA_FILE, definition=TOPIC_DEFINITIONS[topic])
                )
                try:
                    record_check(TOPIC_DEFINITIONS[topic])(damaged)
                    refused = False
                except fastjsonschema.JsonSchemaException:
                    refused = True
                assert refused == refused_by_jsonschema, (topic, key, bad)
        with pytest.raises(fastjsonschema.JsonSchemaException):
            record_check(TOPIC_DEFINITIONS[topic])({k: v for k, v in list(rec.items())[1:]})  # a field missing
