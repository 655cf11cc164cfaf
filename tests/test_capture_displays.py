"""Display layout changes mid-session: recorded with their time, carried into the manifest, and used by
the validator for coordinates. Xvfb cannot resize at run time (RandR refuses), so the layout comes from
a scripted backend (DummyDisplayBackend); the X11 backend itself is tested in test_platform_x11.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder.capture.displays import DisplayLayoutSource
from recorder.platform import DummyDisplayBackend
from recorder.sealing.seal import seal
from recorder.writers.live import LiveWriter
from trajrec import format as fmt
from trajrec.validation import validate_bundle

ONE = [fmt.Display(0, (0, 0), (320, 240), primary=True)]
TWO = [*ONE, fmt.Display(1, (320, 0), (1920, 1080))]


def test_only_changes_are_emitted_and_pauses_defer_them() -> None:
    out: list[object] = []
    paused = [False]
    clock = iter(range(100, 10_000, 100))
    src = DisplayLayoutSource(
        lambda: next(clock),
        out.append,
        backend=DummyDisplayBackend([ONE, ONE, TWO, TWO, ONE, ONE]),
        paused=lambda: paused[0],
    )
    src._last = tuple(src.backend.displays())  # what start() does, without the polling thread
    assert src.poll() is None  # unchanged
    change = src.poll()
    assert isinstance(change, fmt.DisplayLayout) and change.displays == tuple(TWO)
    assert src.poll() is None
    paused[0] = True
    assert src.poll() is None  # back to one display while paused: not seen yet
    paused[0] = False
    later = src.poll()
    assert later is not None and later.displays == tuple(ONE) and out == [change, later]


def test_layout_change_reaches_the_manifest_and_the_coordinate_check(tmp_path: Path) -> None:
    live2 = tmp_path / "live"  # a session whose second monitor is plugged in halfway
    w = LiveWriter(
        live2,
        session_id="layout",
        task={"id": "t", "title": "", "instruction": "", "expert": "e", "consent": True},
        environment={
            "os": "x",
            "arch": "x",
            "locale": "",
            "keyboard_layout": "",
            "coordinate_space": fmt.COORDINATE_SPACE,
            "displays": [d.to_json() for d in ONE],
        },
        video=None,
    )
    w.anchor(fmt.Anchor(1000, 5000, fmt.AnchorEvent.START))
    w.event(fmt.InputEvent(0, 2000, fmt.EventKind.MOVE, x=100, y=100))
    w.layout(fmt.DisplayLayout(3000, tuple(TWO)))
    w.event(fmt.InputEvent(0, 4000, fmt.EventKind.MOVE, x=1000, y=500))  # on the new monitor
    w.close(stop=fmt.Anchor(5000, 9000, fmt.AnchorEvent.STOP))
    bundle = seal(live2, tmp_path / "out")
    report = validate_bundle(str(bundle), deep=True)
    assert report.findings == [], report.findings
    env = json.loads((bundle / fmt.MANIFEST).read_text())["environment"]
    assert env["displays"] == [d.to_json() for d in ONE]
    assert env["display_changes"] == [{"t_ns": 3000, "displays": [d.to_json() for d in TWO]}]


@pytest.mark.usefixtures("x_display")
def test_layout_source_runs_on_x11() -> None:
    out: list[object] = []
    src = DisplayLayoutSource(lambda: 1, out.append, interval_s=0.05)
    src.start()
    src.stop()
    assert out == []  # Xvfb's layout does not change by itself
    assert src._last is not None and src._last[0].size_px == (1280, 720)
