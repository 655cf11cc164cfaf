"""Editing a sealed bundle (the review screen): trims and marker notes become a new sealed bundle that
validates, keeps exactly the span asked for (media bit-identical), leaks nothing that was cut, and
replaces the old bundle so that a failure or crash at any step leaves one whole bundle."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from recorder.sealing import edit
from recorder.sealing.edit import BundleEditError, edit_bundle, finish_interrupted_edit, trim_span
from recorder.sealing.edit.trim import trim_events
from recorder.sealing.synthetic import SyntheticSpec, SyntheticTruth, read_barcode, synthesize_bundle
from recorder.writers.log import iter_live_log
from tests.helpers.bundles import manifest, private_copy
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

# 14 s with a pause from 5.6 s to 7.7 s, an audio gap, typing, clicks, three windows (0, 5, 10 s), markers.
SPEC = SyntheticSpec(duration_s=14.0, width=320, height=240, pause=True, audio_gap=True, seed=3)
S = 1_000_000_000


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticTruth]:
    """The sealed sample, made once (do not modify: copy it)."""
    return synthesize_bundle(tmp_path_factory.mktemp("edit-src"), SPEC)


@pytest.fixture
def bundle(source: tuple[Path, SyntheticTruth], tmp_path: Path) -> Path:
    return private_copy(source[0], tmp_path)


def findings(path: Path) -> list[str]:
    return [f"{f.code}: {f.message}" for f in validate_bundle(str(path), deep=True).findings]


def file_bytes(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


def press_key(row: dict[str, Any]) -> tuple[str, Any]:
    if row["kind"] in ("down", "up"):
        return ("button", row["button"])
    return ("key", row["scancode"] if row["scancode"] is not None else row["key"])


def strip_seq(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in row.items() if k != "seq")


# --- trim -------------------------------------------------------------------------------------------
def test_trim_both_ends(source: tuple[Path, SyntheticTruth], tmp_path: Path) -> None:
    src, _ = source
    with BundleReader(src) as old:
        t0 = old.start_ns
        want_start, want_end = t0 + int(1.5 * S), t0 + 11 * S
        step6 = next(i for i, mk in enumerate(old.markers()) if mk.text == "step 6")
        out = edit_bundle(
            src,
            start_ns=want_start,
            end_ns=want_end,
            marker_notes={0: "cut by the trim: no effect", step6: "opened the report"},
            out=tmp_path / src.name,
        )
        assert findings(out) == []
        with BundleReader(out) as new:
            start, end = new.start_ns, new.end_ns
            assert trim_span(src, want_start, want_end) == (start, end)
            # video: starts at the first keyframe at or after the requested start, ends by the end
            frames = new.frames().to_pylist()
            old_frames = old.frames().to_pylist()
            first = next(i for i, f in enumerate(old_frames) if f["t_ns"] >= want_start and f["keyframe"])
            assert start == frames[0]["t_ns"] == old_frames[first]["t_ns"] >= want_start > t0
            assert frames[0]["keyframe"] and frames[0]["pts"] == 0 and end == want_end
            assert frames[-1]["t_ns"] <= end < next(f["t_ns"] for f in old_frames if f["t_ns"] > end)
            assert [f["frame_index"] for f in frames] == list(range(len(frames)))
            assert [f["t_ns"] for f in frames] == [f["t_ns"] for f in old_frames[first : first + len(frames)]]
            assert new.manifest["streams"]["screen"]["t0_ns"] == start
            for i in (0, 1, len(frames) // 2, len(frames) - 1):  # decoded images identical, same frame
                t = frames[i]["t_ns"]
                img_new, img_old = new.frame_at(t), old.frame_at(t)
                assert img_new is not None and img_old is not None
                assert np.array_equal(img_new, img_old) and read_barcode(img_new) == first + i
            # everything else inside [start, end]
            ev = new.events().to_pylist()
            assert [e["seq"] for e in ev] == list(range(len(ev))) and len(ev) > 10
            assert all(start <= r["t_ns"] <= end for r in ev)
            assert all(start <= r["t_ns"] <= end for r in new.windows().to_pylist())
            assert all(start <= mk.t_ns <= end for mk in new.markers())
            # events: those of the span, minus releases of presses that were cut
            old_ev = old.events().to_pylist()
            kept = {strip_seq(e) for e in ev}
            for e in old_ev:
                if start <= e["t_ns"] <= end and strip_seq(e) not in kept:
                    assert e["kind"] in ("up", "key_up")
                    presses = [p for p in old_ev if p["kind"] in ("down", "key_down") and press_key(p) == press_key(e)]
                    assert max(p["t_ns"] for p in presses if p["t_ns"] <= e["t_ns"]) < start
            assert kept <= {strip_seq(e) for e in old_ev}
            # window context, markers, UTC unchanged at every kept time
            for t in (start, start + 1, *(w["t_ns"] for w in old.windows().to_pylist() if start <= w["t_ns"]), end):
                w_new, w_old = new.window_at(t), old.window_at(t)
                assert w_new is not None and w_old is not None
                assert (w_new.app, w_new.title, w_new.window_id) == (w_old.app, w_old.title, w_old.window_id)
                assert new.utc_ns(t) == old.utc_ns(t)
            expected = [mk for mk in old.markers() if start <= mk.t_ns <= end]
            assert [(mk.t_ns, mk.kind) for mk in new.markers()] == [(mk.t_ns, mk.kind) for mk in expected]
            assert [mk.text for mk in new.markers()] == [
                "opened the report" if mk.text == "step 6" else mk.text for mk in expected
            ]
            # audio: bit-exact over the kept span, no sample outside it
            a = new.manifest["streams"]["audio"]
            assert a["first_sample_t_ns"] >= start and new.sample_time_ns(a["samples"] - 1) <= end
            assert new.sample_time_ns(a["samples"]) > end - 1_000_000  # nothing of the span was lost
            pcm = new.audio()
            assert len(pcm) == a["samples"]
            assert np.array_equal(pcm, old.audio(a["first_sample_t_ns"], new.sample_time_ns(a["samples"])))
            s0 = round((a["first_sample_t_ns"] - old.manifest["streams"]["audio"]["first_sample_t_ns"]) * 48e3 / 1e9)
            old_pcm, _ = sf.read(str(src / fmt.AUDIO), dtype="int16", always_2d=True)
            assert np.array_equal(pcm, old_pcm[s0 : s0 + len(pcm)])
            # manifest: stats recomputed, pause kept whole, edits recorded
            m = new.manifest
            assert m["stats"]["duration_ns"] == end - start and m["stats"]["frames"] == len(frames)
            assert m["stats"]["events"] == len(ev) and m["stats"]["paused_ns"] == old.manifest["stats"]["paused_ns"]
            assert [a["event"] for a in m["clock"]["anchors"]] == ["start", "pause", "resume", "stop"]
            assert m["status"] == "complete" and m["session_id"] == old.session_id
            assert [(e["kind"], e.get("start_ns"), e.get("count")) for e in m["edits"]] == [
                ("trim", start, None),
                ("marker_notes", None, 1),
            ]
            assert m["edits"][0]["requested_start_ns"] == want_start
    # the log holds the kept records only, as the tables have them
    log = list(iter_live_log(out / fmt.RAW_LOG))
    assert all(start <= t <= end for _, t, _ in log)
    counts = {topic: sum(1 for tp, _, _ in log if tp == topic) for topic in {tp for tp, _, _ in log}}
    assert counts["/screen/frame"] == len(frames) and counts["/input/event"] == len(ev)
    assert [p for tp, _, p in log if tp == "/input/event"] == ev


def test_trim_end_inside_a_pause(bundle: Path) -> None:
    m = manifest(bundle)
    pause, resume = (a["mono_ns"] for a in m["clock"]["anchors"][1:3])
    end = (pause + resume) // 2
    assert edit_bundle(bundle, end_ns=end) == bundle
    assert findings(bundle) == []
    m = manifest(bundle)
    assert [(a["event"], a["mono_ns"]) for a in m["clock"]["anchors"]] == [
        ("start", m["clock"]["start_ns"]),
        ("pause", pause),
        ("stop", end),
    ]
    assert m["stats"]["paused_ns"] == end - pause
    with BundleReader(bundle) as b:
        assert [mk.kind for mk in b.markers()][-1] == fmt.MarkerKind.PAUSE


def searchable(bundle: Path) -> dict[str, str]:
    """Each file's bytes, plus its decoded content where it is compressed (Parquet, MCAP)."""
    out = {}
    for p in sorted(bundle.rglob("*")):
        if not p.is_file():
            continue
        text = p.read_bytes().decode("latin-1")
        if p.suffix == ".parquet":
            text += json.dumps(pq.read_table(p).to_pylist(), ensure_ascii=False)
        elif p.suffix == ".mcap":
            text += json.dumps([payload for _, _, payload in iter_live_log(p)], ensure_ascii=False)
        out[p.relative_to(bundle).as_posix()] = text
    return out


