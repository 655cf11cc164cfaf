"""The reader gives back exactly what the writer sealed: frames (by barcode), events, context, markers,
audio samples; from a directory and from a .tar."""

from __future__ import annotations

import random
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from recorder.errors import BundleNotFoundError, FormatVersionError, ManifestError
from recorder.sealing.synthetic import SyntheticTruth, read_barcode
from tests.helpers.bundles import edit_manifest
from trajrec import format as fmt
from trajrec.reader import BundleReader


@pytest.fixture(params=["dir", "tar"])
def opened(request: pytest.FixtureRequest, sample: tuple[Path, SyntheticTruth], tmp_path: Path) -> BundleReader:
    path, _ = sample
    if request.param == "tar":
        tar = tmp_path / f"{path.name}.tar"
        with tarfile.open(tar, "w") as t:
            t.add(path, arcname=path.name)
        path = tar
    reader = BundleReader(path)
    request.addfinalizer(reader.close)
    return reader


def test_frames_round_trip_exactly(opened: BundleReader, sample: tuple[Path, SyntheticTruth]) -> None:
    _, truth = sample
    times = opened.frame_times()
    assert times.tolist() == truth.frame_t_ns
    order = list(range(len(times)))
    random.Random(3).shuffle(order)  # random access: seeks backwards and forwards
    for i in order:
        img = opened.frame(i)
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        assert read_barcode(img) == i


def test_frame_at_is_the_frame_on_screen(opened: BundleReader, sample: tuple[Path, SyntheticTruth]) -> None:
    _, truth = sample
    t = truth.frame_t_ns
    assert opened.frame_at(t[0] - 1) is None
    for i in range(len(t)):
        assert opened.frame_index_at(t[i]) == i  # grabbed exactly then
        mid = t[i] + ((t[i + 1] - t[i]) // 2 if i + 1 < len(t) else 10**6)
        img = opened.frame_at(mid)
        assert img is not None and read_barcode(img) == i  # still on screen until the next grab


def test_frame_at_an_event(opened: BundleReader) -> None:
    events = opened.events()
    t_click = int(events.filter(np.array(events.column("kind").to_pylist()) == "down").column("t_ns")[0].as_py())
    i = opened.frame_index_at(t_click)
    assert i is not None
    assert opened.frame_times()[i] <= t_click < ([*opened.frame_times().tolist(), 2**62])[i + 1]
    img = opened.frame_at(t_click)
    assert img is not None and read_barcode(img) == i


def test_tables_round_trip_exactly(opened: BundleReader, sample: tuple[Path, SyntheticTruth]) -> None:
    _, truth = sample
    assert opened.event_records() == truth.events
    assert opened.window_records() == truth.windows
    assert opened.markers() == truth.markers
    assert [m.kind for m in opened.markers()].count(fmt.MarkerKind.PAUSE) == 1
    w = truth.windows[0]
    assert opened.window_at(w.t_ns) == w and opened.window_at(w.t_ns - 1) is None


def test_audio_round_trips_exactly(opened: BundleReader, sample: tuple[Path, SyntheticTruth]) -> None:
    _, truth = sample
    assert truth.audio is not None and truth.first_sample_t_ns is not None
    assert np.array_equal(opened.audio(), truth.audio)
    rate = opened.manifest["streams"]["audio"]["sample_rate"]
    # a range: sample index = (t - first_sample_t_ns) * rate
    t0 = truth.first_sample_t_ns + 10**9
    chunk = opened.audio(t0, t0 + 10**8)
    assert chunk.shape == (rate // 10, 1)
    assert np.array_equal(chunk, truth.audio[rate : rate + rate // 10])
    # before the first sample: silence, so the result still spans the whole range
    early = opened.audio(truth.first_sample_t_ns - 5 * 10**7, truth.first_sample_t_ns + 5 * 10**7)
    assert early.shape == (rate // 10, 1)
    assert not early[: rate // 20].any() and np.array_equal(early[rate // 20 :], truth.audio[: rate // 20])
    assert opened.sample_time_ns(rate) == truth.first_sample_t_ns + 10**9


def test_audio_gap_and_pause_are_silence_in_step(opened: BundleReader) -> None:
    stats = opened.manifest["stats"]
    assert stats["audio_gaps"] == 1 and 90_000_000 <= stats["audio_gaps_ns"] <= 110_000_000
    p0, p1 = (a["mono_ns"] for a in opened.manifest["clock"]["anchors"] if a["event"] in ("pause", "resume"))
    inside = opened.audio(p0 + 50_000_000, p1 - 50_000_000)
    assert len(inside) and not inside.any()  # nothing is captured while paused
    after = opened.audio(p1 + 50_000_000, p1 + 150_000_000)
    assert np.abs(after.astype(np.int32)).max() > 1000  # the voice resumes where the clock says


def test_utc_from_anchors(opened: BundleReader) -> None:
    a = opened.manifest["clock"]["anchors"]
    assert opened.utc_ns(opened.start_ns) == a[0]["utc_ns"]
    assert opened.utc_ns(opened.start_ns + 123) == a[0]["utc_ns"] + 123


def test_reader_refuses_other_major_and_missing(bundle: Path, tmp_path: Path) -> None:
    edit_manifest(bundle, lambda m: m.update(format_version="2.0"))
    with pytest.raises(FormatVersionError, match="upgrade"):
        BundleReader(bundle)
    with pytest.raises(BundleNotFoundError):
        BundleReader(tmp_path / "nothing")
    (bundle / fmt.MANIFEST).unlink()
    with pytest.raises(ManifestError, match="missing"):
        BundleReader(bundle)


def test_sound_card_clock_drift_is_fitted(tmp_path: Path) -> None:
    """A device clock 300 ppm fast would put the end of a 12 s voiceover 3.6 ms late on the nominal rate;
    the fitted clock rate keeps every block within a fraction of a millisecond of when it was captured."""
    from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle

    bundle, truth = synthesize_bundle(
        tmp_path, SyntheticSpec(duration_s=12, width=320, height=240, audio_clock_ppm=300, seed=5)
    )
    with BundleReader(bundle) as b:
        meta = b.manifest["streams"]["audio"]
        assert meta["clock_rate_hz"] == pytest.approx(48_000 * 1.0003, abs=0.5)
        errors = [abs(b.sample_time_ns(first) - t) for first, t in truth.audio_blocks]
        assert max(errors) < 500_000
        nominal = [abs(meta["first_sample_t_ns"] + first * 10**9 // 48_000 - t) for first, t in truth.audio_blocks]
        assert max(nominal) > 3_000_000  # what the fit corrects
        assert truth.audio is not None and np.array_equal(b.audio(), truth.audio)


@pytest.mark.slow
def test_a_lab_script_that_reads_tables_exits_cleanly(bundle: Path) -> None:
    """Reading Parquet through a file object with Arrow's thread pool could abort the interpreter at exit
    ("terminate called without an active exception", about one run in six here); tables are read on the calling
    thread, so a script that validates and reads, and never closes, exits 0 every time."""
    script = (
        "import sys, trajrec\n"
        "trajrec.validate(sys.argv[1], deep=True)\n"
        "b = trajrec.open(sys.argv[1]); b.events(); b.windows()\n"
    )
    for _ in range(12):
        run = subprocess.run([sys.executable, "-c", script, str(bundle)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-500:]
