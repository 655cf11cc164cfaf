"""Task files a lab hands out (JSON or YAML), checked against schemas/task.schema.json. Qt-free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.errors import TaskFileError
from trajrec.manifest import schema_errors

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=data["id"],
            title=data["title"],
            instruction=data.get("instruction", ""),
            expected_minutes=data.get("expected_minutes"),
            upload_to=data.get("upload_to"),
            deny_list=data.get("deny_list"),
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
    errors = schema_errors(data, TASK_SCHEMA_FILE, limit=3)
    if errors:
        raise TaskFileError(f"{path}: {'; '.join(errors)}")
    return Task.from_dict(data)


__all__ = ["Task", "load_task"]
