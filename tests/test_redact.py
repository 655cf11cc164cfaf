"""Redactions after recording (recorder.sealing.edit.redact_bundle): hide a span, cover a box, mute the voiceover.

On real sealed bundles (synthetic sessions through the real writers, real H.264 and FLAC), read back with the
real decoders: a new valid bundle, nothing removed left in any file (Parquet and MCAP decoded), frames outside a
box's GOPs bit-identical, no old copy left on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recorder.sealing.edit import Box, BundleEditError, Hide, Mute, redact_bundle
from recorder.sealing.synthetic import SyntheticSpec, SyntheticTruth, synthesize_bundle
from recorder.writers.log import iter_live_log
from tests.helpers.bundles import private_copy
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

SPEC = SyntheticSpec(duration_s=10.0, width=320, height=240, seed=5)
S = 1_000_000_000


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticTruth]:
    return synthesize_bundle(tmp_path_factory.mktemp("redact-src"), SPEC)


@pytest.fixture
def bundle(source: tuple[Path, SyntheticTruth], tmp_path: Path) -> Path:
    return private_copy(source[0], tmp_path)


def errors(path: Path) -> list[str]:
    report = validate_bundle(str(path), deep=True)
    return [f"{f.code} {f.path}: {f.message}" for f in report.findings if f.severity == "error"]


def decoded(path: Path) -> list[np.ndarray]:
    with BundleReader(path) as r:
        return [r.frame(i) for i in range(len(r.frames()))]


def test_hide_span_leaves_a_valid_bundle_with_nothing_inside(bundle: Path) -> None:
    with BundleReader(bundle) as r:
        t0 = r.start_ns
        events_before = len(r.events())
    a, b = t0 + 3 * S, t0 + 5 * S
    assert redact_bundle(bundle, [Hide(a, b)]) == bundle
    assert errors(bundle) == []
    assert sorted(p.name for p in bundle.parent.iterdir()) == [bundle.name]  # no .edit-old, no staging left
    with BundleReader(bundle) as r:
        m = r.manifest
        assert {"start_ns": a, "end_ns": b, "kind": "expert"} in m["privacy"]["spans"]
        assert m["privacy"]["gaps"] == 1 and m["privacy"]["gap_ns"] == b - a
        assert [(e["kind"], e["start_ns"], e["end_ns"], e["reason"]) for e in m["edits"]] == [("hide", a, b, "expert")]
        t = r.events().column("t_ns").to_numpy()
        assert not ((t >= a) & (t <= b)).any() and 0 < len(t) < events_before
        ft = r.frame_times()
        assert not ((ft >= a) & (ft <= b)).any()
        assert r.frames().column("keyframe").to_pylist()[int(np.searchsorted(ft, b))]  # decodable right after
        assert not r.audio(a, b).any()
        assert r.audio(t0, a).any() and r.audio(b, r.end_ns).any()
    logged = [(topic, t) for topic, t, _ in iter_live_log(bundle / fmt.RAW_LOG)]
    for topic in ("/input/event", "/screen/frame", "/context/window"):
        assert not [t for tp, t in logged if tp == topic and a <= t <= b], topic


def test_box_covers_whole_gops_and_leaves_every_other_frame_bit_identical(bundle: Path, tmp_path: Path) -> None:
    with BundleReader(bundle) as r:
        t0 = r.start_ns
        keys = [i for i, k in enumerate(r.frames().column("keyframe").to_pylist()) if k]
        t = r.frame_times()
    before = decoded(bundle)
    box = (16, 40, 200, 60)
    out = redact_bundle(bundle, [Box(t0 + 4 * S, t0 + 4 * S + 100_000_000, box, "fill")], out=tmp_path / "boxed")
    assert errors(out) == []
    after = decoded(out)
    assert len(after) == len(before)
    with BundleReader(out) as r:
        (e,) = r.manifest["edits"]
    first = max(k for k in keys if t[k] <= t0 + 4 * S + 100_000_000)  # the GOP the span touches
    stop = next((k for k in keys if k > first), len(t))
    assert (e["kind"], e["start_ns"], e["end_ns"], e["box"], e["style"]) == (
        "box",
        t[first],
        t[stop - 1],
        list(box),
        "fill",
    )
    x, y, w, h = box
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        if first <= i < stop:
            assert new[y + 4 : y + h - 4, x + 4 : x + w - 4].max() < 40  # black, to the encoder's error
            assert not np.array_equal(old, new)
        else:
            assert np.array_equal(old, new), f"frame {i} changed outside the box's GOPs"
    assert (bundle / fmt.VIDEO).read_bytes() != (out / fmt.VIDEO).read_bytes()


def test_blur_makes_the_box_unreadable(bundle: Path, tmp_path: Path) -> None:
    with BundleReader(bundle) as r:
        t0, n = r.start_ns, len(r.frames())
    before = decoded(bundle)
    box = (0, 0, 320, 240)
    out = redact_bundle(bundle, [Box(t0, t0 + 20 * S, box)], out=tmp_path / "blurred")
    assert errors(out) == []
    after = decoded(out)
    assert len(after) == n
    edges = [np.abs(np.diff(f.astype(int), axis=1)).mean() for f in (before[-1], after[-1])]
    assert edges[1] < edges[0] / 3  # the text's sharp edges are gone


def test_mute_silences_only_its_span(bundle: Path) -> None:
    with BundleReader(bundle) as r:
        t0 = r.start_ns
        whole = r.audio()
    a, b = t0 + 2 * S, t0 + 2 * S + 500_000_000
    redact_bundle(bundle, [Mute(a, b)])
    assert errors(bundle) == []
    with BundleReader(bundle) as r:
        assert not r.audio(a, b).any()
        after = r.audio()
        changed = np.flatnonzero((after != whole).any(axis=1))
        times = [r.sample_time_ns(int(i)) for i in (changed[0], changed[-1])]
        assert a - S // 1000 <= times[0] and times[1] <= b + S // 1000  # within a sample of the span
        (e,) = r.manifest["edits"]
        assert (e["kind"], e["start_ns"], e["end_ns"]) == ("mute", a, b)
        assert r.manifest["files"] and "privacy" in r.manifest
    assert json.loads((bundle / fmt.MANIFEST).read_text())["stats"]["events"] > 0


@pytest.mark.parametrize(
    ("redaction", "message"),
    [
        (Box(0, 10**18, (400, 400, 10, 10)), "lies outside the 320x240 video"),
        (Hide(10**18, 10**18 + 1), "outside the session"),
        (Box(0, 10**18, (0, 0, 10, 10), "smudge"), "use 'blur' or 'fill'"),  # type: ignore[arg-type]
        (Mute(0, 10**18, ""), "reason must be a short text"),
    ],
)
def test_refused_redactions_leave_the_bundle_alone(bundle: Path, redaction: object, message: str) -> None:
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    with pytest.raises(BundleEditError, match=message):
        redact_bundle(bundle, [redaction])  # type: ignore[list-item]
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("step", ["video", "manifest", "swap-in"])
def test_a_redaction_that_fails_midway_leaves_the_old_bundle_whole(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A full disk while the video is re-encoded, or a rename that fails: one line, the old bundle as it was,
    no staging or backup left behind."""
    import errno
    import os

    from recorder.sealing.edit import redact as redact_module

    before = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    with BundleReader(bundle) as r:
        t0 = r.start_ns
    real_replace = os.replace
    failed: list[Path] = []

    def no_room(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def replace(a: object, b: object, *args: object, **kwargs: object) -> None:
        target = Path(str(b))
        hit = (step == "manifest" and target.name == fmt.MANIFEST) or (step == "swap-in" and target == bundle)
        if hit and not failed:  # once: the undo that follows works
            failed.append(target)
            raise OSError(errno.EIO, "Input/output error (injected)")
        real_replace(a, b, *args, **kwargs)  # type: ignore[arg-type]

    if step == "video":
        monkeypatch.setattr(redact_module, "write_video", no_room)
    else:
        monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(BundleEditError) as e:
        redact_bundle(bundle, [Hide(t0 + 2 * S, t0 + 3 * S), Box(t0, t0 + S, (0, 0, 50, 50))])
    assert "\n" not in str(e.value) and "unchanged" in str(e.value)
    monkeypatch.undo()
    assert sorted(p.name for p in bundle.parent.iterdir()) == [bundle.name]
    assert {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before


def test_a_long_box_keeps_the_recordings_keyframes(bundle: Path, tmp_path: Path) -> None:
    with BundleReader(bundle) as r:
        t0, keys = r.start_ns, r.frames().column("keyframe").to_pylist()
    out = redact_bundle(bundle, [Box(t0, t0 + 60 * S, (0, 0, 100, 100), "fill")], out=tmp_path / "long")
    with BundleReader(out) as r:
        assert r.frames().column("keyframe").to_pylist() == keys  # every frame re-encoded, keyframes where they were
