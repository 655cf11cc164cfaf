"""Every validator check, each against a bundle broken on purpose: the exact finding, nothing else."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import av
import pytest

from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from tests.helpers.bundles import codes, edit_manifest, manifest, reseal, rewrite_table
from trajrec import format as fmt
from trajrec.errors import Cancelled
from trajrec.validation import Code, Severity, validate_bundle


def test_good_bundle_has_no_findings(bundle: Path) -> None:
    for deep in (False, True):
        report = validate_bundle(str(bundle), deep=deep)
        assert report.findings == []
        assert report.valid
        assert report.bytes == sum(f["bytes"] for f in manifest(bundle)["files"])


def test_bundle_without_audio_and_variants_are_valid(tmp_path: Path) -> None:
    b, _ = synthesize_bundle(tmp_path, SyntheticSpec(duration_s=2.5, width=320, height=240, audio=False))
    assert codes(b, deep=True) == set()
    assert manifest(b)["streams"]["audio"] == {"present": False, "reason": "synthetic session without audio"}


def _pause(bundle: Path) -> tuple[int, int]:
    anchors = manifest(bundle)["clock"]["anchors"]
    p0 = next(a["mono_ns"] for a in anchors if a["event"] == "pause")
    p1 = next(a["mono_ns"] for a in anchors if a["event"] == "resume")
    return p0, p1


def _end(bundle: Path) -> int:
    return int(manifest(bundle)["clock"]["end_ns"])


def _set(rows: list[dict[str, Any]], i: int, **values: Any) -> None:
    rows[i].update(values)


def _first_row(rows: list[dict[str, Any]], kind: str) -> int:
    return next(i for i, r in enumerate(rows) if r["kind"] == kind)


def _rewrite_bytes(bundle: Path, rel: str, data: bytes) -> None:
    (bundle / rel).write_bytes(data)
    reseal(bundle, rel)


def _frames_before(bundle: Path, t: int) -> int:
    import pyarrow.parquet as pq

    ts = pq.read_table(bundle / fmt.FRAMES).column("t_ns").to_pylist()
    return max(i for i, x in enumerate(ts) if x < t)


def _add_key_up_twice(rows: list[dict[str, Any]]) -> None:
    i = _first_row(rows, "key_up")
    dup = dict(rows[i])
    dup["t_ns"] += 1
    rows.insert(i + 1, dup)
    for n, r in enumerate(rows):
        r["seq"] = n


def _more_events(m: dict[str, Any]) -> None:
    m["streams"]["input"]["events"] += 1
    m["stats"]["events"] += 1


def _insert_key_up_twice(b: Path) -> None:
    rewrite_table(b, fmt.EVENTS, _add_key_up_twice)
    edit_manifest(b, _more_events)


def _drop_last_frame_row(b: Path) -> None:
    rewrite_table(b, fmt.FRAMES, lambda rows: rows.pop())

    def change(m: dict[str, Any]) -> None:
        m["streams"]["screen"]["frames"] -= 1
        m["stats"]["frames"] -= 1

    edit_manifest(b, change)


def _frame_in_pause(b: Path) -> None:
    p0, _ = _pause(b)
    i = _frames_before(b, p0)
    rewrite_table(b, fmt.FRAMES, lambda rows: _set(rows, i, t_ns=p0 + 1_000_000))


def _event_in_pause(b: Path) -> None:
    p0, _ = _pause(b)

    def change(rows: list[dict[str, Any]]) -> None:
        i = max(i for i, r in enumerate(rows) if r["t_ns"] < p0)
        rows[i]["t_ns"] = p0 + 1  # still in time order: the next event comes after the resume

    rewrite_table(b, fmt.EVENTS, change)


def _windows_unsorted(b: Path) -> None:
    rewrite_table(b, fmt.WINDOWS, lambda rows: rows.append({**rows[0], "t_ns": rows[0]["t_ns"] - 1}))
    edit_manifest(b, lambda m: m["streams"]["context"].update(records=m["streams"]["context"]["records"] + 1))


def _swap_t(rows: list[dict[str, Any]]) -> None:
    rows[3]["t_ns"], rows[4]["t_ns"] = rows[4]["t_ns"], rows[3]["t_ns"]


def _bad_marker_line(b: Path) -> None:
    lines = (b / fmt.MARKERS).read_text().splitlines()
    lines[0] = lines[0].replace('"step"', '"lunch"')
    _rewrite_bytes(b, fmt.MARKERS, ("\n".join(lines) + "\n").encode())


def _marker_after_end(b: Path) -> None:
    lines = (b / fmt.MARKERS).read_text().splitlines()
    lines.append(f'{{"t_ns": {_end(b) + 10**9}, "kind": "note", "text": "late"}}')
    _rewrite_bytes(b, fmt.MARKERS, ("\n".join(lines) + "\n").encode())
    edit_manifest(b, lambda m: m["streams"]["markers"].update(count=m["streams"]["markers"]["count"] + 1))


def _markers_unsorted(b: Path) -> None:
    lines = (b / fmt.MARKERS).read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    _rewrite_bytes(b, fmt.MARKERS, ("\n".join(lines) + "\n").encode())


def _flip_byte(b: Path, rel: str) -> None:
    data = bytearray((b / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (b / rel).write_bytes(bytes(data))


def _truncate(b: Path, rel: str) -> None:
    with open(b / rel, "r+b") as f:
        f.truncate(os.path.getsize(b / rel) // 2)


def _to_mpeg4(b: Path) -> None:
    """Re-encode the video with another codec, keeping every frame and its pts."""
    src = b / fmt.VIDEO
    tmp = b / "screen" / "tmp.mp4"
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vs = inp.streams.video[0]
        os_ = out.add_stream("mpeg4")
        os_.width, os_.height, os_.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
        os_.time_base = vs.time_base
        os_.codec_context.time_base = vs.time_base
        for frame in inp.decode(vs):
            frame.pict_type = av.video.frame.PictureType.NONE
            for p in os_.encode(frame):
                out.mux(p)
        for p in os_.encode(None):
            out.mux(p)
    tmp.replace(src)
    reseal(b, fmt.VIDEO)


def _mpeg4_findings(found: set[str]) -> bool:
    return "video-codec" in found and found <= {"video-codec", "video-time-base", "video-pts", "video-keyframes"}


Break = Callable[[Path], None]
CASES: dict[str, tuple[Break, set[str]]] = {
    # manifest
    "manifest missing": (lambda b: (b / fmt.MANIFEST).unlink(), {"manifest-missing"}),
    "manifest not json": (lambda b: (b / fmt.MANIFEST).write_text("{not json"), {"manifest-malformed"}),
    "manifest a list": (lambda b: (b / fmt.MANIFEST).write_text("[]"), {"manifest-malformed"}),
    "manifest not utf-8": (lambda b: (b / fmt.MANIFEST).write_bytes(b'{"a": "\xff"}'), {"manifest-malformed"}),
    "manifest nested deep": (
        lambda b: (b / fmt.MANIFEST).write_text("[" * 200_000 + "]" * 200_000),
        {"manifest-malformed"},
    ),
    "manifest huge": (lambda b: os.truncate(b / fmt.MANIFEST, fmt.MAX_MANIFEST_BYTES + 1), {"manifest-too-large"}),
    "manifest schema": (lambda b: edit_manifest(b, lambda m: m.pop("task")), {"manifest-schema"}),
    "format major 2": (lambda b: edit_manifest(b, lambda m: m.update(format_version="2.0")), {"format-version"}),
    "format newer minor": (lambda b: edit_manifest(b, lambda m: m.update(format_version="1.7")), {"format-newer"}),
    "status recovered": (lambda b: edit_manifest(b, lambda m: m.update(status="recovered")), {"status-recovered"}),
    "clock duration": (lambda b: edit_manifest(b, lambda m: m["stats"].update(duration_ns=1)), {"clock"}),
    # files
    "file missing": (lambda b: (b / fmt.WINDOWS).unlink(), {"file-missing"}),
    "file extra": (lambda b: (b / "notes.txt").write_text("hi"), {"file-extra"}),
    "file truncated": (lambda b: _truncate(b, fmt.VIDEO), {"file-size"}),
    "file changed": (lambda b: _flip_byte(b, fmt.AUDIO), {"file-sha256"}),
    "file unlisted": (
        lambda b: edit_manifest(b, lambda m: m.update(files=[f for f in m["files"] if f["path"] != fmt.MARKERS])),
        {"file-unlisted", "file-extra"},
    ),
    "file duplicate": (lambda b: edit_manifest(b, lambda m: m["files"].append(m["files"][0])), {"file-duplicate"}),
    "file unexpected": (
        lambda b: (
            (b / "extra.bin").write_bytes(b"x"),
            edit_manifest(
                b,
                lambda m: m["files"].append(
                    {
                        "path": "extra.bin",
                        "bytes": 1,
                        "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
                    }
                ),
            ),
        ),
        {"file-unexpected"},
    ),
    "symlink in bundle": (lambda b: os.symlink("/etc/passwd", b / "screen" / "link"), {"unsafe-member"}),
    # tables
    "table garbage": (lambda b: _rewrite_bytes(b, fmt.WINDOWS, b"PAR1 not really"), {"table-unreadable"}),
    "table column dropped": (
        lambda b: rewrite_table(
            b, fmt.WINDOWS, lambda rows: [r.pop("title") for r in rows], schema=fmt.WINDOWS_SCHEMA.remove(2)
        ),
        {"table-schema"},
    ),
    "table rows vs manifest": (
        lambda b: edit_manifest(b, lambda m: m["streams"]["context"].update(records=99)),
        {"table-rows"},
    ),
    # frames and video
    "frames index": (lambda b: rewrite_table(b, fmt.FRAMES, lambda r: _set(r, 2, frame_index=7)), {"frames-index"}),
    "frames t order": (lambda b: rewrite_table(b, fmt.FRAMES, _swap_t), {"frames-t-order"}),
    "frames pts order": (
        lambda b: rewrite_table(b, fmt.FRAMES, lambda r: _set(r, 3, pts=r[2]["pts"])),
        {"frames-pts-order", "video-pts"},
    ),
    "frames t0": (lambda b: edit_manifest(b, lambda m: m["streams"]["screen"].update(t0_ns=1)), {"frames-t0"}),
    "frames span": (lambda b: rewrite_table(b, fmt.FRAMES, lambda r: _set(r, -1, t_ns=_end(b) + 1)), {"frames-span"}),
    "frames in pause": (_frame_in_pause, {"frames-in-pause"}),
    "frames display": (lambda b: rewrite_table(b, fmt.FRAMES, lambda r: _set(r, 0, display_id=7)), {"frames-display"}),
    "video frame count": (_drop_last_frame_row, {"video-frame-count"}),
    "video pts": (lambda b: rewrite_table(b, fmt.FRAMES, lambda r: _set(r, 1, pts=r[1]["pts"] + 1)), {"video-pts"}),
    "video keyframes": (
        lambda b: rewrite_table(b, fmt.FRAMES, lambda r: _set(r, 1, keyframe=True)),
        {"video-keyframes"},
    ),
    "video time base": (
        lambda b: edit_manifest(b, lambda m: m["streams"]["screen"].update(time_base=[1, 90000])),
        {"video-time-base"},
    ),
    "video size": (lambda b: edit_manifest(b, lambda m: m["streams"]["screen"].update(width=640)), {"video-size"}),
    "video region size": (
        lambda b: edit_manifest(b, lambda m: m["streams"]["screen"]["region"].update(size_px=[640, 480])),
        {"video-size"},
    ),
    "video garbage": (lambda b: _rewrite_bytes(b, fmt.VIDEO, b"\0" * 4096), {"video-unreadable"}),
    # input events
    "events seq": (lambda b: rewrite_table(b, fmt.EVENTS, lambda r: _set(r, 5, seq=50)), {"events-seq"}),
    "events order": (lambda b: rewrite_table(b, fmt.EVENTS, _swap_t), {"events-order"}),
    "events span": (lambda b: rewrite_table(b, fmt.EVENTS, lambda r: _set(r, -1, t_ns=_end(b) + 5)), {"events-span"}),
    "events in pause": (_event_in_pause, {"events-in-pause"}),
    "events kind": (
        lambda b: rewrite_table(b, fmt.EVENTS, lambda r: _set(r, _first_row(r, "move"), kind="hover")),
        {"events-kind"},
    ),
    "events fields": (
        lambda b: rewrite_table(b, fmt.EVENTS, lambda r: _set(r, _first_row(r, "move"), x=None)),
        {"events-fields"},
    ),
    "events unpaired": (_insert_key_up_twice, {"events-unpaired"}),
    "events coords": (
        lambda b: rewrite_table(b, fmt.EVENTS, lambda r: _set(r, _first_row(r, "down"), x=5000)),
        {"events-coords"},
    ),
    # context, markers
    "windows order": (_windows_unsorted, {"windows-order"}),
    "windows span": (lambda b: rewrite_table(b, fmt.WINDOWS, lambda r: _set(r, 0, t_ns=1)), {"windows-span"}),
    "markers malformed": (_bad_marker_line, {"markers-malformed"}),
    "markers span": (_marker_after_end, {"markers-span"}),
    "markers order": (_markers_unsorted, {"markers-order"}),
    "markers count": (lambda b: edit_manifest(b, lambda m: m["streams"]["markers"].update(count=0)), {"table-rows"}),
    # audio
    "audio garbage": (lambda b: _rewrite_bytes(b, fmt.AUDIO, b"fLaC" + b"\0" * 100), {"audio-unreadable"}),
    "audio format": (
        lambda b: edit_manifest(b, lambda m: m["streams"]["audio"].update(sample_rate=44100)),
        {"audio-format"},
    ),
    "audio samples": (
        lambda b: edit_manifest(
            b, lambda m: m["streams"]["audio"].update(samples=m["streams"]["audio"]["samples"] + 1)
        ),
        {"audio-samples"},
    ),
    "audio duration": (
        lambda b: edit_manifest(
            b,
            lambda m: m["streams"]["audio"].update(
                first_sample_t_ns=m["streams"]["audio"]["first_sample_t_ns"] + 10**9
            ),
        ),
        {"audio-duration"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_bundle_gets_exactly_its_finding(bundle: Path, case: str) -> None:
    breaker, expected = CASES[case]
    breaker(bundle)
    report = validate_bundle(str(bundle))
    assert {f.code for f in report.findings} == expected, [f.message for f in report.findings]
    warnings_only = {"format-newer", "status-recovered"}
    assert report.valid == (expected <= warnings_only)
    for f in report.findings:
        assert f.message and "\n" not in f.message
        assert "Traceback" not in f.message


def test_deep_mode_decodes_what_quick_mode_trusts(bundle: Path) -> None:
    _rewrite_bytes(bundle, fmt.VIDEO, b"\0" * 4096)
    assert codes(bundle, deep=True) == {"video-decode"}
    _rewrite_bytes(bundle, fmt.AUDIO, b"fLaC" + b"\0" * 100)
    assert codes(bundle, deep=True) == {"video-decode", "audio-decode"}


def test_video_with_another_codec(bundle: Path) -> None:
    _to_mpeg4(bundle)
    assert _mpeg4_findings(codes(bundle))


def test_video_truncated_then_resealed_is_caught(bundle: Path) -> None:
    data = (bundle / fmt.VIDEO).read_bytes()
    _rewrite_bytes(bundle, fmt.VIDEO, data[: len(data) * 2 // 3])
    found = codes(bundle, deep=True)
    assert found & {"video-frame-count", "video-decode"}, found


def test_frame_gap_is_a_warning(tmp_path: Path) -> None:
    b, _ = synthesize_bundle(tmp_path, SyntheticSpec(duration_s=6, width=320, height=240, stall=(1.5, 3.2)))
    report = validate_bundle(str(b))
    assert [(f.code, f.severity) for f in report.findings] == [("frames-gap", Severity.WARNING)]
    assert report.valid
    assert manifest(b)["stats"]["max_frame_gap_ns"] > 3_000_000_000


def test_session_id_mismatch_is_a_warning(bundle: Path) -> None:
    renamed = bundle.rename(bundle.with_name("renamed"))
    report = validate_bundle(str(renamed))
    assert [(f.code, f.severity) for f in report.findings] == [("session-id-mismatch", Severity.WARNING)]


def test_nonexistent_and_unreadable_paths(tmp_path: Path) -> None:
    assert codes(tmp_path / "nope") == {"unreadable"}
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive" * 100)
    assert codes(junk) == {"unreadable"}


# --- tar archives -------------------------------------------------------------------------------------
def _tar(bundle: Path, dest: Path, top: bool = True, extra: Callable[[tarfile.TarFile], None] | None = None) -> Path:
    with tarfile.open(dest, "w") as t:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                rel = p.relative_to(bundle).as_posix()
                t.add(p, arcname=f"{bundle.name}/{rel}" if top else rel)
        if extra:
            extra(t)
    return dest


def _member(name: str, kind: bytes, linkname: str = "", data: bytes = b"") -> Callable[[tarfile.TarFile], None]:
    def add(t: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        info.size = len(data)
        t.addfile(info, io.BytesIO(data) if data else None)

    return add


@pytest.mark.parametrize("top", [True, False])
def test_tar_bundle_is_valid(bundle: Path, tmp_path: Path, top: bool) -> None:
    tar = _tar(bundle, tmp_path / "b.tar", top=top)
    expected = set() if top else {"session-id-mismatch"}
    assert codes(tar, deep=True) == expected


@pytest.mark.parametrize(
    ("name", "member"),
    [
        ("dotdot", _member("x/../../evil", tarfile.REGTYPE, data=b"boo")),
        ("absolute", _member("/etc/evil", tarfile.REGTYPE, data=b"boo")),
        ("symlink", _member("screen/link", tarfile.SYMTYPE, linkname="/etc/passwd")),
        ("hardlink", _member("screen/hard", tarfile.LNKTYPE, linkname="/etc/passwd")),
        ("chardev", _member("screen/dev", tarfile.CHRTYPE)),
        ("fifo", _member("screen/fifo", tarfile.FIFOTYPE)),
    ],
)
def test_unsafe_tar_members_are_refused(
    bundle: Path, tmp_path: Path, name: str, member: Callable[[tarfile.TarFile], None]
) -> None:
    tar = _tar(bundle, tmp_path / f"{name}.tar", top=False, extra=member)
    report = validate_bundle(str(tar))
    assert {f.code for f in report.findings} - {"session-id-mismatch"} == {"unsafe-member"}
    assert not report.valid


def test_tar_duplicate_member_is_refused(bundle: Path, tmp_path: Path) -> None:
    tar = _tar(bundle, tmp_path / "dup.tar", top=False, extra=_member(fmt.MARKERS, tarfile.REGTYPE, data=b"{}\n"))
    assert codes(tar) - {"session-id-mismatch"} == {"unsafe-member"}


def test_tar_with_huge_manifest_is_not_read(bundle: Path, tmp_path: Path) -> None:
    big = tmp_path / "big" / bundle.name
    shutil.copytree(bundle, big)
    os.truncate(big / fmt.MANIFEST, 64 * 1024 * 1024)
    tar = _tar(big, tmp_path / "big.tar")
    assert codes(tar) == {"manifest-too-large"}


def test_newer_minor_with_new_fields_is_valid_with_a_warning(bundle: Path) -> None:
    def change(m: dict[str, Any]) -> None:
        m["format_version"] = "1.4"
        m["new_top_level"] = {"x": 1}
        m["streams"]["screen"]["hdr"] = False

    edit_manifest(bundle, change)
    report = validate_bundle(str(bundle))
    assert [(f.code, f.severity) for f in report.findings] == [("format-newer", Severity.WARNING)]
    edit_manifest(bundle, lambda m: m.update(format_version="1.0"))
    assert codes(bundle) == {"manifest-schema"}  # the same fields are unknown to a 1.0 bundle


def test_unknown_modifier_is_a_field_error(bundle: Path) -> None:
    rewrite_table(bundle, fmt.EVENTS, lambda r: _set(r, _first_row(r, "key_down"), modifiers=["hyper"]))
    assert codes(bundle) == {"events-fields"}


# --- the codes: one enum, documented in schemas/README.md ------------------------------------------------
def _readme_codes() -> list[tuple[str, str]]:
    """(code, severity) of each row of the "Finding codes" table in the README shipped with the schemas."""
    text = resources.files("trajrec.schemas").joinpath("README.md").read_text(encoding="utf-8")
    lines = text.split("### Finding codes", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    assert header[:2] == ["Code", "Severity"], header
    rows = []
    for line in lines[start + 2 :]:  # after the header and its |---| line
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0].strip("`"), cells[1]))
    return rows


def test_readme_lists_exactly_the_finding_codes_with_their_severity() -> None:
    rows = _readme_codes()
    documented = [code for code, _ in rows]
    assert len(documented) == len(set(documented)), "a code listed twice"
    assert set(documented) == {c.value for c in Code}
    assert dict(rows) == {c.value: c.severity.value for c in Code}


def test_codes_compare_and_serialise_as_their_strings(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m.update(status="recovered"))
    report = validate_bundle(str(bundle))
    assert [f.code for f in report.findings] == ["status-recovered"]
    assert report.to_json()["findings"][0]["code"] == "status-recovered"
    assert type(report.to_json()["findings"][0]["code"]) is str
    assert f"{report.findings[0].code}" == "status-recovered"


def test_cancel_while_the_video_decodes_stops_the_run(tmp_path: Path) -> None:
    """Cancelled escapes a deep validation; it never turns into a video-decode finding. Without audio, the
    video decode is the last place the run looks at the cancel event."""
    b, _ = synthesize_bundle(tmp_path, SyntheticSpec(duration_s=2.5, width=320, height=240, audio=False))
    total = sum(f["bytes"] for f in manifest(b)["files"])
    cancel = threading.Event()
    hashed = 0

    def progress(n: int) -> None:
        nonlocal hashed
        hashed += n
        if hashed == total:  # every file hashed: the next check of the event is in the video decode
            cancel.set()

    with pytest.raises(Cancelled):
        validate_bundle(str(b), deep=True, cancel=cancel, progress=progress)
    assert cancel.is_set()