def test_trimmed_content_is_gone(bundle: Path) -> None:
    with BundleReader(bundle) as old:
        t0 = old.start_ns
        windows = old.windows().to_pylist()
        old_events = old.events().to_pylist()
        start, _ = trim_span(bundle, t0 + 8 * S)
        current = old.window_at(start)
        assert current is not None
        token = windows[0]["title"]  # a window focused only in the part to cut
        assert all(w["t_ns"] < start for w in windows if w["title"] == token) and current.title != token
    before = searchable(bundle)
    assert token in before[fmt.WINDOWS] and token in before[fmt.RAW_LOG]
    edit_bundle(bundle, start_ns=t0 + 8 * S)
    assert findings(bundle) == []
    after = searchable(bundle)
    assert [path for path, text in after.items() if token in text] == []
    with BundleReader(bundle) as new:
        assert new.start_ns == start and new.window_at(start) == dataclasses.replace(current, t_ns=start)
        cut = {strip_seq(e) for e in old_events if e["t_ns"] < start}
        assert not cut & {strip_seq(e) for e in new.events().to_pylist()}
    assert all(t >= start for _, t, _ in iter_live_log(bundle / fmt.RAW_LOG))


def test_release_of_a_cut_press_is_dropped() -> None:
    def key(t: int, kind: str, k: str) -> dict[str, Any]:
        return {"seq": 0, "t_ns": t, "kind": kind, "button": None, "key": k, "scancode": ord(k)}

    def mouse(t: int, kind: str) -> dict[str, Any]:
        return {"seq": 0, "t_ns": t, "kind": kind, "button": "left", "key": None, "scancode": None}

    rows = [
        key(90, "key_down", "x"),  # cut; its release names "x": dropped
        mouse(95, "down"),  # cut; its release too
        key(96, "key_down", "w"),  # auto-repeat across the cut: the kept repeat pairs with the release
        key(105, "key_down", "w"),
        key(110, "key_up", "x"),
        mouse(112, "up"),
        key(115, "key_up", "w"),
        key(120, "key_up", "z"),  # held since before the recording: kept
        key(130, "key_down", "y"),  # held at the new end: kept
        key(210, "key_up", "y"),
    ]
    kept = trim_events(rows, 100, 200)
    assert [(r["t_ns"], r["kind"], r["seq"]) for r in kept] == [
        (105, "key_down", 0),
        (115, "key_up", 1),
        (120, "key_up", 2),
        (130, "key_down", 3),
    ]


