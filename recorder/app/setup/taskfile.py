"""Task files a lab hands out (JSON or YAML), checked against schemas/task.schema.json. Qt-free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.errors import TaskFileError
from trajrec.secrets import compiled

TASK_SCHEMA_FILE = "task.schema.json"
MAX_TASK_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Task:
    """A task as the lab wrote it: what the expert records."""

    id: str
    title: str
    instruction: str = ""
    expected_minutes: float | None = None
    upload_to: str | None = None
    deny_list: dict[str, list[str]] | None = None  # windows never recorded, on top of the defaults
    secret_patterns: tuple[str, ...] = ()  # typed text redacted at seal, on top of the built-in detectors

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=data["id"],
            title=data["title"],
            instruction=data.get("instruction", ""),
            expected_minutes=data.get("expected_minutes"),
            upload_to=data.get("upload_to"),
            deny_list=data.get("deny_list"),
            secret_patterns=tuple(data.get("secret_patterns", ())),
        )


def load_task(path: Path) -> Task:
    """Read and check a task file; TaskFileError (one line, naming the file) when it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TaskFileError(f"{path}: cannot read the task file ({e.strerror})") from e
    if len(raw) > MAX_TASK_FILE_BYTES:
        raise TaskFileError(f"{path}: {len(raw)} bytes is too large for a task file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TaskFileError(f"{path}: not UTF-8 text") from e
    data: Any
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError: one line either way
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kind = "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"
        raise TaskFileError(f"{path}: not valid {kind} ({first})") from e
    if not isinstance(data, dict):
        raise TaskFileError(f"{path}: a task file holds an object with id and title, not a {type(data).__name__}")
    errors = plain_errors(data)
    try:
        compiled(data.get("secret_patterns", []) if isinstance(data.get("secret_patterns"), list) else [])
    except ValueError as e:
        errors.append(f"the field 'secret_patterns': {e}")
    if errors:
        raise TaskFileError(f"{path}: {'; '.join(errors[:3])}")
    return Task.from_dict(data)


KINDS = {"string": "text", "number": "a number", "integer": "a whole number", "object": "a set of fields",
         "array": "a list", "boolean": "true or false", "null": "empty"}  # fmt: skip
FORMS = {
    "id": "letters, digits and . _ : - (up to 256, starting with a letter or digit), e.g. stats-017",
    "upload_to": "s3://BUCKET or s3://BUCKET/PREFIX",
}


def plain_errors(data: object) -> list[str]:
    """What is wrong with a task file's fields, in words an expert can act on (not the schema's messages)."""
    from trajrec.manifest import validator

    out = []
    for e in sorted(validator(TASK_SCHEMA_FILE).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in e.absolute_path)
        field = f"the field '{where}'" if where else "the task"
        value, rule = e.instance, e.validator_value
        if e.validator == "required":
            missing = [k for k in rule if isinstance(value, dict) and k not in value]
            out.append(
                f"the field '{missing[0] if missing else rule}' is missing" + (f" in '{where}'" if where else "")
            )
        elif e.validator == "additionalProperties":
            known = sorted(e.schema.get("properties", {}))
            extra = sorted(k for k in value if k not in known) if isinstance(value, dict) else []
            out.append(f"unknown field {', '.join(repr(k) for k in extra)} (known: {', '.join(known)})")
        elif e.validator == "type":
            kinds = [rule] if isinstance(rule, str) else list(rule)
            out.append(f"{field} should be {' or '.join(KINDS.get(k, k) for k in kinds)}")
        elif e.validator == "pattern":
            shown = str(value)[:60]
            out.append(f"{field} is {shown!r}: write {FORMS.get(where, 'it in the documented form')}")
        elif e.validator in ("minLength", "minItems") and rule == 1:
            out.append(f"{field} is empty")
        elif e.validator in ("maxLength", "maxItems"):
            out.append(f"{field} is too long (at most {rule})")
        elif e.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            word = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most"}.get(
                str(e.validator), "less than"
            )
            out.append(f"{field} must be {word} {rule}")
        else:
            out.append(f"{field}: {e.message[:120]}")
    return out


__all__ = ["Task", "load_task"]
