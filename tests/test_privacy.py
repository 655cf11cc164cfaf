"""Privacy guards, the logic and the contract: the key guard holds keys until it knows, redacts by the
password-field and keys-hidden spans (widened for signal latency), redacts the release of a redacted press;
the validator catches anything private that slipped through; format 1.0 bundles still read and validate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trajrec
from recorder.privacy.guard import InputGuard, redact
from recorder.privacy.state import PrivacyState
from recorder.sealing.synthetic import SyntheticTruth
from tests.helpers.bundles import codes, edit_manifest, every_byte, rewrite_table, typed_into
from trajrec import format as fmt
from trajrec.format import EventKind, InputEvent, PrivacyKind
from trajrec.validation import validate_bundle as validate

MS = 1_000_000


def key(t_ms: int, kind: EventKind = EventKind.KEY_DOWN, k: str = "a", code: int = 38) -> InputEvent:
    return InputEvent(0, t_ms * MS, kind, key=k, char=k, scancode=code, modifiers=("shift",))


def test_keys_are_held_until_the_signals_about_their_moment_have_arrived() -> None:
    state = PrivacyState()
    guard = InputGuard(state, hold_ns=400 * MS, margin_ns=300 * MS)
    assert guard.offer(key(1000), now_ns=1000 * MS) == []  # held
    move = InputEvent(0, 1001 * MS, EventKind.MOVE, x=1, y=2)
    assert guard.offer(move, now_ns=1001 * MS) == []  # every event waits its turn
    state.mark(PrivacyKind.PASSWORD, True, 1050 * MS)  # the focus signal arrives 50 ms after the key
    assert guard.due(1399 * MS) == []
    (out,) = guard.due(1400 * MS)
    assert out == redact(key(1000)) and out.redacted and out.key is None and out.modifiers == ()
    assert guard.due(1401 * MS) == [move]  # a pointer event is never redacted


def test_spans_are_widened_by_the_margin_and_a_redacted_press_redacts_its_release() -> None:
    state = PrivacyState()
    guard = InputGuard(state, hold_ns=0, margin_ns=300 * MS)
    state.mark(PrivacyKind.PASSWORD, True, 2000 * MS)
    state.mark(PrivacyKind.PASSWORD, False, 3000 * MS)
    got = [
        guard.offer(e, now_ns=e.t_ns)[0]
        for e in (
            key(1600),  # before the span's margin: kept
            key(1650, EventKind.KEY_UP),
            key(1750, k="b", code=56),  # inside the margin before the span: redacted
            key(3250, EventKind.KEY_UP, k="b", code=56),  # inside the margin after it
            key(3400, k="c", code=54),  # the press is past the margin: kept
            key(3500, EventKind.KEY_UP, k="c", code=54),
        )
    ]
    assert [e.redacted for e in got] == [False, False, True, True, False, False]
    state2 = PrivacyState()
    guard2 = InputGuard(state2, hold_ns=0, margin_ns=0)
    state2.mark(PrivacyKind.KEYS_HIDDEN, True, 0)
    down = guard2.offer(key(10), now_ns=10 * MS)[0]
    state2.mark(PrivacyKind.KEYS_HIDDEN, False, 20 * MS)
    up = guard2.offer(key(900, EventKind.KEY_UP), now_ns=900 * MS)[0]  # released long after: still private
    assert down.redacted and up.redacted and guard2.redacted == 2
    assert state2.take_closed() == [fmt.PrivacySpan(0, 20 * MS, PrivacyKind.KEYS_HIDDEN)]
    assert state2.take_closed() == []


def test_nothing_is_kept_inside_a_deny_list_span_and_releases_follow_their_presses() -> None:
    state = PrivacyState()
    guard = InputGuard(state, hold_ns=0, margin_ns=100 * MS)
    state.mark(PrivacyKind.DENY_LIST, True, 1000 * MS)  # heard before the held press below is decided
    down = InputEvent(0, 950 * MS, EventKind.DOWN, x=5, y=5, button="left")
    assert guard.offer(down, now_ns=down.t_ns) == []  # within the margin before the span: left out
    inside = [key(1100), key(1150, EventKind.KEY_UP), InputEvent(0, 1200 * MS, EventKind.MOVE, x=1, y=1)]
    assert [guard.offer(e, now_ns=e.t_ns) for e in inside] == [[], [], []]
    state.mark(PrivacyKind.DENY_LIST, False, 2000 * MS)
    up = InputEvent(0, 3000 * MS, EventKind.UP, x=5, y=5, button="left")  # long after: its press was left out
    assert guard.offer(up, now_ns=up.t_ns) == []
    after = key(3100)
    assert guard.offer(after, now_ns=after.t_ns) == [after] and guard.dropped == 5 and guard.redacted == 0
    named = fmt.ElementRecord(1500 * MS, fmt.ElementKind.FOCUS, "text", "Entry: bank", (), "firefox", "gtk")
    assert guard.offer(named, now_ns=named.t_ns) == []  # an element of the denied window: never kept
    later = fmt.ElementRecord(3200 * MS, fmt.ElementKind.FOCUS, "text", "notes", (), "gedit", "gtk")
    assert guard.offer(later, now_ns=later.t_ns) == [later]


def test_drain_decides_with_what_is_known_and_open_spans_close_at_stop() -> None:
    state = PrivacyState()
    guard = InputGuard(state, hold_ns=10_000 * MS)
    guard.offer(key(5), now_ns=5 * MS)
    state.mark(PrivacyKind.KEYS_HIDDEN, True, 6 * MS)
    (out,) = guard.drain()
    assert out.redacted  # within the margin of a span still open
    state.close_all(50 * MS)
    assert state.take_closed() == [fmt.PrivacySpan(6 * MS, 50 * MS, PrivacyKind.KEYS_HIDDEN)]


# --- the validator: what slipped through is a finding ---------------------------------------------------------
def _privacy(bundle: Path) -> dict[str, Any]:
    return dict(json.loads((bundle / fmt.MANIFEST).read_text())["privacy"])


def test_sealed_sample_has_elements_and_a_privacy_section(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, truth = sample
    with trajrec.open(bundle) as b:
        assert len(b.elements()) == len(truth.elements) > 0
        click = next(e for e in truth.elements if e.kind == fmt.ElementKind.CLICK)
        assert b.element_at(click.t_ns, fmt.ElementKind.CLICK) == click
        focus = next(e for e in truth.elements if e.kind == fmt.ElementKind.FOCUS)
        assert b.element_at(focus.t_ns + 1) == focus and b.element_at(focus.t_ns - 1) != focus
    p = _privacy(bundle)
    assert p["accessibility"] == {"available": True} and p["redacted_keys"] == 0 and p["spans"] == []


def test_an_unredacted_key_inside_a_password_span_is_a_leak(bundle: Path) -> None:
    t = [e for e in trajrec.open(bundle).event_records() if e.kind == EventKind.KEY_DOWN][3].t_ns
    edit_manifest(
        bundle, lambda m: m["privacy"]["spans"].append({"start_ns": t - 10, "end_ns": t + 10, "kind": "password-field"})
    )
    assert codes(bundle) == {"privacy-leak"}


def test_a_redacted_row_that_keeps_its_key_is_a_leak_and_counts_must_agree(bundle: Path) -> None:
    def hide(rows: list[dict[str, Any]]) -> None:
        row = next(r for r in rows if r["kind"] == "key_down")
        row["redacted"] = True  # but key, char and scancode stay

    rewrite_table(bundle, fmt.EVENTS, hide)
    assert codes(bundle) == {"privacy-leak", "privacy-counts"}


def test_a_password_fields_name_in_elements_is_a_leak(bundle: Path) -> None:
    def name_it(rows: list[dict[str, Any]]) -> None:
        rows[0]["role"] = "password text"  # its name ("xterm input") stays

    rewrite_table(bundle, fmt.ELEMENTS, name_it)
    assert codes(bundle) == {"privacy-leak"}


def test_input_or_frames_inside_a_deny_list_gap_are_a_leak(bundle: Path) -> None:
    frames = trajrec.open(bundle).frame_times()
    a, b = int(frames[5]), int(frames[8])
    edit_manifest(bundle, lambda m: m["privacy"]["spans"].append({"start_ns": a, "end_ns": b, "kind": "deny-list"}))
    assert codes(bundle) == {"privacy-leak"}


# --- format 1.0 bundles, read and validated by this version ---------------------------------------------------
def as_format_1_0(bundle: Path) -> None:
    """What a 1.0 recorder wrote: no redacted column, no elements, no privacy section."""
    import pyarrow.parquet as pq

    table = pq.read_table(bundle / fmt.EVENTS)
    pq.write_table(table.drop_columns(["redacted"]), bundle / fmt.EVENTS)
    (bundle / fmt.ELEMENTS).unlink()

    def older(m: dict[str, Any]) -> None:
        m["format_version"] = "1.0"
        del m["privacy"]
        del m["streams"]["elements"]
        m["files"] = [f for f in m["files"] if f["path"] != fmt.ELEMENTS]

    edit_manifest(bundle, older)
    from tests.helpers.bundles import reseal

    reseal(bundle, fmt.EVENTS)


def test_a_format_1_0_bundle_reads_and_validates(bundle: Path) -> None:
    as_format_1_0(bundle)
    assert codes(bundle, deep=True) == set()
    with trajrec.open(bundle) as b:
        events = b.events()
        assert events.column("redacted").to_pylist() == [False] * len(events)
        assert len(b.elements()) == 0 and b.element_at(b.start_ns + 10**9) is None


@pytest.mark.slow
def test_the_previous_release_reads_a_1_1_bundle_as_a_newer_minor(bundle: Path, tmp_path: Path) -> None:
    """The lab package as it was before format 1.1 (from this repository's history) reads a 1.1 bundle as a newer
    minor: every table, the events with their extra column. Its validator knew only 1.0's files and reports the
    new one (context/elements.parquet) as unexpected, and nothing else: this version's validator tolerates
    files a later minor adds, so 1.2 will not meet the same."""
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%H", "-S", 'FORMAT_VERSION = "1.0"', "--", "trajrec/format.py"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not commit:
        pytest.fail("no commit with format 1.0 in this checkout's history: run the suite from a git clone")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", f"{commit}~1", "trajrec", "schemas"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    shutil.move(old / "schemas", old / "trajrec" / "schemas")
    script = (
        "import json, sys, trajrec\n"
        "r = trajrec.validate(sys.argv[1], deep=True)\n"
        "b = trajrec.open(sys.argv[1])\n"
        "print(json.dumps({'version': trajrec.FORMAT_VERSION, 'codes': sorted({f.code for f in r.findings}),\n"
        "  'unexpected': [f.path for f in r.findings if f.code == 'file-unexpected'],\n"
        "  'valid': r.valid, 'events': len(b.events()), 'newer': b.newer_minor}), flush=True)\n"
        "import os; os._exit(0)\n"  # that release could abort at exit after reading a table (fixed since)
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(bundle)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(old)},
        cwd=tmp_path,  # not the checkout: `-c` puts the working directory first on the path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)
    assert got["version"] == "1.0" and got["newer"] is True
    assert got["codes"] == ["file-unexpected", "format-newer"], got
    assert got["unexpected"] == [fmt.ELEMENTS]
    assert got["events"] == len(trajrec.open(bundle).events())


def test_this_validator_tolerates_a_file_a_later_minor_adds(bundle: Path) -> None:
    import hashlib

    later = f"{fmt.FORMAT_MAJOR}.{int(fmt.FORMAT_VERSION.split('.')[1]) + 1}"
    (bundle / "context" / "later.parquet").write_bytes(f"a table from {later}".encode())
    data = (bundle / "context" / "later.parquet").read_bytes()

    def newer(m: dict[str, Any]) -> None:
        m["format_version"] = later
        m["files"].append(
            {"path": "context/later.parquet", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )

    edit_manifest(bundle, newer)
    assert codes(bundle) == {"format-newer"}
    (bundle / "context" / "later.parquet").write_bytes(data[::-1])  # still held to its checksum
    assert codes(bundle) == {"format-newer", "file-sha256"}


# --- a whole session on the dummy platform: the guard runs before the first write ---------------------------------
def test_a_session_redacts_password_field_keys_and_hidden_keys_before_writing(tmp_path: Path) -> None:
    from recorder.capture.base import ScreenFrame
    from recorder.capture.elements import ElementSource
    from recorder.capture.screen import Region
    from recorder.platform import DummyAccessibilityBackend, ElementInfo
    from recorder.session import Session, SessionConfig

    field = ElementInfo("text", "User", ("focused", "editable"), "login", "gtk", (0, 0, 100, 20))
    secret_field = ElementInfo("password text", "Password", ("focused", "editable"), "login", "gtk", (0, 30, 100, 20))
    button = ElementInfo("push button", "Sign in", ("enabled",), "login", "gtk", (0, 60, 100, 20))
    backends: list[DummyAccessibilityBackend] = []

    def factory(clock: Any, on_focus: Any) -> DummyAccessibilityBackend:
        backends.append(DummyAccessibilityBackend(clock, on_focus, at=lambda x, y: button if y >= 60 else field))
        return backends[0]

    def sources(session: Session) -> list[Any]:
        return [ElementSource(session.clock.now_ns, session.offer_record, session.privacy, backend=factory)]

    config = SessionConfig(
        out_dir=tmp_path,
        region=Region(0, 0, 64, 48),
        audio=False,
        task={"id": "t", "title": "login", "instruction": "", "expert": "e", "consent": True},
        environment={
            "os": "x", "arch": "x", "locale": "", "keyboard_layout": "", "coordinate_space": fmt.COORDINATE_SPACE,
            "displays": [{"id": 0, "origin": [0, 0], "size_px": [640, 480], "scale": 1.0, "primary": True}],
        },
    )  # fmt: skip
    session = Session(config, sources=sources)
    session.start()
    (backend,) = backends
    now = session.clock.now_ns
    frame = np.full((48, 64, 4), 90, np.uint8)
    session.offer_frame(ScreenFrame(now(), frame, 0))
    time.sleep(0.1)
    backend.focus(field)
    typed_into(session, "alice", now())
    time.sleep(0.5)  # beyond the guard's margin: the user name stays
    t_typed = now()
    backend.focus(secret_field)  # heard 50 ms after the first key went into it
    typed_into(session, "hunter2", t_typed - 50 * MS)
    backend.focus(field)
    down = InputEvent(0, now(), EventKind.DOWN, x=10, y=70, button="left")
    session.offer_record(down)
    source = session.sources[0]
    source.pressed(down)
    session.hide_keys(True)
    assert session.keys_hidden
    typed_into(session, "s3cret", now())
    session.hide_keys(False)
    time.sleep(0.5)
    typed_into(session, "bob", now())  # after both spans and their margins: kept
    session.offer_frame(ScreenFrame(now(), frame, 0))
    bundle = session.stop()

    with trajrec.open(bundle) as b:
        events = b.event_records()
        elements = b.element_records()
    keys = [e for e in events if e.kind in fmt.KEY_KINDS]
    assert "".join(e.char or "" for e in keys if e.kind == EventKind.KEY_DOWN) == "alicebob"
    assert sum(e.redacted for e in keys) == 2 * len("hunter2" + "s3cret")
    assert all(e.key is None and e.char is None and e.scancode is None for e in keys if e.redacted)
    blob = every_byte(bundle)
    for secret in (b"hunter2", b"s3cret", b"Password"):
        assert secret not in blob
    assert [(e.kind, e.role, e.name) for e in elements] == [
        ("focus", "text", "User"),
        ("focus", "password text", ""),  # its name is never kept
        ("focus", "text", "User"),
        ("click", "push button", "Sign in"),
    ]
    m = json.loads((bundle / fmt.MANIFEST).read_text())
    assert m["privacy"]["redacted_keys"] == 26 and m["privacy"]["accessibility"] == {"available": True}
    assert [s["kind"] for s in m["privacy"]["spans"]] == ["password-field", "keys-hidden"]
    assert codes(bundle) == set(), (m.get("notes"), validate(bundle).findings)
    # edits keep the promises: a trim clips the spans, the raw log is rewritten with them, the bundle validates
    from recorder.sealing.edit import edit_bundle

    hidden = m["privacy"]["spans"][1]
    trimmed = edit_bundle(bundle, end_ns=hidden["start_ns"] + 1, out=tmp_path / "trimmed" / bundle.name)
    tm = json.loads((trimmed / fmt.MANIFEST).read_text())
    assert tm["privacy"]["spans"][1] == {**hidden, "end_ns": tm["clock"]["end_ns"]}
    assert tm["privacy"]["redacted_keys"] == sum(e.redacted for e in trajrec.open(trimmed).event_records())
    assert codes(trimmed) == set()
    assert b"hunter2" not in every_byte(trimmed)