# --- marker notes -----------------------------------------------------------------------------------
def test_marker_notes_change_only_markers_and_manifest(bundle: Path) -> None:
    before = file_bytes(bundle)
    with BundleReader(bundle) as b:
        old = b.markers()
    assert old[0].kind == fmt.MarkerKind.STEP and old[-1].kind == fmt.MarkerKind.STEP
    stale = bundle.parent / f".{bundle.name}{edit.STAGE_SUFFIX}"
    stale.mkdir()  # left by an edit that crashed while writing: cleaned up
    (stale / "junk").write_text("x")
    assert edit_bundle(bundle, marker_notes={0: "Opened the terminal — ünïcode", len(old) - 1: "Done"}) == bundle
    assert [p.name for p in bundle.parent.iterdir()] == [bundle.name]
    after = file_bytes(bundle)
    assert {p for p in before if before[p] != after[p]} == {fmt.MARKERS, fmt.MANIFEST, fmt.RAW_LOG}
    assert set(before) == set(after)
    with BundleReader(bundle) as b:
        new = b.markers()
    assert [mk.text for mk in new] == ["Opened the terminal — ünïcode", *(mk.text for mk in old[1:-1]), "Done"]
    assert [(mk.t_ns, mk.kind) for mk in new] == [(mk.t_ns, mk.kind) for mk in old]
    m = manifest(bundle)
    assert [(e["kind"], e["count"]) for e in m["edits"]] == [("marker_notes", 2)]
    assert findings(bundle) == []
    # setting the same text again changes nothing
    edit_bundle(bundle, marker_notes={0: "Opened the terminal — ünïcode"})
    assert file_bytes(bundle) == after


