"""The quality report of a real narrated recording: `trajrec record` on a fresh Xvfb (its empty root window is
black) with a real virtual microphone into which espeak-ng speaks two sentences; an xterm appears after 3 s, is
typed into, left alone for a while, typed into again. The report finds the black start, the speech where it was
spoken, the idle stretch, and each action names the narration said before it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.desk import Desk, speak
from tests.helpers.harness import Microphone, xvfb

pytestmark = [pytest.mark.x11, pytest.mark.audio, pytest.mark.slow]

TRAJREC = [sys.executable, "-m", "recorder.cli"]
SAID = ((1.0, "Let me open a terminal first."), (8.0, "Now I wait for the build, then list the files."))


def test_report_of_a_real_narrated_recording(microphone: Microphone, tmp_path: Path) -> None:
    with xvfb(800, 600) as display:
        env = {**os.environ, **display.env, **microphone.env}
        proc = subprocess.Popen([*TRAJREC, "record", "--consent", "--duration", "15", "--out", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("recording "), line + proc.stderr.read()
        t0 = time.monotonic()
        stop = threading.Event()
        voice = threading.Thread(target=speak, args=(env, microphone.sink, SAID, tmp_path, t0, stop))
        voice.start()
        time.sleep(3.0)  # the black root window only
        desk = Desk(env, tmp_path, 60, 60)
        try:
            desk.click_in()
            desk.type("echo one\n")
            typed_at = time.monotonic() - t0
            time.sleep(max(0.0, 12.0 - (time.monotonic() - t0)))  # idle: no input, nothing changes on screen
            desk.type("ls\n")
            out, err = proc.communicate(timeout=60)
        finally:
            stop.set()
            voice.join()
            desk.close()
    assert proc.returncode == 0, err
    bundle = out.strip().splitlines()[-1]
    r = subprocess.run([*TRAJREC, "report", "--json", bundle], capture_output=True, text=True, env=env)
    assert r.returncode in (0, 1), r.stderr
    q = json.loads(r.stdout)["bundles"][0]["quality"]
    # speech where it was said (espeak-ng's sentences last 1.5-3 s; the virtual microphone adds some latency)
    spans = [(a - 0.0, b) for a, b in _spans(bundle)]
    assert len(spans) == 2, spans
    for (a, b), (at, _) in zip(spans, SAID, strict=True):
        assert at - 0.3 < a < at + 2.0 and 1.0 < b - a < 4.5, spans  # espeak-ng and paplay start up first
    # the black start: from the first frame until the xterm appeared (3 s after the start, plus its own start-up)
    assert q["black_spans"] and q["black_spans"][0][0] < 0.5 and 2.5 < q["black_spans"][0][1] < 6.0
    # idle: from after the first typing until the second, minus the idle rule's 5 s threshold's edges
    idle = [s for s in q["idle_spans"] if s[0] >= typed_at - 0.5]
    assert idle and idle[0][0] < typed_at + 2.0 and idle[0][1] > 11.5, (q["idle_spans"], typed_at)
    assert 0 < q["narration"]["coverage"] < 1 and q["narration"]["spans"] == 2
    assert q["voice"]["peak_dbfs"] > -30 and q["voice"]["clipped_share"] < 0.01
    frames = q["frames"]
    assert frames["fps_target"] == 30 and frames["dropped"] == 0 and frames["stalls"] == []
    counts = dict(zip(frames["histogram"]["edges_ms"], frames["histogram"]["counts"], strict=True))
    assert sum(counts.values()) == frames["count"] - 1 and frames["interval_ms"]["median"] >= 30
    assert sum(n for edge, n in counts.items() if edge < 200) > 5  # frames close together while it changes...
    assert counts[1000] >= 2 and frames["interval_ms"]["max"] < 2600  # ...and one every 2 s while it is still
    actions = json.loads(subprocess.run([*TRAJREC, "actions", "--json", "--no-moves", bundle], capture_output=True,
                                        text=True, env=env, check=True).stdout)  # fmt: skip
    first = next(a for a in actions if a["kind"] == "click")
    assert first["narration"], first  # "Let me open a terminal first." was said in the 5 s before the click
    last = [a for a in actions if a["kind"] == "type"][-1]
    assert any(abs(s[0] - _abs(bundle, SAID[1][0])) < 1.2e9 for s in last["narration"]), last


def _spans(bundle: str) -> list[tuple[float, float]]:
    import trajrec

    with trajrec.open(bundle) as b:
        v = b.voiceover()
        assert v is not None
        return [((a - b.start_ns) / 1e9, (z - b.start_ns) / 1e9) for a, z in v.spans]


def _abs(bundle: str, t_s: float) -> int:
    import trajrec

    with trajrec.open(bundle) as b:
        return b.start_ns + round(t_s * 1e9)
