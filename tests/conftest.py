"""Shared fixtures: synthetic bundles made through the real writers (H.264 via PyAV, FLAC, Parquet),
and helpers that break a copy of a bundle on purpose."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recorder.bundle import format as fmt
from recorder.bundle.synthetic import SyntheticSpec, SyntheticTruth, synthesize_bundle
from recorder.bundle.validate import validate_bundle
from tests.harness import Display, Microphone, virtual_mic, xvfb

SMALL = SyntheticSpec(duration_s=4.0, width=320, height=240, pause=True, audio_gap=True, seed=1)


@pytest.fixture(autouse=True)
def _log_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs, settings, the upload queue and the embedded store of every test live in the test's temp dirs."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("TRAJREC_LOG_DIR", str(base / "logs"))
    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("TRAJREC_DATA_DIR", str(base / "data"))


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticTruth]:
    """A 4 s session with a pause and an audio gap, sealed once per test run (do not modify)."""
    return synthesize_bundle(tmp_path_factory.mktemp("sample"), SMALL)


@pytest.fixture
def bundle(sample: tuple[Path, SyntheticTruth], tmp_path: Path) -> Path:
    """A private copy of the sample bundle, free to break."""
    src, _ = sample
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def manifest(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bundle / fmt.MANIFEST).read_text())
    return data


def edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    m = manifest(bundle)
    change(m)
    (bundle / fmt.MANIFEST).write_text(json.dumps(m, indent=2))


def reseal(bundle: Path, relpath: str) -> None:
    """Update the manifest's size and sha256 of `relpath` so only the content change remains."""
    data = (bundle / relpath).read_bytes()

    def change(m: dict[str, Any]) -> None:
        for entry in m["files"]:
            if entry["path"] == relpath:
                entry["bytes"] = len(data)
                entry["sha256"] = hashlib.sha256(data).hexdigest()

    edit_manifest(bundle, change)


def rewrite_table(
    bundle: Path, relpath: str, change: Callable[[list[dict[str, Any]]], Any], schema: pa.Schema | None = None
) -> None:
    """Edit a Parquet table's rows in place (change mutates the row list), then reseal it."""
    table = pq.read_table(bundle / relpath)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema or table.schema), bundle / relpath)
    reseal(bundle, relpath)


def codes(path: Path | str, deep: bool = False) -> set[str]:
    return {f.code for f in validate_bundle(str(path), deep=deep).findings}


# --- real display and microphone (capture tests) ------------------------------------------------------
@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for in-process clients, restoring it afterwards."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture(scope="session")
def x_display() -> Iterator[Display]:
    """A real Xvfb display for the whole test session; DISPLAY is set for in-process clients."""
    with xvfb(1280, 720) as d, _environ("DISPLAY", d.name):
        yield d


@pytest.fixture(scope="session")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Microphone]:
    """A real PulseAudio virtual microphone; PULSE_SERVER is set so PortAudio (sounddevice) finds it."""
    with virtual_mic(tmp_path_factory.mktemp("pulse")) as mic, _environ("PULSE_SERVER", mic.server):
        sd = sys.modules.get("sounddevice")
        if sd is not None:  # imported by an earlier test: PortAudio listed devices before the mic existed
            sd._terminate()
            sd._initialize()
        yield mic