def test_an_edited_note_survives_nowhere_in_the_bundle(bundle: Path) -> None:
    """A note rewritten in review (say, one that named a patient) is gone from markers.jsonl and the raw log."""
    edit_bundle(bundle, marker_notes={0: "patient Jane Q. Doe, MRN 4471"})
    assert any(b"MRN 4471" in data for data in file_bytes(bundle).values())
    edit_bundle(bundle, marker_notes={0: "loaded the record"})
    assert [p for p, data in file_bytes(bundle).items() if b"MRN 4471" in data] == []
    with BundleReader(bundle) as b:
        assert b.markers()[0].text == "loaded the record"
    assert findings(bundle) == []


# --- the in-place swap --------------------------------------------------------------------------------
STEPS = ["manifest", "aside", "swap-in", "cleanup"]


def inject(monkeypatch: pytest.MonkeyPatch, bundle: Path, step: str, persistent: bool) -> None:
    """Fail the rename (or delete) of `step` once, or from then on (a dying disk: like a crash, nothing
    the editor tries afterwards works)."""
    backup = bundle.parent / f".{bundle.name}{edit.BACKUP_SUFFIX}"
    real_replace, real_rmtree = os.replace, shutil.rmtree
    broken = {"on": False, "done": False}

    def hit(dst: Path) -> bool:
        return {
            "manifest": dst.name == fmt.MANIFEST,
            "aside": dst == backup,
            "swap-in": dst == bundle,
        }.get(step, False)

    def replace(a: Any, b: Any, *args: Any, **kwargs: Any) -> None:
        if (not broken["done"] and hit(Path(b))) or (broken["on"] and persistent):
            broken["on"] = broken["done"] = True
            raise OSError(5, "Input/output error (injected)")
        real_replace(a, b, *args, **kwargs)

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if step == "cleanup" and Path(path) == backup and (not broken["done"] or persistent):
            broken["done"] = True
            raise OSError(5, "Input/output error (injected)")
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(shutil, "rmtree", rmtree)


def whole_bundles(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if (p / fmt.MANIFEST).is_file() and findings(p) == [])


@pytest.mark.parametrize("persistent", [False, True], ids=["fails-once", "crash"])
@pytest.mark.parametrize("step", STEPS)
def test_in_place_edit_is_crash_safe(
    bundle: Path, monkeypatch: pytest.MonkeyPatch, step: str, persistent: bool
) -> None:
    old = file_bytes(bundle)
    t0 = manifest(bundle)["clock"]["start_ns"]
    inject(monkeypatch, bundle, step, persistent)
    if step == "cleanup":
        assert edit_bundle(bundle, start_ns=t0 + 3 * S) == bundle  # the edit is done; only the old copy stays
    else:
        with pytest.raises(BundleEditError) as e:
            edit_bundle(bundle, start_ns=t0 + 3 * S)
        assert "\n" not in str(e.value) and "Input/output error" in str(e.value)
    monkeypatch.undo()
    parent = bundle.parent
    if not persistent or step in ("manifest", "aside"):
        # the editor cleaned up itself: the old bundle untouched (or the new one in place), no staging
        assert findings(bundle) == []
        assert [p.name for p in parent.iterdir() if p.name != bundle.name] == (
            [f".{bundle.name}{edit.BACKUP_SUFFIX}"] if step == "cleanup" else []
        )
        if step != "cleanup":
            assert file_bytes(bundle) == old
    else:
        assert whole_bundles(parent)  # a crash between the renames: a whole bundle under some name
    finish_interrupted_edit(bundle)  # what the next edit (or the app at start) does
    assert [p.name for p in parent.iterdir()] == [bundle.name]
    assert findings(bundle) == []
    edited = "edits" in manifest(bundle)
    assert edited == (step in ("cleanup", "swap-in") and (step == "cleanup" or persistent))
    if not edited:
        assert file_bytes(bundle) == old


