"""Sealing: a clean session becomes a complete bundle; a session whose writer was killed -9 becomes a
valid `recovered` bundle holding all but the last moments; nothing is ever half-published."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recorder.errors import SealError
from recorder.sealing.seal import seal
from recorder.sealing.synthetic import SyntheticSpec, read_barcode, synthesize_live
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

KILLED_SPEC = SyntheticSpec(duration_s=60, width=320, height=240, seed=4)
WRITER = f"""
import sys
from pathlib import Path
from recorder.sealing.synthetic import SyntheticSpec, synthesize_live

synthesize_live(Path(sys.argv[1]), {KILLED_SPEC!r}, session_id="crashed-session", realtime=True,
                on_frame=lambda i, t: print(i, t, flush=True))
"""


def test_clean_session_seals_complete(tmp_path: Path) -> None:
    truth = synthesize_live(tmp_path / "live", SyntheticSpec(duration_s=2, width=320, height=240))
    bundle = seal(tmp_path / "live", tmp_path / "out")
    assert bundle == tmp_path / "out" / truth.session_id
    m = json.loads((bundle / fmt.MANIFEST).read_text())
    assert m["status"] == "complete" and "notes" not in m
    assert m["clock"]["start_ns"] == truth.start_ns and m["clock"]["end_ns"] == truth.end_ns
    assert [p.name for p in (tmp_path / "out").iterdir()] == [truth.session_id]  # no staging left behind
    with pytest.raises(SealError, match="already exists"):
        seal(tmp_path / "live", tmp_path / "out")


def test_unclean_session_needs_recover(tmp_path: Path) -> None:
    synthesize_live(tmp_path / "live", SyntheticSpec(duration_s=2, width=320, height=240), stop=False)
    with pytest.raises(SealError, match="trajrec repair"):
        seal(tmp_path / "live", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    bundle = seal(tmp_path / "live", tmp_path / "out", recover=True)
    report = validate_bundle(str(bundle), deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"] and report.valid


def test_not_a_live_directory(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="not a live session"):
        seal(tmp_path, tmp_path / "out")


@pytest.mark.slow
def test_kill_9_mid_session_recovers_all_but_the_tail(tmp_path: Path) -> None:
    """The writer runs in real time; kill -9 it ~4 s into the session. The recovered bundle holds an exact
    prefix of what the session would have recorded, and what is lost was written in the last ~2 s."""
    truth = synthesize_live(tmp_path / "reference", KILLED_SPEC, session_id="reference")  # same seed: same data
    live = tmp_path / "live"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(live)], stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        last_t = 0
        for line in proc.stdout:
            last_t = int(line.split()[1])  # the writer's position in session time
            if last_t - truth.start_ns >= 4 * 10**9:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert last_t - truth.start_ns >= 4 * 10**9
    bundle = seal(live, tmp_path / "out", recover=True)
    report = validate_bundle(str(bundle), deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"], report.findings
    limit = last_t - 2 * 10**9  # everything written before this must have survived

    def first_lost(times: list[int], kept: int) -> int:
        return times[kept] if kept < len(times) else 2**63

    with BundleReader(bundle) as r:
        assert r.status == fmt.Status.RECOVERED and any("no stop anchor" in n for n in r.manifest["notes"])
        frames = r.frame_times().tolist()
        assert frames == truth.frame_t_ns[: len(frames)] and first_lost(truth.frame_t_ns, len(frames)) >= limit
        assert read_barcode(r.frame(len(frames) - 1)) == len(frames) - 1  # what is kept is aligned
        events = r.event_records()
        assert events == truth.events[: len(events)]
        assert first_lost([e.t_ns for e in truth.events], len(events)) >= limit
        audio = r.audio()
        assert truth.audio is not None and np.array_equal(audio, truth.audio[: len(audio)])
        assert r.sample_time_ns(len(audio)) >= limit


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full disk (needs root, as the test machines have)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    assert r.returncode == 0, f"cannot mount a tmpfs ({r.stderr.strip()}); these tests run as root"
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_at_seal_keeps_the_live_directory(tmp_path: Path, tiny_disk: Path) -> None:
    live = tmp_path / "live"
    truth = synthesize_live(live, SyntheticSpec(duration_s=3, width=320, height=240))
    before = sorted((p.relative_to(live), p.stat().st_size) for p in live.rglob("*") if p.is_file())
    with pytest.raises(SealError, match=r"free some disk space, then run `trajrec repair"):
        seal(live, tiny_disk)
    assert list(tiny_disk.iterdir()) == []  # no partial bundle left behind
    assert sorted((p.relative_to(live), p.stat().st_size) for p in live.rglob("*") if p.is_file()) == before
    bundle = seal(live, tmp_path / "roomy")  # once there is room, the same live directory seals cleanly
    assert validate_bundle(str(bundle), deep=True).findings == []
    assert bundle.name == truth.session_id


@pytest.mark.parametrize("ppm", [-300, 300])
def test_audio_writer_absorbs_clock_drift_but_not_lost_audio(tmp_path: Path, ppm: int) -> None:
    """Two minutes from a sound card 300 ppm off: no silence is invented (on the nominal rate a slow card
    would look 36 ms late by the end), while a real 100 ms loss is still filled."""
    import random

    from recorder.writers.audio import AudioWriter

    rate, n = 48_000, 480
    w = AudioWriter(tmp_path / "a.flac", rate)
    rng = random.Random(1)
    block = np.zeros((n, 1), np.int16)
    lost_at = 9_000  # block index of a real loss of 10 blocks, ~90 s in
    for i in range(12_000):
        if lost_at <= i < lost_at + 10:
            continue
        t = 10**12 + round(i * n * 1e9 / (rate * (1 + ppm / 1e6))) + rng.randint(-3_000_000, 3_000_000)
        w.write(t, block)
    w.close()
    assert w.gaps == 1
    assert abs(w.gap_samples - 10 * n) <= 0.02 * rate  # within 20 ms of the truth
