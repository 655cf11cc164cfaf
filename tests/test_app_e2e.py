"""The real app end to end on Xvfb: set up, record ~5 s with injected input and a tone into the virtual
microphone, stop with the hotkey, note a marker, submit, upload verified on the embedded S3 store; then the
bundle is downloaded and passes `trajrec validate --deep`. The app's own clicks and its hotkey must not be
in the trajectory; the work's click and typing must be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.harness import Display, Microphone, xvfb
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

pytestmark = [pytest.mark.x11, pytest.mark.audio, pytest.mark.gui, pytest.mark.slow]

DRIVER = Path(__file__).parent / "helpers" / "app_driver.py"


@pytest.mark.timeout(400)
def test_record_review_submit_upload_download(microphone: Microphone, tmp_path: Path) -> None:
    with xvfb(1920, 1080) as display:  # room for the app on the right and the work on the left
        run_app(display, microphone, tmp_path)


def run_app(display: Display, microphone: Microphone, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **display.env,
        **microphone.env,
        "QT_QPA_PLATFORM": "xcb",
        "TRAJREC_CONFIG_DIR": str(tmp_path / "config"),
        "TRAJREC_DATA_DIR": str(tmp_path / "data"),
        "TRAJREC_LOG_DIR": str(tmp_path / "logs"),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}",  # no accessibility: the hotkey guards
    }
    result_path = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, str(DRIVER), "--out", str(result_path), "--sink", microphone.sink],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    result = json.loads(result_path.read_text())
    assert result["store_url"] == "s3://trajectories"

    # what the lab gets: download from the store (the same embedded store, started by the CLI) and validate
    dest = tmp_path / "downloaded"
    dl = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "download", result["store_url"], str(dest), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dl.returncode == 0, dl.stderr
    bundle = dest / result["session_id"]
    assert validate_bundle(str(bundle), deep=True).findings == []
    with BundleReader(bundle) as b:
        m = b.manifest
        assert (m["task"]["id"], m["task"]["expert"], m["status"]) == ("e2e-001", "expert-e2e", "complete")
        events = b.event_records()
        downs = [(e.x, e.y) for e in events if e.kind == fmt.EventKind.DOWN]
        typed = "".join(e.char or "" for e in events if e.kind == fmt.EventKind.KEY_DOWN)
        markers = b.markers()
        voice = b.audio().astype(np.float64) / 32768
    assert tuple(result["work_click"]) in downs, downs  # the work is recorded...
    for own in ("mark_click",):  # ...the app's own button clicks are not
        assert tuple(result[own]) not in downs, (own, downs)
    assert typed == "hellobye", typed  # the stop and hide hotkeys' keys are not, nor the keys typed hidden
    redacted = [e for e in events if e.redacted]
    # s3cr3t's presses and releases, and the hotkeys' own modifiers around them (ctrl, alt), keep their time only
    assert len(redacted) >= 2 * len("s3cr3t") and all(e.key is None and e.char is None for e in redacted)
    assert b"s3cr3t" not in b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    assert m["privacy"]["accessibility"]["available"] is False and m["privacy"]["redacted_keys"] == len(redacted)
    assert [s["kind"] for s in m["privacy"]["spans"]] == ["keys-hidden"]
    assert result["hidden_shown"] and "not recognised" in result["guard_text"]
    # who and where the expert is appears in no text we wrote (window titles, names, notes, the manifest)
    from recorder.privacy.identity import Identity

    me = Identity.here()
    with BundleReader(bundle) as b:
        texts = [json.dumps(b.manifest), *(f"{w.app} {w.title}" for w in b.window_records())]
    for text in texts:
        assert me.home not in text and f"{me.user}@{me.host}" not in text, text
    assert [mk.text for mk in markers if mk.kind == fmt.MarkerKind.STEP] == ["loaded the data"]
    loud = np.sqrt(np.convolve(voice[:, 0] ** 2, np.ones(4800) / 4800, mode="valid"))
    assert loud.max() == pytest.approx(0.3536, rel=0.2)  # the tone came through