# --- errors -----------------------------------------------------------------------------------------
def _times(bundle: Path) -> dict[str, int]:
    m = manifest(bundle)
    frames = pq.read_table(bundle / fmt.FRAMES).to_pylist()
    kinds = [json.loads(line)["kind"] for line in (bundle / fmt.MARKERS).read_text().splitlines()]
    return {
        "pause_marker": kinds.index("pause"),
        "start": m["clock"]["start_ns"],
        "end": m["clock"]["end_ns"],
        "first_frame": frames[0]["t_ns"],
        "last_key": max(f["t_ns"] for f in frames if f["keyframe"]),
    }


ERRORS: list[tuple[str, Callable[[dict[str, int]], dict[str, Any]], str]] = [
    ("start-after-end", lambda t: {"start_ns": t["start"] + 5 * S, "end_ns": t["start"] + 4 * S}, "not before"),
    ("start-is-end", lambda t: {"start_ns": t["start"] + 5 * S, "end_ns": t["start"] + 5 * S}, "not before"),
    ("past-the-end", lambda t: {"start_ns": t["end"] + S}, "keeps nothing"),
    ("no-keyframe", lambda t: {"start_ns": t["last_key"] + 1}, "no keyframe"),
    ("no-frame", lambda t: {"end_ns": t["first_frame"] - 1}, "no video frame"),
    ("unknown-marker", lambda t: {"marker_notes": {99: "x"}}, "unknown marker index 99"),
    ("negative-marker", lambda t: {"marker_notes": {-1: "x"}}, "unknown marker index -1"),
    ("pause-marker", lambda t: {"marker_notes": {t["pause_marker"]: "x"}}, "pause marker"),
    ("long-note", lambda t: {"marker_notes": {0: "x" * 10_001}}, "at most 10000"),
]


@pytest.mark.parametrize(("kwargs", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_refused_edits_leave_the_bundle_alone(
    bundle: Path, kwargs: Callable[[dict[str, int]], dict[str, Any]], message: str
) -> None:
    before = file_bytes(bundle)
    with pytest.raises(BundleEditError, match=message) as e:
        edit_bundle(bundle, **kwargs(_times(bundle)))
    assert "\n" not in str(e.value)
    assert file_bytes(bundle) == before and [p.name for p in bundle.parent.iterdir()] == [bundle.name]


def test_not_a_sealed_bundle(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleEditError, match="not a sealed bundle") as e:
        edit_bundle(tmp_path / "empty", end_ns=1)
    assert "\n" not in str(e.value)
    data = bytearray((bundle / fmt.EVENTS).read_bytes())
    data[100] ^= 0xFF  # changed after sealing: an edit must not launder it into fresh checksums
    (bundle / fmt.EVENTS).write_bytes(bytes(data))
    with pytest.raises(BundleEditError, match=r"not a valid sealed bundle \(file-sha256 input/events.parquet") as e:
        edit_bundle(bundle, marker_notes={0: "x"})
    assert "\n" not in str(e.value)
    with pytest.raises(BundleEditError, match="already exists"):
        edit_bundle(bundle, marker_notes={0: "x"}, out=bundle)


def test_disk_full_leaves_the_bundle_alone(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = file_bytes(bundle)
    t0 = manifest(bundle)["clock"]["start_ns"]

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(BundleEditError, match=r"No space left on device.*unchanged.*free some disk space") as e:
        edit_bundle(bundle, start_ns=t0 + 3 * S)
    assert "\n" not in str(e.value)
    assert file_bytes(bundle) == before and [p.name for p in bundle.parent.iterdir()] == [bundle.name]
