"""Typed secrets: the typed text rebuilt from key events (backspaces applied, stretches cut by clicks, focus
changes and cursor keys) and the detectors run over it (detect-secrets' plugins, card numbers by Luhn, a lab's
patterns); each finding names exactly the key events that typed it (pure logic on scripted events); sealing
redacts them in every file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import trajrec
from recorder.cli import main
from tests.helpers.bundles import every_byte, typed_into
from trajrec import format as fmt
from trajrec.format import EventKind, InputEvent
from trajrec.secrets import detect, find_typed_secrets, luhn, stretches
from trajrec.validation import validate_bundle

MS = 1_000_000
KEYCODES = {c: 10 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =_-'")}


class Typist:
    """Key events as a person types: a press and a release per key, 30 ms apart."""

    def __init__(self) -> None:
        self.events: list[InputEvent] = []
        self.t = 0

    def _add(self, kind: EventKind, **kw: object) -> None:
        self.t += 30 * MS
        self.events.append(InputEvent(seq=len(self.events), t_ns=self.t, kind=kind, **kw))  # type: ignore[arg-type]

    def key(self, key: str, char: str | None, code: int, modifiers: tuple[str, ...] = ()) -> None:
        self._add(EventKind.KEY_DOWN, key=key, char=char, scancode=code, modifiers=modifiers)
        self._add(EventKind.KEY_UP, key=key, char=char, scancode=code, modifiers=modifiers)

    def type(self, text: str) -> None:
        for c in text:
            self.key(c, c, KEYCODES.get(c, 99))

    def special(self, name: str, code: int) -> None:
        self.key(name, None, code)

    def click(self) -> None:
        self._add(EventKind.DOWN, x=1, y=1, button="left")
        self._add(EventKind.UP, x=1, y=1, button="left")


AWS = "AKIAIOSFODNN7EXAMPLE"


def test_backspaces_are_applied_and_clicks_cut_stretches() -> None:
    t = Typist()
    t.type("helo")
    t.special("backspace", 22)
    t.type("lo")
    t.special("enter", 36)
    t.click()
    t.type("bye")
    found = stretches(t.events)
    assert [s.text for s in found] == ["hello\n", "bye"]
    assert all(len(s.text) == len(s.chars) for s in found)


def test_focus_changes_and_cursor_keys_cut_stretches_and_shortcuts_type_nothing() -> None:
    t = Typist()
    t.type("ab")
    boundary = t.t + 1
    t.type("cd")
    t.special("left", 113)
    t.type("ef")
    t.key("c", "\x03", 54, ("ctrl",))  # ctrl+c
    t.type("gh")
    assert [s.text for s in stretches(t.events, [boundary])] == ["ab", "cd", "ef", "gh"]


def test_a_cloud_key_typed_with_a_correction_is_found_with_every_key_event_that_typed_it() -> None:
    t = Typist()
    t.type("export KEY=")
    start = len(t.events)
    t.type(AWS[:10] + "X")
    t.special("backspace", 22)
    t.type(AWS[10:])
    end = len(t.events)
    t.type(" ok")
    (secret,) = find_typed_secrets(t.events)
    assert secret.kind == "AWS Access Key"
    assert secret.events == tuple(range(start, end))  # the wrong X and its backspace too, presses and releases
    assert (secret.start_ns, secret.end_ns) == (t.events[start].t_ns, t.events[end - 1].t_ns)
    assert AWS not in repr(secret)  # a finding never holds the secret


def test_card_numbers_need_the_luhn_check_and_lab_patterns_are_added() -> None:
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    kinds = [k for k, _a, _b in detect("card 4111 1111 1111 1111 and 4111 1111 1111 1112")]
    assert kinds.count("Payment card number") == 1
    t = Typist()
    t.type("patient MRN-123456 seen")
    (secret,) = find_typed_secrets(t.events, patterns=[r"MRN-\d{6}"])
    assert secret.kind == "Lab pattern 1"
    typed = "".join(t.events[i].char or "" for i in secret.events if t.events[i].kind == EventKind.KEY_DOWN)
    assert typed == "MRN-123456"


def test_sentences_and_long_words_are_not_secrets() -> None:
    t = Typist()
    t.type("the quick brown fox jumps over the lazy dog and Thequickbrownfoxjumpsoverthelazydog")
    assert find_typed_secrets(t.events) == []


def test_redacted_keys_are_skipped() -> None:
    t = Typist()
    t.type("ab")
    t.events.append(InputEvent(seq=99, t_ns=t.t + 1, kind=EventKind.KEY_DOWN, redacted=True))
    t.t += 2
    t.type("cd")
    assert [s.text for s in stretches(t.events)] == ["abcd"]


# --- at seal: a session on the dummy platform, sealed by the real sealer ----------------------------------------
AWS_KEY = "AKIAZ3MHT5QW7XJ2KLPB"
CARD = "4111 1111 1111 1111"


def _session_typing(tmp_path: Path, lines: list[str], patterns: list[str]) -> Path:
    from recorder.capture.base import ScreenFrame
    from recorder.capture.screen import Region
    from recorder.session import Session, SessionConfig

    task = {"id": "t", "title": "keys", "instruction": "", "expert": "e", "consent": True}
    if patterns:
        task["secret_patterns"] = patterns
    config = SessionConfig(
        out_dir=tmp_path,
        region=Region(0, 0, 64, 48),
        audio=False,
        task=task,
        environment={
            "os": "x", "arch": "x", "locale": "", "keyboard_layout": "", "coordinate_space": fmt.COORDINATE_SPACE,
            "displays": [{"id": 0, "origin": [0, 0], "size_px": [640, 480], "scale": 1.0, "primary": True}],
        },
    )  # fmt: skip
    session = Session(config, sources=lambda s: [])
    session.start()
    now = session.clock.now_ns
    frame = np.full((48, 64, 4), 90, np.uint8)
    session.offer_frame(ScreenFrame(now(), frame, 0))
    for line in lines:
        time.sleep(0.002 * len(line) + 0.05)  # the line is stamped back from now: after the last one
        typed_into(session, line + "\n", now())
    time.sleep(0.3)
    session.offer_frame(ScreenFrame(now(), frame, 0))
    return session.stop()


def test_sealing_redacts_typed_secrets_everywhere_and_keeps_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentence = "the quick brown fox jumps over the lazy dog"
    lines = [f"export AWS_ACCESS_KEY_ID={AWS_KEY}", f"card {CARD} ok", sentence, "ticket MRN-204817 closed"]
    bundle = _session_typing(tmp_path, lines, [r"MRN-\d{6}"])

    with trajrec.open(bundle) as b:
        events = b.event_records()
        privacy = b.manifest["privacy"]
    kept = "".join(e.char or "" for e in events if e.kind == EventKind.KEY_DOWN)
    assert sentence in kept and "export AWS_ACCESS_KEY_ID=" in kept and "ticket " in kept
    for secret in (AWS_KEY, CARD, "MRN-204817", "4111", "AKIA"):
        assert secret not in kept
    spans = [s for s in privacy["spans"] if s["kind"] == "typed-secret"]
    assert [s["detector"] for s in spans] == ["AWS Access Key", "Payment card number", "Lab pattern 1"]
    redacted = [e for e in events if e.redacted]
    assert len(redacted) == privacy["redacted_keys"] == 2 * len(AWS_KEY + CARD + "MRN-204817")
    assert sum(s["keys"] for s in spans) == len(redacted)
    for s in spans:  # every key inside a span is redacted, and every redacted key is inside one
        inside = [e for e in events if s["start_ns"] <= e.t_ns <= s["end_ns"]]
        assert inside and all(e.redacted for e in inside)
    assert all(any(s["start_ns"] <= e.t_ns <= s["end_ns"] for s in spans) for e in redacted)
    blob = every_byte(bundle)
    for secret in (AWS_KEY, "4111 1111", "MRN-204817"):
        assert secret.encode() not in blob
        assert json.dumps(secret).encode() not in blob
    assert b'"char": "q"' in blob  # the sentence's keys survive in the raw log
    report = validate_bundle(str(bundle))
    assert not [f for f in report.findings if f.severity == "error"], report.findings
    assert main(["info", str(bundle)]) == 0
    assert "secrets   3 typed, redacted at seal (AWS Access Key, Lab pattern 1, Payment card number)" in (
        capsys.readouterr().out
    )


def test_a_pattern_that_does_not_compile_is_noted_and_the_rest_still_applies(tmp_path: Path) -> None:
    bundle = _session_typing(tmp_path, [f"key={AWS_KEY}"], ["(unclosed"])
    with trajrec.open(bundle) as b:
        assert b.manifest["privacy"]["redacted_keys"] == 2 * len(AWS_KEY)
        assert any("secret pattern 1 is not a valid regular expression" in n for n in b.manifest["notes"])


def test_a_detector_that_reports_part_of_a_token_still_covers_all_of_it() -> None:
    token = "ghp_" + "Zq7" * 12  # GitHub's personal token shape: detect-secrets 1.5 reports only "ghp"
    text = f"export GH_TOKEN={token} # set"
    hits = [(kind, text[a:b]) for kind, a, b in detect(text)]
    assert ("GitHub Token", token) in hits
    t = Typist()
    t.type(text)
    (secret,) = find_typed_secrets(t.events)
    typed = [e.char for e in t.events if e.kind == EventKind.KEY_DOWN]
    presses = [i for i in secret.events if t.events[i].kind == EventKind.KEY_DOWN]
    assert "".join(typed[i // 2] or "" for i in presses) == token  # every key of it, and no other
