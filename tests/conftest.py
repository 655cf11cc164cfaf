"""Shared fixtures: synthetic bundles made through the real writers (H.264 via PyAV, FLAC, Parquet),
and helpers that break a copy of a bundle on purpose."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from recorder.sealing.synthetic import SyntheticSpec, SyntheticTruth, synthesize_bundle
from tests.helpers.harness import Display, Microphone, virtual_mic, xvfb

SMALL = SyntheticSpec(duration_s=4.0, width=320, height=240, pause=True, audio_gap=True, seed=1)


# Markers follow from the real parts a test uses, so a test cannot need a display and escape `-m "not x11"`.
# Modules that start such parts themselves (their own Xvfb, an EmbeddedServer) also mark themselves.
FIXTURE_MARKS = {
    "x_display": "x11",
    "x_server": "x11",
    "xclient": "x11",
    "microphone": "audio",
    "qtbot": "gui",
    "qapp": "gui",
    "s3_server": "s3",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            mark = FIXTURE_MARKS.get(fixture)
            if mark is not None:
                item.add_marker(mark)


@pytest.fixture(autouse=True)
def _log_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs, settings, the upload queue and the embedded store of every test live in the test's temp dirs."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("TRAJREC_LOG_DIR", str(base / "logs"))
    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("TRAJREC_DATA_DIR", str(base / "data"))


@pytest.fixture(autouse=True)
def _qt_garbage_on_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Qt test collects Python's garbage on the GUI thread only, as the app does (GuiGarbageCollector): a
    worker thread collecting a closed screen's reference cycle would delete widgets off the GUI thread. At
    teardown (after pytest-qt closed the test's widgets) the deferred deletions run and everything left is
    collected here, so no widget garbage is left for a later test's threads."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    from PySide6.QtCore import QCoreApplication, QEvent

    from recorder.app.threads import GuiGarbageCollector

    request.getfixturevalue("qapp")  # the timer needs the application
    collector = GuiGarbageCollector()
    try:
        yield
    finally:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        collector.stop()
        collector.deleteLater()


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


@pytest.fixture
def app_window(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The desktop app's main window on its own settings and recordings folder (tmp_path / "recordings"), not
    handed to qtbot: it is closed here after leaving the review screen (closing there would ask)."""
    from recorder.app import threads
    from recorder.app.settings import AppSettings
    from recorder.app.window import MainWindow

    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TRAJREC_DATA_DIR", str(tmp_path / "data"))
    settings = AppSettings()
    settings.data_folder = str(tmp_path / "recordings")
    w = MainWindow(settings, start_uploads=False)
    w.show()
    yield w
    w.controller.reset()
    w.review.shutdown()
    qtbot.waitUntil(lambda: not threads.busy(), timeout=8000)
    w.close()
    w.deleteLater()
